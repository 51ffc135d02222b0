"""Writes a workflow's history where the replay tests read it, for the recorder scripts."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import Client, WorkflowHistory

HISTORIES = Path(__file__).resolve().parent / "histories"


def write_history(history: WorkflowHistory, name: str) -> Path:
    """The history as `histories/<name>.json`, indented as the committed ones are."""
    target = HISTORIES / f"{name}.json"
    target.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    print(f"wrote {target.relative_to(HISTORIES.parents[2])} ({len(history.events)} events)")
    return target


async def save_history(client: Client, workflow_id: str, name: str) -> Path:
    """Fetch the workflow's history (its latest run) and write it as `histories/<name>.json`."""
    return write_history(await client.get_workflow_handle(workflow_id).fetch_history(), name)
