"""Builders of send_message requests for one overdue MXN invoice, shared by the message tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

from cobranza.domain.effects import InvoiceSnapshot, LineItem, MessageRequest, Recording
from cobranza.domain.invoice import Channel, Customer, InvoiceStatus
from cobranza.domain.money import Money

AT = datetime(2026, 4, 13, 16, 0, tzinfo=UTC)


def customer(**contact: str | frozenset[str] | None) -> Customer:
    fields = {"phone": "55 1234 5678", "email": "c-1@customers.example.com", **contact}
    return Customer(
        customer_id="C-1",
        country="MX",
        timezone="America/Mexico_City",
        locale="es_MX",
        **fields,
    )


def request(
    who: Customer, channel: Channel, key: str = "invoice-default-INV-1:step-2"
) -> MessageRequest:
    amount = Money.parse("1000.00", "MXN")
    snapshot = InvoiceSnapshot(
        workflow_id="invoice-default-INV-1",
        tenant="default",
        invoice_id="INV-1",
        customer_id="C-1",
        country="MX",
        currency="MXN",
        amount_minor=amount.minor,
        paid_minor=0,
        status=InvoiceStatus.OVERDUE,
        dunning_level=0,
        issued_on=date(2026, 3, 11),
        due_on=date(2026, 4, 10),
        policy_ref="standard@v1",
        updated_at=AT,
    )
    item = LineItem(
        invoice_id="INV-1",
        amount=amount,
        outstanding=amount,
        paid=Money.zero("MXN"),
        due_on=date(2026, 4, 10),
        days_overdue=3,
    )
    return MessageRequest(
        dedupe_key=key,
        customer=who,
        channel=channel,
        template="overdue",
        items=[item],
        step="overdue",
        scheduled_at=AT,
        recording=Recording(snapshot=snapshot),
    )
