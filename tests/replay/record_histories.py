"""Records workflow histories of chosen scenarios for the replay tests (run by hand, then commit).

    .venv/bin/python tests/replay/record_histories.py

Re-record only on purpose: a committed history is what running lifecycles look like, and the
replay test exists to prove that new code still replays it (use workflow.patched() otherwise).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from cobranza.starter.cli import DEFAULT_POLICY, read_policy
from cobranza.starter.scenario import load_scenario
from cobranza.starter.simulate import Simulator
from cobranza.starter.stack import local_stack

HERE = Path(__file__).resolve().parent
# Scenario, and whether its messages go through the customer's contact gate.
SCENARIOS = [("L-03", False), ("L-08", False), ("L-09-against", False), ("C-consolidation", True)]
# Part of each file name: histories recorded by older code stay and keep being replayed.
TAG = "gate"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with local_stack(temporal_db=None, database_url=f"sqlite:///{tmp}/store.db") as stack:
            for name, gated in SCENARIOS:
                sim = load_scenario(HERE.parent / "scenarios" / f"{name}.yaml")
                assert not sim.errors, sim.errors
                policy = sim.policy or read_policy(DEFAULT_POLICY)
                simulator = Simulator(stack.env, stack.task_queue, policy, contact_gate=gated)
                run = await simulator.run(sim)
                for inv_run in run.invoices:
                    handle = stack.env.client.get_workflow_handle(inv_run.invoice.workflow_id)
                    history = await handle.fetch_history()
                    target = HERE / "histories" / f"{name}-{inv_run.invoice.invoice_id}-{TAG}.json"
                    target.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
                    print(f"wrote {target.relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    asyncio.run(main())
