"""Exactly-once charging: a worker killed after the gateway charged, before recording, charges once.

The charge activity runs in a worker process of its own (`cobranza worker`). The sandbox charges
and then holds its HTTP answer, so the activity is stuck after the charge and before the record;
the test kills that process with SIGKILL. A second worker process takes the retried activity: same
idempotency key, so the gateway replays its first answer and no second charge is made.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from cobranza.activities import names
from cobranza.domain.charges import ChargeOutcome, ChargeRequest, ChargeStatus
from cobranza.integrations.sandbox.gateway import gateway_book
from cobranza.starter.stack import local_stack
from cobranza.starter.worker_process import worker_process
from cobranza.store.charges import charge_attempts

from .charge_requests import charge_request

ACTIVITY_QUEUE = "charges-killed"
WORKFLOW_QUEUE = "charges-killed-workflows"
DEADLINE_S = 60.0


@workflow.defn(sandboxed=False)
class ChargeOnceWorkflow:
    """The smallest caller of the charge activity: one attempt, retried on a worker's death."""

    @workflow.run
    async def run(self, request: ChargeRequest) -> ChargeOutcome:
        return await workflow.execute_activity(
            names.CHARGE_INVOICE,
            request,
            result_type=ChargeOutcome,
            task_queue=ACTIVITY_QUEUE,
            # Short, so the dead worker's attempt times out quickly; a live charge takes ms.
            start_to_close_timeout=timedelta(seconds=3),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
async def test_worker_killed_between_charge_and_record_charges_once(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'store.db'}"
    request = charge_request("pm_card_visa", invoice_id="KILL-1", attempt=1)
    async with local_stack(
        temporal_db=None,
        database_url=database_url,
        serve=False,
        time_skipping=False,
        fast_timers=True,
    ) as stack:
        book = gateway_book(stack.sandbox.state)
        book.hold(1, seconds=DEADLINE_S)  # the first charge's answer waits for `release`
        client = stack.env.client
        async with Worker(
            client,
            task_queue=WORKFLOW_QUEUE,
            workflows=[ChargeOnceWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            handle = await client.start_workflow(
                ChargeOnceWorkflow.run,
                request,
                id=f"charge-once-{request.invoice_id}",
                task_queue=WORKFLOW_QUEUE,
            )
            try:
                with worker_process(
                    stack, database_url, tmp_path / "worker-1.log", ACTIVITY_QUEUE
                ) as first:
                    # The gateway charged; the worker is waiting for the answer: kill it now.
                    await asyncio.to_thread(book.wait_for_charges, 1, DEADLINE_S)
                    os.kill(first.pid, signal.SIGKILL)
                    first.wait(timeout=30)
                assert charge_attempts(stack.store) == [], "the killed worker recorded nothing"
                book.release()
                with worker_process(stack, database_url, tmp_path / "worker-2.log", ACTIVITY_QUEUE):
                    outcome = await asyncio.wait_for(handle.result(), DEADLINE_S)
            finally:
                book.release()
            attempts = [
                e.activity_task_started_event_attributes.attempt
                async for e in handle.fetch_history_events()
                if e.HasField("activity_task_started_event_attributes")
            ]

    charges = book.charges(request.idempotency_key)
    assert len(charges) == 1, charges
    assert outcome.status is ChargeStatus.SUCCEEDED
    assert outcome.payment_id == charges[0].payment_intent
    assert attempts[-1] >= 2, "the activity was not retried after the kill"
    (row,) = charge_attempts(stack.store)
    assert (row.idempotency_key, row.payment_id) == (request.idempotency_key, outcome.payment_id)
