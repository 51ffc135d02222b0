"""Committed histories must replay on today's workflow code: the guard for running executions."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, WorkflowReplayResult

from cobranza.worker import workflow_runner
from cobranza.workflows.contact_gate import ContactGateWorkflow
from cobranza.workflows.invoice import InvoiceCollectionWorkflow
from cobranza.workflows.subscription import RecurringBillingWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
# Workflow type (as recorded in a history) -> the class that must replay it. A history of a type
# missing here fails its test: a new long-lived workflow gets its class added with its histories.
WORKFLOWS: dict[str, type] = {
    "InvoiceCollectionWorkflow": InvoiceCollectionWorkflow,
    "RecurringBillingWorkflow": RecurringBillingWorkflow,
    "ContactGateWorkflow": ContactGateWorkflow,
}
# Which recorder writes histories of each type, by file-name prefix (others: record_histories.py,
# record_autopay_histories.py, record_autopay_redelivered.py).
PREFIXES = {"subscription-": "RecurringBillingWorkflow", "contact-gate-": "ContactGateWorkflow"}


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())


def workflow_type(history: WorkflowHistory) -> str:
    started = history.events[0].workflow_execution_started_event_attributes
    return started.workflow_type.name


async def replay(history: WorkflowHistory, workflows: list[type]) -> WorkflowReplayResult:
    replayer = Replayer(
        workflows=workflows,
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    return await replayer.replay_workflow(history, raise_on_replay_failure=False)


def test_there_are_histories_to_replay() -> None:
    assert HISTORIES, "record some with tests/replay/record_histories.py"
    recorded = {workflow_type(load(path)) for path in HISTORIES}
    assert recorded == set(WORKFLOWS), "every long-lived workflow has histories, and only those"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays_without_nondeterminism(path: Path) -> None:
    history = load(path)
    name = workflow_type(history)
    assert name in WORKFLOWS, f"{path.name}: no workflow class registered for type {name}"
    for prefix, expected in PREFIXES.items():
        if path.name.startswith(prefix):
            assert name == expected, f"{path.name} is named for {expected} but holds {name}"
    # Only the history's own class: a history never passes by replaying as another workflow.
    result = await replay(history, [WORKFLOWS[name]])
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_a_history_of_an_unregistered_type_fails() -> None:
    """The Replayer itself reports a type it does not know as a failure, never as a pass."""
    gate = next(p for p in HISTORIES if p.name.startswith("contact-gate-"))
    result = await replay(load(gate), [InvoiceCollectionWorkflow])
    assert result.replay_failure is not None
    assert "ContactGateWorkflow is not registered" in str(result.replay_failure)
