"""Autopay through the real charge activity and the sandbox gateway over HTTP (C-06, L-05).

The same lifecycle as test_autopay_cases, with nothing scripted: test payment methods of the
sandbox decline with Visa codes or stay `processing`, and the sandbox's own ledger of charges
shows each attempt reached the gateway once, under the workflow's idempotency key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from cobranza.domain.autopay import AutopaySetup
from cobranza.domain.charges import PaymentMethod
from cobranza.domain.declines import CardNetwork
from cobranza.domain.declines_file import load_retry_rules
from cobranza.domain.invoice import Customer, Invoice, InvoiceStatus, TimelineKind
from cobranza.domain.money import Money
from cobranza.integrations.sandbox.gateway_book import gateway_book
from cobranza.starter.cli import read_policy
from cobranza.starter.simulate import InvoiceRun, Simulator
from cobranza.starter.simulation_input import SimulationInput
from cobranza.starter.stack import Stack, local_stack
from cobranza.store.reports import build_report

STANDARD = Path(__file__).resolve().parents[2] / "cobranza" / "policies" / "standard.yaml"
MEXICO = ZoneInfo("America/Mexico_City")
METHODS = {
    "INV-SBX-51": PaymentMethod(
        method_id="pm_decline_visa_51", fingerprint="fp-51", network=CardNetwork.VISA
    ),
    "INV-SBX-46": PaymentMethod(
        method_id="pm_decline_visa_46", fingerprint="fp-46", network=CardNetwork.VISA
    ),
    "INV-SBX-PROC": PaymentMethod(
        method_id="pm_processing", fingerprint="fp-debit", kind="us_bank_account"
    ),
    "INV-SBX-OK": PaymentMethod(
        method_id="pm_card_visa", fingerprint="fp-ok", network=CardNetwork.VISA
    ),
}
METHODS["INV-RPT-OK"] = METHODS["INV-SBX-OK"]
METHODS["INV-RPT-46"] = METHODS["INV-SBX-46"]


@pytest_asyncio.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    db = tmp_path_factory.mktemp("autopay-sandbox") / "store.db"
    async with local_stack(
        temporal_db=None,
        database_url=f"sqlite:///{db}",
        task_queue="autopay-sandbox",
        fast_timers=True,
    ) as started:
        yield started


def setup_of(invoice: Invoice) -> AutopaySetup | None:
    return AutopaySetup(method=METHODS[invoice.invoice_id], rules=load_retry_rules())


def invoice(invoice_id: str, tenant: str = "sbx") -> Invoice:
    customer = Customer(
        tenant=tenant,
        customer_id=f"C-{invoice_id}",
        email=f"{invoice_id.lower()}@customers.example.com",
        country="MX",
        timezone="America/Mexico_City",
        locale="es_MX",
    )
    return Invoice(
        invoice_id=invoice_id,
        customer=customer,
        amount=Money.parse("1000.00", "MXN"),
        issued_on=date(2026, 3, 11),
        due_on=date(2026, 4, 10),
    )


async def run(stack: Stack, invoice_id: str, until: datetime, tenant: str = "sbx") -> InvoiceRun:
    sim = Simulator(stack.env, stack.task_queue, read_policy(STANDARD), autopay=setup_of)
    result = await sim.run(
        SimulationInput(name=invoice_id, invoices=[invoice(invoice_id, tenant)], until=until)
    )
    (out,) = result.invoices
    return out


def local(day: str, hour: int) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), MEXICO).replace(hour=hour)


def attempts(out: InvoiceRun) -> list[int]:
    return [
        e.details["attempt"]
        for e in out.timeline
        if e.kind is TimelineKind.CHARGE_ATTEMPT and "attempt" in e.details
    ]


async def test_soft_declines_reach_the_gateway_once_per_attempt(stack: Stack) -> None:
    out = await run(stack, "INV-SBX-51", local("2026-04-20", 0))
    wf = out.invoice.workflow_id
    # Due instant, +24 h, the payday on the 15th, +48 h: four charges by the 20th.
    assert attempts(out) == [1, 2, 3, 4]
    charges = [
        c for c in gateway_book(stack.sandbox.state).charges() if c.customer == "C-INV-SBX-51"
    ]
    assert sorted(c.idempotency_key or "" for c in charges) == [
        f"{wf}/charge/{n}" for n in (1, 2, 3, 4)
    ]
    assert {c.status for c in charges} == {"failed"}
    entries = [e for e in out.timeline if e.details.get("attempt") == 1]
    assert entries[0].details["network_code"] == "51"
    assert entries[0].details["category"] == "soft"
    assert out.view.status is InvoiceStatus.OVERDUE


async def test_visa_46_is_charged_once_and_never_again(stack: Stack) -> None:
    out = await run(stack, "INV-SBX-46", local("2026-05-01", 0))
    assert attempts(out) == [1]
    charges = [
        c for c in gateway_book(stack.sandbox.state).charges() if c.customer == "C-INV-SBX-46"
    ]
    assert len(charges) == 1
    assert any(
        e.kind is TimelineKind.MESSAGE and e.details.get("template") == "payment_method_declined"
        for e in out.timeline
    )


async def test_processing_debit_holds_the_invoice(stack: Stack) -> None:
    out = await run(stack, "INV-SBX-PROC", local("2026-05-01", 0))
    assert attempts(out) == [1]
    assert out.view.status is InvoiceStatus.PROCESSING
    assert not [e for e in out.timeline if e.kind is TimelineKind.ESCALATION]


async def test_a_good_card_pays_at_the_due_instant(stack: Stack) -> None:
    out = await run(stack, "INV-SBX-OK", local("2026-05-01", 0))
    assert out.view.status is InvoiceStatus.PAID
    (paid,) = [e for e in out.timeline if e.details.get("to") == "paid"]
    assert paid.at == local("2026-04-10", 10)
    assert stack.store.count_payments(workflow_id=out.invoice.workflow_id) == 1


async def test_report_shows_recovery_by_attempt_and_decline_category(stack: Stack) -> None:
    ok, hard = await asyncio.gather(
        run(stack, "INV-RPT-OK", local("2026-05-01", 0), tenant="rpt"),
        run(stack, "INV-RPT-46", local("2026-05-01", 0), tenant="rpt"),
    )
    report = build_report(stack.store, as_of=max(ok.view.as_of, hard.view.as_of), tenant="rpt")
    assert report.autopay is not None
    assert (report.autopay.charges, report.autopay.succeeded) == (2, 1)
    assert report.autopay.declines_by_category == {"hard": 1}
    assert report.autopay.recovered_by_attempt == {"1": {"MXN": "1000.00"}}
    assert report.autopay.recovered_by_decline_category == {"none": {"MXN": "1000.00"}}
