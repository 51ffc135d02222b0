"""Records workflow histories of chosen scenarios for the replay tests (run by hand, then commit).

    .venv/bin/python tests/replay/record_histories.py [SCENARIO ...]   # default: every one

Re-record only on purpose: a committed history is what running lifecycles look like, and the
replay test exists to prove that new code still replays it (use workflow.patched() otherwise).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from history_files import save_history  # beside this script

from cobranza.starter.cli import DEFAULT_POLICY, read_policy
from cobranza.starter.scenario import load_scenario
from cobranza.starter.simulate import Simulator
from cobranza.starter.stack import local_stack

HERE = Path(__file__).resolve().parent
# Scenario, and whether its messages go through the customer's contact gate.
SCENARIOS = [
    ("L-03", False),
    ("L-08", False),
    ("L-09-against", False),
    ("L-09-credit", False),
    ("C-consolidation", True),
]
# Part of each file name: histories recorded by older code stay and keep being replayed.
TAG = "credit-note"


async def main(chosen: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with local_stack(temporal_db=None, database_url=f"sqlite:///{tmp}/store.db") as stack:
            for name, gated in SCENARIOS:
                if chosen and name not in chosen:
                    continue
                sim = load_scenario(HERE.parent / "scenarios" / f"{name}.yaml")
                assert not sim.errors, sim.errors
                policy = sim.policy or read_policy(DEFAULT_POLICY)
                simulator = Simulator(stack.env, stack.task_queue, policy, contact_gate=gated)
                run = await simulator.run(sim)
                for inv_run in run.invoices:
                    issued = inv_run.invoice
                    await save_history(
                        stack.env.client, issued.workflow_id, f"{name}-{issued.invoice_id}-{TAG}"
                    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
