"""Every Stripe and Mercado Pago payload of the shared data, read by the ingress's own readers.

Issue 5: each file of a payment format is parsed (or refused with its reason) by a test that
checks its totals. The expected values below were read from the files by hand; the files are
byte copies (tests/fixtures/webhooks/SOURCES.md).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cobranza.api.events import EventAction, GatewayEvent
from cobranza.api.mercadopago import PaymentDataError, payment_event
from cobranza.api.stripe_events import parse_stripe_event, stripe_money
from cobranza.domain.money import Money, currency_exponent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
ZEROS = "0" * 24

# file -> (event type, action, minor units, currency, object id, payment id)
STRIPE = {
    "payment_intent.succeeded.json": (
        "payment_intent.succeeded",
        EventAction.PAYMENT_RECEIVED,
        2000,
        "USD",
        f"pi_{ZEROS}",
        f"stripe:pi_{ZEROS}",
    ),
    "payment_intent.payment_failed.json": (
        "payment_intent.payment_failed",
        EventAction.PAYMENT_FAILED,
        2000,
        "USD",
        f"pi_{ZEROS}",
        f"stripe:pi_{ZEROS}",
    ),
    "charge.failed.json": (
        "charge.failed",
        EventAction.PAYMENT_FAILED,
        2000,
        "USD",
        f"ch_{ZEROS}",
        f"stripe:pi_{ZEROS}",
    ),
    "charge.refunded.json": (
        "charge.refunded",
        EventAction.REFUND,
        100,
        "USD",
        f"ch_{ZEROS}",
        f"stripe:ch_{ZEROS}",
    ),
    "charge.dispute.created.json": (
        "charge.dispute.created",
        EventAction.DISPUTE,
        100,
        "USD",
        f"dp_{ZEROS}",
        f"stripe:ch_{ZEROS}",
    ),
    "invoice.paid.json": (
        "invoice.paid",
        EventAction.PAYMENT_RECEIVED,
        2000,
        "USD",
        f"in_{ZEROS}",
        f"stripe:pi_{ZEROS}",
    ),
    "invoice.payment_failed.json": (
        "invoice.payment_failed",
        EventAction.PAYMENT_FAILED,
        2000,
        "USD",
        f"in_{ZEROS}",
        f"stripe:pi_{ZEROS}",
    ),
}
MERCADOPAGO_PAYMENTS = {
    "sdk_payment_approved_card.json": (
        "payment.updated",
        EventAction.PAYMENT_RECEIVED,
        1234,  # transaction_amount 12.34
        "BRL",
        "17014025134",
        "mercadopago:17014025134",
    ),
}
MERCADOPAGO_REFUSED = {
    "sdk_chargeback_search.json": "results: a search result list (paging and results)",
}


def read(path: Path) -> dict[str, Any]:
    # As the ingress reads bodies: JSON numbers with a fraction as Decimal, never float.
    loaded: dict[str, Any] = json.loads(path.read_bytes(), parse_float=Decimal)
    return loaded


def test_every_payload_file_is_covered() -> None:
    assert {p.name for p in (FIXTURES / "stripe").glob("*.json")} == set(STRIPE)
    assert {p.name for p in (FIXTURES / "mercadopago").glob("*.json")} == set(
        MERCADOPAGO_PAYMENTS
    ) | set(MERCADOPAGO_REFUSED)


def check(
    event: GatewayEvent, expected: tuple[str, EventAction, int, str, str, str], exponent: int
) -> None:
    event_type, action, minor, currency, object_id, payment_id = expected
    assert event.event_type == event_type
    assert event.action is action
    assert event.amount == Money(minor=minor, currency=currency)
    assert currency_exponent(event.amount.currency) == exponent
    assert event.refs[0] == object_id
    assert event.payment_id == payment_id
    assert event.happened_at.tzinfo is not None


@pytest.mark.parametrize("name", sorted(STRIPE))
def test_stripe_payload(name: str) -> None:
    body = read(FIXTURES / "stripe" / name)

    event = parse_stripe_event(body)

    check(event, STRIPE[name], exponent=2)
    assert event.event_id == f"evt_{ZEROS}"
    assert event.happened_at == datetime.fromtimestamp(body["created"], UTC)


@pytest.mark.parametrize("name", sorted(MERCADOPAGO_PAYMENTS))
def test_mercadopago_payment(name: str) -> None:
    payment = read(FIXTURES / "mercadopago" / name)

    event = payment_event("notification-1", "payment.updated", payment)

    check(event, MERCADOPAGO_PAYMENTS[name], exponent=2)
    assert event.invoice.invoice_id == "1631894348"
    assert event.happened_at == datetime(2022, 1, 10, 10, 10, 10, tzinfo=UTC)


@pytest.mark.parametrize("name", sorted(MERCADOPAGO_REFUSED))
def test_mercadopago_list_envelope_is_refused_with_its_reason(name: str) -> None:
    envelope = read(FIXTURES / "mercadopago" / name)
    assert envelope["paging"]["total"] == len(envelope["results"]) == 1

    with pytest.raises(PaymentDataError, match=re.escape(MERCADOPAGO_REFUSED[name])):
        payment_event("notification-2", "chargebacks", envelope)


def decimal_money(value: Any, currency: str) -> Money:
    """A Mercado Pago amount (a JSON number read as Decimal or int) as Money, never a float."""
    assert isinstance(value, Decimal | int) and not isinstance(value, bool), value
    return Money.parse(value, currency)


def test_mercadopago_payment_totals_add_up() -> None:
    payment = read(FIXTURES / "mercadopago" / "sdk_payment_approved_card.json")
    currency = payment["currency_id"]
    details = payment["transaction_details"]

    amount = decimal_money(payment["transaction_amount"], currency)
    paid = decimal_money(details["total_paid_amount"], currency)
    net = decimal_money(details["net_received_amount"], currency)
    fees = sum(
        (decimal_money(fee["amount"], currency) for fee in payment["fee_details"]),
        Money.zero(currency),
    )

    assert str(paid) == str(amount) == "12.34 BRL"
    assert str(fees) == "0.62 BRL"
    assert str(net) == "11.72 BRL"
    assert net == paid - fees
    assert decimal_money(payment["transaction_amount_refunded"], currency).is_zero()
    event = payment_event("notification-1", "payment.updated", payment)
    assert event.amount == paid  # the customer's payment, before the gateway's fee


def stripe_amount(obj: dict[str, Any], field: str) -> Money:
    return stripe_money(obj[field], obj["currency"], field)


@pytest.mark.parametrize(
    ("name", "paid"),
    [("invoice.paid.json", "20.00 USD"), ("invoice.payment_failed.json", "0.00 USD")],
)
def test_stripe_invoice_lines_reach_its_total_and_what_was_paid(name: str, paid: str) -> None:
    body = read(FIXTURES / "stripe" / name)
    invoice = body["data"]["object"]
    lines = invoice["lines"]
    assert lines["has_more"] is False and lines["total_count"] == len(lines["data"])
    zero = Money.zero(invoice["currency"].upper())

    lines_sum = sum(
        (stripe_amount({**ln, "currency": invoice["currency"]}, "amount") for ln in lines["data"]),
        zero,
    )
    subtotal = stripe_amount(invoice, "subtotal")
    total = stripe_amount(invoice, "total")
    due = stripe_amount(invoice, "amount_due")
    assert lines_sum == subtotal
    # No tax, discount or credit note in these files: the total is the subtotal...
    assert invoice["tax"] is None and not invoice["total_tax_amounts"] and not invoice["discount"]
    assert total == subtotal
    # ...and, with no customer balance applied, all of it is due.
    assert invoice["starting_balance"] == invoice["pre_payment_credit_notes_amount"] == 0
    assert due == total
    assert stripe_amount(invoice, "amount_paid") + stripe_amount(invoice, "amount_remaining") == due
    assert str(stripe_amount(invoice, "amount_paid")) == paid
    assert invoice["paid"] is (paid == str(due))


@pytest.mark.parametrize(
    ("name", "received"),
    [
        ("payment_intent.succeeded.json", "20.00 USD"),
        ("payment_intent.payment_failed.json", "0.00 USD"),
    ],
)
def test_stripe_payment_intent_charges_reach_amount_received(name: str, received: str) -> None:
    intent = read(FIXTURES / "stripe" / name)["data"]["object"]
    charges = intent["charges"]
    assert charges["has_more"] is False and charges["total_count"] == len(charges["data"])
    zero = Money.zero(intent["currency"].upper())

    captured = sum(
        (
            stripe_amount(c, "amount_captured") - stripe_amount(c, "amount_refunded")
            for c in charges["data"]
            if c["paid"]
        ),
        zero,
    )
    assert captured == stripe_amount(intent, "amount_received")
    assert str(captured) == received
    assert all(
        stripe_amount(c, "amount") == stripe_amount(intent, "amount") for c in charges["data"]
    )


def test_stripe_refunded_charge_refunds_add_up_to_amount_refunded() -> None:
    charge = read(FIXTURES / "stripe" / "charge.refunded.json")["data"]["object"]
    refunds = charge["refunds"]
    assert refunds["has_more"] is False and refunds["total_count"] == len(refunds["data"])
    refunded = sum(
        (stripe_amount(r, "amount") for r in refunds["data"]),
        Money.zero(charge["currency"].upper()),
    )
    assert (
        refunded
        == stripe_amount(charge, "amount_refunded")
        == parse_stripe_event(read(FIXTURES / "stripe" / "charge.refunded.json")).amount
    )
    assert refunded <= stripe_amount(charge, "amount_captured")
