"""Records an autopay invoice whose amount no card can be charged exactly, for the replay tests.

    .venv/bin/python tests/replay/record_autopay_inexact.py

12.345 KWD on a card that would succeed: gateways charge three-decimal currencies in tens of
fils, so autopay stops at the due instant with its reason (the `autopay-inexact-amount` patch)
and the reminders go on. The history guards that patch and the dunning that follows it.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date, time, timedelta
from pathlib import Path

from history_files import save_history  # beside this script
from record_autopay_histories import invoice  # the same invoice, beside this script

from cobranza.domain.autopay import AutopaySetup
from cobranza.domain.charges import PaymentMethod
from cobranza.domain.declines import CardNetwork
from cobranza.domain.declines_file import load_retry_rules
from cobranza.domain.invoice import local_instant
from cobranza.starter.cli import DEFAULT_POLICY, read_policy
from cobranza.starter.simulate import Simulator
from cobranza.starter.simulation_input import SimulationInput
from cobranza.starter.stack import local_stack

HERE = Path(__file__).resolve().parent
KUWAIT = "Asia/Kuwait"
CARD = PaymentMethod(method_id="pm_card_visa", fingerprint="fp-ok", network=CardNetwork.VISA)


async def main() -> None:
    rules = load_retry_rules()
    sim = SimulationInput(
        name="autopay-inexact",
        invoices=[invoice("AP-KWD-INEXACT", "12.345", "KWD", country="KW", zone=KUWAIT)],
        events=[],
        until=local_instant(date(2026, 4, 10), time(12), KUWAIT) + timedelta(days=25),
    )
    with tempfile.TemporaryDirectory() as tmp:
        async with local_stack(temporal_db=None, database_url=f"sqlite:///{tmp}/store.db") as stack:
            simulator = Simulator(
                stack.env,
                stack.task_queue,
                read_policy(DEFAULT_POLICY),
                autopay=lambda inv: AutopaySetup(method=CARD, rules=rules),
            )
            run = await simulator.run(sim)
            for inv_run in run.invoices:
                issued = inv_run.invoice
                await save_history(
                    stack.env.client, issued.workflow_id, f"autopay-{issued.invoice_id}"
                )
                events = [e.details.get("event") for e in inv_run.timeline]
                print(
                    f"  {issued.invoice_id}: {inv_run.view.status}, "
                    f"{events.count('charge_refused')} charge refused"
                )


if __name__ == "__main__":
    asyncio.run(main())
