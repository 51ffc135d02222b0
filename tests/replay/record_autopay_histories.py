"""Records autopay lifecycles for the replay tests (run by hand, then commit the histories).

    .venv/bin/python tests/replay/record_autopay_histories.py

Three invoices on autopay through the real charge activity and the sandbox gateway: soft Visa
51 declines retried on schedule, a Visa 46 hard decline with the new-method message, and no
method on file until one is added. Their histories guard the `autopay` patch and what follows.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date, time, timedelta
from pathlib import Path

from history_files import save_history  # beside this script

from cobranza.domain.autopay import AutopaySetup
from cobranza.domain.charges import PaymentMethod, PaymentMethodAdded
from cobranza.domain.declines import CardNetwork
from cobranza.domain.declines_file import load_retry_rules
from cobranza.domain.invoice import Customer, Invoice, local_instant
from cobranza.domain.money import Money
from cobranza.starter.cli import DEFAULT_POLICY, read_policy
from cobranza.starter.simulate import Simulator
from cobranza.starter.simulation_input import EventKind, ScheduledEvent, SimulationInput
from cobranza.starter.stack import local_stack

HERE = Path(__file__).resolve().parent
ZONE = "America/Mexico_City"
METHODS = {
    "AP-51": PaymentMethod(
        method_id="pm_decline_visa_51", fingerprint="fp-51", network=CardNetwork.VISA
    ),
    "AP-46": PaymentMethod(
        method_id="pm_decline_visa_46", fingerprint="fp-46", network=CardNetwork.VISA
    ),
    "AP-NONE": None,
}
NEW_CARD = PaymentMethod(method_id="pm_card_visa", fingerprint="fp-ok", network=CardNetwork.VISA)


def invoice(
    invoice_id: str,
    amount: str = "1000.00",
    currency: str = "MXN",
    country: str = "MX",
    zone: str = ZONE,
) -> Invoice:
    customer = Customer(
        tenant="replay",
        customer_id=f"C-{invoice_id}",
        email=f"{invoice_id.lower()}@customers.example.com",
        country=country,
        timezone=zone,
        locale="es_MX",
    )
    return Invoice(
        invoice_id=invoice_id,
        customer=customer,
        amount=Money.parse(amount, currency),
        issued_on=date(2026, 3, 11),
        due_on=date(2026, 4, 10),
    )


async def main() -> None:
    rules = load_retry_rules()
    added = local_instant(date(2026, 4, 12), time(12), ZONE)
    event = ScheduledEvent(
        at=added,
        invoice_id="AP-NONE",
        kind=EventKind.METHOD_ADDED,
        payload=PaymentMethodAdded(method=NEW_CARD, added_at=added),
        source="record_autopay_histories",
    )
    sim = SimulationInput(
        name="autopay",
        invoices=[invoice(i) for i in METHODS],
        events=[event],
        until=added + timedelta(days=10),
    )
    with tempfile.TemporaryDirectory() as tmp:
        async with local_stack(temporal_db=None, database_url=f"sqlite:///{tmp}/store.db") as stack:
            simulator = Simulator(
                stack.env,
                stack.task_queue,
                read_policy(DEFAULT_POLICY),
                autopay=lambda inv: AutopaySetup(method=METHODS[inv.invoice_id], rules=rules),
            )
            run = await simulator.run(sim)
            for inv_run in run.invoices:
                issued = inv_run.invoice
                await save_history(
                    stack.env.client, issued.workflow_id, f"autopay-{issued.invoice_id}"
                )
                print(f"  {issued.invoice_id}: {inv_run.view.status}")


if __name__ == "__main__":
    asyncio.run(main())
