"""Signature schemes and event reading, one function at a time (no server)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cobranza.api.events import EventAction
from cobranza.api.mercadopago import payment_event
from cobranza.api.settings import ApiSettings, SettingsError
from cobranza.api.signatures import (
    SignatureRejected,
    mercadopago_manifest,
    sign_mercadopago,
    sign_stripe,
    verify_mercadopago,
    verify_stripe,
)
from cobranza.api.stripe_events import StripeEventError, parse_stripe_event, stripe_money
from cobranza.domain.money import Money

from .webhook_requests import mercadopago_fixture, stripe_fixture

SECRET = "whsec_unit"
BODY = json.dumps(stripe_fixture("payment_intent.succeeded")).encode()


def test_stripe_accepts_its_own_signature() -> None:
    verify_stripe(BODY, sign_stripe(BODY, SECRET), SECRET)


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "No Stripe-Signature header"),
        ("t=abc,v1=00", "Unable to extract timestamp"),
        (sign_stripe(BODY, "whsec_other"), "No signatures found matching"),
        (sign_stripe(BODY, SECRET, int(time.time()) - 301), "tolerance"),
        (sign_stripe(BODY, SECRET, int(time.time()) + 3600), "in the future"),
        (sign_stripe(BODY, SECRET).replace("v1=", "v0="), "expected scheme"),
    ],
)
def test_stripe_rejects(header: str | None, why: str) -> None:
    with pytest.raises(SignatureRejected, match=why):
        verify_stripe(BODY, header, SECRET)


def test_stripe_rejects_a_changed_body() -> None:
    header = sign_stripe(BODY, SECRET)
    with pytest.raises(SignatureRejected):
        verify_stripe(BODY.replace(b"2000", b"2001"), header, SECRET)


def test_mercadopago_manifest_lowercases_alphanumeric_ids_and_drops_missing_parts() -> None:
    assert mercadopago_manifest("ABC123", "req-1", "170") == "id:abc123;request-id:req-1;ts:170;"
    assert mercadopago_manifest("A-B", None, "170") == "id:A-B;ts:170;"


def test_mercadopago_accepts_upper_case_id_signed_lower_case() -> None:
    header = sign_mercadopago("k", data_id="abc123", request_id="r")
    verify_mercadopago(header, data_id="ABC123", request_id="r", secret="k")


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "missing"),
        ("ts=1,v2=00", "expected ts"),
        (sign_mercadopago("other", data_id="1", request_id="r"), "does not match"),
        (sign_mercadopago("k", data_id="2", request_id="r"), "does not match"),
        (sign_mercadopago("k", data_id="1", request_id="r", ts=int(time.time()) - 301), "outside"),
    ],
)
def test_mercadopago_rejects(header: str | None, why: str) -> None:
    with pytest.raises(SignatureRejected, match=why):
        verify_mercadopago(header, data_id="1", request_id="r", secret="k")


def test_mercadopago_timestamps_in_milliseconds_are_read_as_such() -> None:
    ms = int(time.time() * 1000)
    header = sign_mercadopago("k", data_id="1", request_id="r", ts=ms)
    verify_mercadopago(header, data_id="1", request_id="r", secret="k")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (2000, "usd", Money(minor=2000, currency="USD")),
        (1935, "jpy", Money(minor=1935, currency="JPY")),
        (1935500, "kwd", Money(minor=1935500, currency="KWD")),
        (5000, "mga", Money(minor=500000, currency="MGA")),  # zero-decimal at Stripe only
        (12300, "isk", Money(minor=123, currency="ISK")),  # two decimals at Stripe, zero in ISO
    ],
)
def test_stripe_minor_units_become_iso_minor_units(
    amount: int, currency: str, expected: Money
) -> None:
    assert stripe_money(amount, currency, "amount") == expected


@pytest.mark.parametrize(
    ("amount", "currency", "why"),
    [(12345, "isk", "not a whole ISK"), (20.0, "usd", "integer"), (1, "xyz", "currency")],
)
def test_stripe_amounts_that_cannot_be_money(amount: object, currency: str, why: str) -> None:
    with pytest.raises(StripeEventError, match=why):
        stripe_money(amount, currency, "amount")


@pytest.mark.parametrize(
    ("event_type", "action", "payment_id"),
    [
        ("payment_intent.succeeded", EventAction.PAYMENT_RECEIVED, "stripe:pi_0"),
        ("invoice.paid", EventAction.PAYMENT_RECEIVED, "stripe:pi_0"),
        ("payment_intent.payment_failed", EventAction.PAYMENT_FAILED, "stripe:pi_0"),
        ("charge.failed", EventAction.PAYMENT_FAILED, "stripe:pi_0"),
        ("charge.dispute.created", EventAction.DISPUTE, "stripe:ch_0"),
        ("charge.refunded", EventAction.REFUND, "stripe:ch_0"),
    ],
)
def test_every_fixture_event_reads(event_type: str, action: EventAction, payment_id: str) -> None:
    event = parse_stripe_event(stripe_fixture(event_type))
    assert event.action is action
    assert event.payment_id == payment_id.replace("_0", "_000000000000000000000000")
    assert event.happened_at.tzinfo is not None
    if action is EventAction.PAYMENT_RECEIVED:
        assert event.amount == Money(minor=2000, currency="USD")


def test_an_unknown_event_type_is_ignored_and_a_broken_one_named() -> None:
    event = stripe_fixture("payment_intent.succeeded")
    event["type"] = "customer.created"
    assert parse_stripe_event(event).action is EventAction.IGNORE
    del event["data"]
    with pytest.raises(StripeEventError, match=r"data\.object"):
        parse_stripe_event(event)


def test_a_mercadopago_payment_keeps_its_decimal_amount() -> None:
    payment = json.loads(json.dumps(mercadopago_fixture()), parse_float=Decimal)
    event = payment_event("n-1", "payment.updated", payment)
    assert event.action is EventAction.PAYMENT_RECEIVED
    assert event.amount == Money(minor=1234, currency="BRL")
    assert event.invoice.invoice_id == "1631894348"
    assert event.happened_at == datetime(2022, 1, 10, 10, 10, 10, tzinfo=UTC)


def test_settings_name_the_bad_variable() -> None:
    assert ApiSettings.from_env({}).tolerance_s == 300
    with pytest.raises(SettingsError, match="COBRANZA_WEBHOOK_TOLERANCE_S"):
        ApiSettings.from_env({"COBRANZA_WEBHOOK_TOLERANCE_S": "five"})


def test_the_crm_defaults_to_the_sandbox_and_is_set_by_env() -> None:
    assert ApiSettings.from_env({}).crm_url == "http://127.0.0.1:8700"
    crm = ApiSettings.from_env({"COBRANZA_CRM_URL": "https://crm.example.com"}).crm_url
    assert crm == "https://crm.example.com"


def test_the_payer_named_in_metadata_is_read_from_both_gateways() -> None:
    event = stripe_fixture("payment_intent.succeeded")
    event["data"]["object"]["metadata"] = {"invoice_id": "X-1", "customer_id": "CUST-9"}
    assert parse_stripe_event(event).customer_id == "CUST-9"
    event["data"]["object"]["metadata"] = {"invoice_id": "X-1", "customer_id": 9}
    assert parse_stripe_event(event).customer_id is None  # Stripe metadata values are strings
    payment = json.loads(json.dumps(mercadopago_fixture()), parse_float=Decimal)
    payment["metadata"] = {"customer_id": "CUST-9"}
    assert payment_event("n-2", "payment.updated", payment).customer_id == "CUST-9"
