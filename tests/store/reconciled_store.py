"""A small store as reconciliation leaves it: invoices, a matched statement, queued exceptions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cobranza.domain.effects import InvoiceSnapshot
from cobranza.domain.invoice import InvoiceStatus, PaymentReceived
from cobranza.domain.matching import Allocation, LineMatch, Outcome, Rule
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, StatementLine
from cobranza.store import Store, money_in

from .factories import snapshot

AS_OF = datetime(2025, 6, 15, 18, 0, tzinfo=UTC)
IMPORTED = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)


def invoice(invoice_id: str, amount: str, currency: str = "MXN", **changes: Any) -> InvoiceSnapshot:
    """An open invoice of May 2025 for `amount` in `currency`; override any field."""
    return snapshot(
        invoice_id,
        currency=currency,
        amount_minor=Money.parse(amount, currency).minor,
        issued_on=date(2025, 5, 1),
        due_on=date(2025, 5, 31),
        updated_at=IMPORTED,
        **changes,
    )


def statement_line(entry_id: str, amount: str, booked_on: date) -> StatementLine:
    return StatementLine(
        source="june.xml",
        line=int(entry_id[1:]),
        entry_id=entry_id,
        account="0001",
        direction=Direction.CREDIT,
        amount=Money.parse(amount, "MXN"),
        booked_on=booked_on,
        reference=entry_id,
    )


def by_reference(line: StatementLine, snap: InvoiceSnapshot) -> LineMatch:
    allocation = Allocation(
        invoice_id=snap.invoice_id,
        workflow_id=snap.workflow_id,
        tenant=snap.tenant,
        amount=line.amount,
    )
    return LineMatch(
        line=line,
        outcome=Outcome.MATCHED,
        rule=Rule.EXACT_REFERENCE,
        confidence=1.0,
        allocations=(allocation,),
        customer_id=snap.customer_id,
        tenant=snap.tenant,
    )


def build_store(path: Path) -> str:
    """Tenant acme: F-1 (100.00 MXN) paid by a matched transfer booked 1 June and closed 5 h
    later; F-2 (250.00 MXN) open; an unmatched 40.00 MXN transfer booked 1 May and a 5.00 USD
    webhook for no known invoice, queued two days before AS_OF. Tenant beta: one open 7000 JPY
    invoice. Returns the store's URL."""
    url = f"sqlite:///{path}"
    store = Store.from_url(url)
    store.create_all()
    paid, open_one = invoice("F-1", "100.00"), invoice("F-2", "250.00")
    matched_line = statement_line("E1", "100.00", date(2025, 6, 1))
    money_in.record_import(
        store,
        [
            by_reference(matched_line, paid),
            LineMatch(
                line=statement_line("E2", "40.00", date(2025, 5, 1)),
                outcome=Outcome.EXCEPTION,
                reason="no invoice",
                tenant="acme",
            ),
        ],
        IMPORTED,
    )
    received = datetime(2025, 6, 1, 12, tzinfo=UTC)
    store.record_payment(
        workflow_id=paid.workflow_id,
        tenant=paid.tenant,
        invoice_id=paid.invoice_id,
        payment=PaymentReceived(
            payment_id=money_in.payment_id_for("E1", paid.invoice_id),
            amount=matched_line.amount,
            received_at=received,
        ),
    )
    store.upsert_invoice(
        paid.model_copy(
            update={
                "status": InvoiceStatus.PAID,
                "paid_minor": paid.amount_minor,
                "closed_at": received + timedelta(hours=5),
            }
        )
    )
    store.upsert_invoice(open_one)
    store.upsert_invoice(invoice("Y-1", "7000", currency="JPY", tenant="beta"))
    money_in.queue_exception(
        store,
        source="webhook:stripe",
        key="evt_unknown",
        reason="unknown invoice",
        tenant="acme",
        amount=Money.parse("5.00", "USD"),
        at=AS_OF - timedelta(days=2),
    )
    store.dispose()
    return url
