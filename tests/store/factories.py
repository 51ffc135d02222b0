"""Small builders of snapshots, timeline entries and payments for store and report tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from cobranza.domain.effects import InvoiceSnapshot, Recording, SequencedEntry
from cobranza.domain.invoice import InvoiceStatus, PaymentReceived, TimelineEntry, TimelineKind
from cobranza.domain.money import Money

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def snapshot(invoice_id: str = "INV-1", **changes: Any) -> InvoiceSnapshot:
    """An open MXN invoice issued on 1 March, due on 31 March; override any field."""
    tenant = changes.pop("tenant", "acme")
    fields: dict[str, Any] = {
        "workflow_id": f"invoice-{tenant}-{invoice_id}",
        "tenant": tenant,
        "invoice_id": invoice_id,
        "customer_id": "CUST-1",
        "country": "MX",
        "currency": "MXN",
        "amount_minor": 100_00,
        "paid_minor": 0,
        "status": InvoiceStatus.OPEN,
        "dunning_level": 0,
        "issued_on": date(2025, 3, 1),
        "due_on": date(2025, 3, 31),
        "policy_ref": "standard@v1",
        "updated_at": T0,
    }
    fields.update(changes)
    return InvoiceSnapshot(**fields)


def entry(
    snap: InvoiceSnapshot,
    seq: int,
    kind: TimelineKind = TimelineKind.STATE_CHANGE,
    at: datetime | None = None,
    **details: Any,
) -> SequencedEntry:
    moment = at if at is not None else snap.updated_at + timedelta(minutes=seq)
    return SequencedEntry(
        seq=seq,
        entry=TimelineEntry(at=moment, invoice=snap.invoice_id, kind=kind, details=details),
    )


def recording(snap: InvoiceSnapshot, *entries: SequencedEntry) -> Recording:
    return Recording(snapshot=snap, entries=list(entries))


def payment(
    payment_id: str = "PAY-1", amount: str = "100.00", currency: str = "MXN"
) -> PaymentReceived:
    return PaymentReceived(
        payment_id=payment_id,
        amount=Money.parse(amount, currency),
        received_at=T0 + timedelta(days=3),
    )


def message_fields(dedupe_key: str = "CUST-1:2025-03-28T10", **changes: Any) -> dict[str, Any]:
    """Keyword arguments of Store.begin_message for a reminder three days before the due date."""
    fields: dict[str, Any] = {
        "dedupe_key": dedupe_key,
        "tenant": "acme",
        "customer_id": "CUST-1",
        "channel": "email",
        "address": "ana@example.com",
        "template": "reminder_before_due",
        "step": "reminder:-3",
        "invoice_ids": ["INV-1"],
        "scheduled_at": T0 + timedelta(days=27),
        "content_sha256": "0" * 64,
    }
    fields.update(changes)
    return fields
