"""Records autopay invoices that get a payment_method_added again, for the replay tests.

    .venv/bin/python tests/replay/record_autopay_redelivered.py TAG

Two invoices with no method on file and sandbox cards that soft-decline every charge:
AP-TWICE gets card A, then the same event again (a redelivered webhook); AP-ABA gets card A,
then card B, then A's event again. Written as `autopay-<invoice>-<TAG>.json`. Tag `490da27`
was recorded in a clone at that commit, from before the `autopay-method-dedupe` patch, where
every delivery charged at once: invoices already running must replay the charge they made.
Tag `dedupe` was recorded with the patch (the redelivery changes nothing, a marker says so).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import date, datetime, time
from pathlib import Path

from history_files import save_history  # beside this script
from record_autopay_histories import ZONE, invoice  # the same invoice, beside this script

from cobranza.domain.autopay import AutopaySetup
from cobranza.domain.charges import PaymentMethod, PaymentMethodAdded
from cobranza.domain.declines import CardNetwork
from cobranza.domain.declines_file import load_retry_rules
from cobranza.domain.invoice import local_instant
from cobranza.starter.cli import DEFAULT_POLICY, read_policy
from cobranza.starter.simulate import Simulator
from cobranza.starter.simulation_input import EventKind, ScheduledEvent, SimulationInput
from cobranza.starter.stack import local_stack

HERE = Path(__file__).resolve().parent
CARD_A = PaymentMethod(
    method_id="pm_decline_visa_51", fingerprint="fp-51", network=CardNetwork.VISA
)
CARD_B = PaymentMethod(
    method_id="pm_decline_insufficient_funds", fingerprint="fp-if", network=CardNetwork.VISA
)


def at(day: int, hour: int) -> datetime:
    return local_instant(date(2026, 4, day), time(hour), ZONE)


def added(invoice_id: str, when: datetime, event: PaymentMethodAdded) -> ScheduledEvent:
    return ScheduledEvent(
        at=when,
        invoice_id=invoice_id,
        kind=EventKind.METHOD_ADDED,
        payload=event,
        source="record_autopay_redelivered",
    )


async def main(tag: str) -> None:
    rules = load_retry_rules()
    a = PaymentMethodAdded(method=CARD_A, added_at=at(9, 12))
    b = PaymentMethodAdded(method=CARD_B, added_at=at(10, 12))
    events = [
        added("AP-TWICE", at(9, 12), a),
        added("AP-TWICE", at(10, 12), a),
        added("AP-ABA", at(9, 12), a),
        added("AP-ABA", at(10, 12), b),
        added("AP-ABA", at(10, 14), a),
    ]
    sim = SimulationInput(
        name="autopay-redelivered",
        invoices=[invoice("AP-TWICE"), invoice("AP-ABA")],
        events=events,
        until=at(12, 0),
    )
    with tempfile.TemporaryDirectory() as tmp:
        async with local_stack(temporal_db=None, database_url=f"sqlite:///{tmp}/store.db") as stack:
            simulator = Simulator(
                stack.env,
                stack.task_queue,
                read_policy(DEFAULT_POLICY),
                autopay=lambda inv: AutopaySetup(method=None, rules=rules),
            )
            run = await simulator.run(sim)
            for inv_run in run.invoices:
                issued = inv_run.invoice
                await save_history(
                    stack.env.client, issued.workflow_id, f"autopay-{issued.invoice_id}-{tag}"
                )
                charges = [e for e in inv_run.timeline if "attempt" in e.details]
                print(f"  {issued.invoice_id}: {len(charges)} charges")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
