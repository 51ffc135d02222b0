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
from cobranza.api.stripe_events import parse_stripe_event
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
