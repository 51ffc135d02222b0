"""The Stripe-compatible adapter against the sandbox: each test method's outcome and category."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import parse_qs

import httpx
import pytest

from cobranza.domain.charges import ChargeStatus
from cobranza.domain.declines import CardNetwork, Decline, DeclineCategory, classify
from cobranza.domain.declines_file import load_retry_rules
from cobranza.domain.invoice import Customer, Invoice
from cobranza.domain.local_methods import CollectionAccounts, LocalMethod, is_valid_clabe
from cobranza.domain.money import Money
from cobranza.integrations.errors import (
    IdempotencyConflict,
    PermanentIntegrationError,
    TransientIntegrationError,
)
from cobranza.integrations.gateway import StripeGateway, payment_reference
from cobranza.integrations.sandbox.gateway import GatewayBook
from cobranza.integrations.sandbox.server import Sandbox

from .charge_requests import charge_request

RULES = load_retry_rules()


@pytest.mark.parametrize(
    ("token", "network", "code", "network_code", "advice", "category"),
    [
        ("pm_decline_insufficient_funds", "visa", "insufficient_funds", "51", None, "soft"),
        ("pm_decline_visa_46", "visa", "invalid_account", "46", None, "hard"),
        ("pm_decline_visa_05", "visa", "do_not_honor", "05", None, "soft"),
        ("pm_decline_mc_advice_03", "mastercard", "do_not_honor", None, "03", "hard"),
        ("pm_decline_mc_advice_25", "mastercard", "try_again_later", None, "25", "soft"),
        (
            "pm_decline_mc_advice_21",
            "mastercard",
            "revocation_of_authorization",
            None,
            "21",
            "hard",
        ),
        ("pm_decline_stolen_card", "visa", "stolen_card", "43", None, "hard"),
        ("pm_decline_expired_card", "visa", "expired_card", "54", None, "needs_customer_action"),
        ("pm_decline_processing_error", "visa", "processing_error", None, None, "gateway_error"),
    ],
)
async def test_declines_map_to_outcome_and_category(
    gateway: StripeGateway,
    book: GatewayBook,
    token: str,
    network: str,
    code: str,
    network_code: str | None,
    advice: str | None,
    category: str,
) -> None:
    request = charge_request(token)
    outcome = await gateway.charge(request)
    assert outcome.status is ChargeStatus.DECLINED
    assert outcome.idempotency_key == request.idempotency_key
    assert outcome.payment_id is not None and outcome.payment_id.startswith("pi_")
    decline = outcome.decline
    assert decline is not None
    assert decline.network is CardNetwork(network)
    assert (decline.code, decline.network_code, decline.advice_code) == (code, network_code, advice)
    assert outcome.method is not None and decline.card_id == outcome.method.fingerprint
    assert classify(decline, RULES).category is DeclineCategory(category)
    assert len(book.charges(request.idempotency_key)) == 1


async def test_mastercard_advice_25_waits_a_day(gateway: StripeGateway) -> None:
    outcome = await gateway.charge(charge_request("pm_decline_mc_advice_25"))
    assert outcome.decline is not None
    assert classify(outcome.decline, RULES).earliest_retry == timedelta(hours=24)


@pytest.mark.parametrize(
    ("token", "network", "kind"),
    [("pm_card_visa", "visa", "card"), ("pm_card_mastercard", "mastercard", "card")],
)
async def test_success(gateway: StripeGateway, token: str, network: str, kind: str) -> None:
    request = charge_request(token)
    outcome = await gateway.charge(request)
    assert outcome.status is ChargeStatus.SUCCEEDED
    assert outcome.decline is None and outcome.attempt == 1
    assert outcome.method is not None
    assert (outcome.method.network, outcome.method.kind) == (CardNetwork(network), kind)
    # The card's fingerprint, not the request's placeholder: network rules count per card.
    assert outcome.method.fingerprint != f"fp-{token}"
    assert outcome.at.tzinfo is not None


class _FormRecorder(httpx.AsyncBaseTransport):
    """Sends each request on over real HTTP and keeps its form body, as the gateway got it."""

    def __init__(self) -> None:
        self._http = httpx.AsyncHTTPTransport()
        self.forms: list[dict[str, list[str]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.forms.append(parse_qs((await request.aread()).decode()))
        return await self._http.handle_async_request(request)

    async def aclose(self) -> None:
        await self._http.aclose()


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("1500", "JPY", "1500"),
        ("1935", "JPY", "1935"),
        ("12.340", "KWD", "12340"),
        ("1935.500", "KWD", "1935500"),
    ],
)
async def test_L02_charge_is_sent_in_the_currencys_minor_units(
    sandbox: Sandbox, book: GatewayBook, amount: str, currency: str, minor: str
) -> None:
    """JPY has no minor unit and KWD three: the amount is never scaled by a hundred."""
    money = Money.parse(amount, currency)
    recorder = _FormRecorder()
    async with StripeGateway.for_sandbox(sandbox.http_url, transport=recorder) as gateway:
        outcome = await gateway.charge(charge_request(minor=money.minor, currency=currency))
    assert outcome.status is ChargeStatus.SUCCEEDED
    (form,) = recorder.forms
    assert (form["amount"], form["currency"]) == ([minor], [currency.lower()])
    (charge,) = book.charges()
    assert (charge.amount, charge.currency) == (int(minor), currency.lower())


async def test_L02_a_kwd_amount_stripe_cannot_take_exactly_is_refused_before_any_call(
    sandbox: Sandbox, book: GatewayBook
) -> None:
    """Stripe charges three-decimal currencies in tens of fils: 12.345 KWD is never rounded."""
    recorder = _FormRecorder()
    async with StripeGateway.for_sandbox(sandbox.http_url, transport=recorder) as gateway:
        with pytest.raises(PermanentIntegrationError, match=r"12\.345 KWD cannot be charged"):
            await gateway.charge(charge_request(minor=12_345, currency="KWD"))
    assert recorder.forms == [] and book.charges() == []


async def test_processing_is_its_own_status(gateway: StripeGateway) -> None:
    outcome = await gateway.charge(charge_request("pm_processing"))
    assert outcome.status is ChargeStatus.PROCESSING
    assert outcome.payment_id is not None and outcome.decline is None
    assert outcome.method is not None and outcome.method.kind == "us_bank_account"
    # What the workflow classifies while it waits: never charge again.
    pending = Decline(card_id=outcome.method.fingerprint, code="processing")
    assert classify(pending, RULES).category is DeclineCategory.PROCESSING


async def test_no_method_on_file(gateway: StripeGateway, book: GatewayBook) -> None:
    outcome = await gateway.charge(charge_request(None, customer_id="C-nobody"))
    assert outcome.status is ChargeStatus.NO_PAYMENT_METHOD
    assert outcome.decline is not None and outcome.payment_id is None
    assert classify(outcome.decline, RULES).category is DeclineCategory.NO_PAYMENT_METHOD
    assert book.charges() == []


async def test_attach_list_and_charge_the_newest_method(
    gateway: StripeGateway, book: GatewayBook
) -> None:
    visa = await gateway.attach_payment_method("C-9", "pm_card_visa", "attach-1")
    assert await gateway.attach_payment_method("C-9", "pm_card_visa", "attach-1") == visa
    master = await gateway.attach_payment_method("C-9", "pm_card_mastercard", "attach-2")
    assert visa.method_id.startswith("pm_") and visa.method_id != "pm_card_visa"
    assert await gateway.payment_methods("C-9") == [master, visa]
    outcome = await gateway.charge(charge_request(None, customer_id="C-9"))
    assert outcome.status is ChargeStatus.SUCCEEDED
    assert outcome.method == master
    assert [c.payment_method for c in book.charges()] == [master.method_id]


async def test_a_method_of_another_customer_is_refused(gateway: StripeGateway) -> None:
    visa = await gateway.attach_payment_method("C-1", "pm_card_visa", "attach-3")
    with pytest.raises(PermanentIntegrationError, match="another customer"):
        await gateway.attach_payment_method("C-2", visa.method_id, "attach-4")


async def test_a_retried_charge_replays_the_first_answer(
    gateway: StripeGateway, book: GatewayBook
) -> None:
    request = charge_request("pm_card_visa", attempt=2)
    first, again = await gateway.charge(request), await gateway.charge(request)
    assert again == first
    assert len(book.charges(request.idempotency_key)) == 1


async def test_reusing_a_key_with_another_amount_is_a_permanent_conflict(
    gateway: StripeGateway,
) -> None:
    await gateway.charge(charge_request(minor=1000))
    with pytest.raises(IdempotencyConflict, match="idempotency_error"):
        await gateway.charge(charge_request(minor=2000))


async def test_timeout_is_transient_and_the_retry_does_not_charge_again(
    sandbox: Sandbox, book: GatewayBook
) -> None:
    request = charge_request("pm_timeout")
    async with StripeGateway.for_sandbox(sandbox.http_url, timeout=0.5) as impatient:
        with pytest.raises(TransientIntegrationError, match="timed out"):
            await impatient.charge(request)
        # The sandbox charged before holding its answer: the retry gets that charge back.
        outcome = await impatient.charge(request)
    assert outcome.status is ChargeStatus.SUCCEEDED
    charges = book.charges(request.idempotency_key)
    assert [c.payment_intent for c in charges] == [outcome.payment_id]


async def test_server_errors_are_transient(sandbox: Sandbox, gateway: StripeGateway) -> None:
    sandbox.knobs.error_rate = 1.0
    with pytest.raises(TransientIntegrationError, match="503"):
        await gateway.charge(charge_request())


@pytest.mark.parametrize(("token", "status"), [("pm_no_such_method", 404), ("pm_card_visa", 401)])
async def test_other_client_errors_are_permanent(sandbox: Sandbox, token: str, status: int) -> None:
    key = "sk_test_x" if status != 401 else "rk_live_wrong"
    async with StripeGateway.for_sandbox(sandbox.http_url) as adapter:
        adapter._auth = {"Authorization": f"Bearer {key}"}
        with pytest.raises(PermanentIntegrationError) as raised:
            await adapter.charge(charge_request(token))
    assert raised.value.status_code == status
    assert not isinstance(raised.value, IdempotencyConflict)


async def test_payment_reference_comes_from_the_adapter(sandbox: Sandbox) -> None:
    accounts = CollectionAccounts(beneficiary="Cobranza Demo SA", spei_bank="646")
    customer = Customer(customer_id="C-7", country="MX", timezone="America/Mexico_City")
    invoice = Invoice(
        invoice_id="F-100",
        customer=customer,
        amount=Money(minor=125_000, currency="MXN"),
        issued_on=date(2026, 3, 1),
        due_on=date(2026, 3, 31),
    )
    async with StripeGateway.for_sandbox(sandbox.http_url, accounts=accounts) as adapter:
        reference = payment_reference(invoice, adapter)
    assert reference is not None and reference.method is LocalMethod.SPEI
    assert is_valid_clabe(reference.value) and reference.amount == invoice.amount
    async with StripeGateway.for_sandbox(sandbox.http_url) as without_accounts:
        assert payment_reference(invoice, without_accounts) is None
