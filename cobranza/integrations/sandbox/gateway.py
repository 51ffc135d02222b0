"""A Stripe-shaped payment intents emulator: test payment methods by token, idempotency, webhooks.

Served under `/gateway` (so the sandbox's latency and error knobs apply): `POST /v1/payment_intents`
(form-encoded, `confirm=true`, amount in minor units), `GET /v1/payment_intents/{id}`,
`POST /v1/payment_methods/{id}/attach` and `GET /v1/customers/{id}/payment_methods`.
Test tokens decide the outcome, like Stripe's test cards:

    pm_card_visa, pm_card_mastercard, pm_card_amex  succeed
    pm_decline_<stripe decline code>    decline on a Visa card (e.g. insufficient_funds)
    pm_decline_visa_<response code>     Visa decline with `network_decline_code`
    pm_decline_mc_advice_<advice code>  Mastercard decline with `network_advice_code`
    pm_processing                       bank debit: `processing`, settled by a control call
    pm_timeout                          charges, then holds the answer (the client times out)

Controls under `/sandbox/gateway/` (no faults): settle a processing intent (which posts a
Stripe-signed webhook to the configured endpoint), hold the next answers, release them, and
read every charge made, so a test can assert "charged once".
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cobranza.domain.errors import UnknownCurrency
from cobranza.domain.money import CHARGED_IN_TENS, normalise_currency
from cobranza.integrations.sandbox.gateway_book import (
    DEFAULT_HOLD_S,
    IDEMPOTENCY_HEADER,
    REPLAY_HEADER,
    SANDBOX_API_KEY,
    SANDBOX_WEBHOOK_SECRET,
    SIGNATURE_HEADER,
    ChargeRecord,
    GatewayBook,
    PaymentMethodRecord,
    TokenBehaviour,
    WebhookDelivery,
    WebhookEndpoint,
    fingerprint,
    gateway_book,
    lookup_method,
    sign_payload,
    token_behaviour,
)
from cobranza.integrations.sandbox.state import (
    IdempotencyConflictError,
    SandboxState,
    StoredResponse,
)


class HoldRequest(BaseModel):
    count: int = Field(default=1, ge=0, le=1000)
    seconds: float = Field(default=DEFAULT_HOLD_S, gt=0, le=600)


class SettleRequest(BaseModel):
    outcome: Literal["succeeded", "failed"]
    decline_code: str = "insufficient_funds"


class _BadRequest(Exception):
    def __init__(self, status: int, kind: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.response = JSONResponse(
            {"error": {"type": kind, "message": message, **extra}}, status_code=status
        )


__all__ = [
    "SANDBOX_API_KEY",
    "SANDBOX_WEBHOOK_SECRET",
    "GatewayBook",
    "build_gateway_router",
    "gateway_book",
    "sign_payload",
]


def build_gateway_router(state: SandboxState) -> APIRouter:
    """The Stripe-shaped API under /gateway/v1 and its test controls under /sandbox/gateway."""
    router = APIRouter()
    book = gateway_book(state)
    state.on_reset(book.clear)
    router.include_router(_intents_router(state, book))
    router.include_router(_methods_router(state, book))
    router.include_router(_controls_router(state, book))
    return router


def _intents_router(state: SandboxState, book: GatewayBook) -> APIRouter:
    """`POST /v1/payment_intents` (create and confirm in one call) and `GET` of one intent."""
    router = APIRouter()

    @router.post("/gateway/v1/payment_intents")
    async def create_intent(request: Request) -> Response:
        try:
            _authorise(request)
            params = _form(await request.body())
            intent_params = _intent_params(params)
            method = _resolve_method(book, params.get("payment_method", ""), params)
        except _BadRequest as bad:
            return bad.response
        key = request.headers.get(IDEMPOTENCY_HEADER)

        def create() -> StoredResponse:
            return _confirm(state, book, intent_params, method, key, params)

        try:
            stored = state.idempotent("payment_intents", key, params, create)
        except IdempotencyConflictError as exc:
            return _BadRequest(400, "idempotency_error", str(exc)).response
        if not stored.replayed:
            await _notify(state, book, stored)
            hold = book.take_hold(forced=method.behaviour.outcome == "timeout")
            if hold is not None:
                await asyncio.to_thread(book.wait_released, *hold)
        return _answer(stored)

    @router.get("/gateway/v1/payment_intents/{intent_id}")
    async def get_intent(intent_id: str, request: Request) -> Response:
        try:
            _authorise(request)
            intent = book.intents.get(intent_id)
            if intent is None:
                raise _missing("payment_intent", intent_id)
        except _BadRequest as bad:
            return bad.response
        return JSONResponse(_expanded(book, intent, _form(request.url.query.encode())))

    return router


def _methods_router(state: SandboxState, book: GatewayBook) -> APIRouter:
    """Attaching a payment method to a customer, and listing a customer's methods."""
    router = APIRouter()

    @router.post("/gateway/v1/payment_methods/{method_id}/attach")
    async def attach(method_id: str, request: Request) -> Response:
        try:
            _authorise(request)
            params = _form(await request.body())
            customer, existing, behaviour = _attach_target(book, method_id, params)
        except _BadRequest as bad:
            return bad.response

        def create() -> StoredResponse:
            record = _attached_record(state, method_id, customer, existing, behaviour)
            book.methods[record.id] = record
            return StoredResponse(status=200, body=record.to_stripe())

        key = request.headers.get(IDEMPOTENCY_HEADER)
        try:
            stored = state.idempotent(f"attach:{method_id}", key, params, create)
        except IdempotencyConflictError as exc:
            return _BadRequest(400, "idempotency_error", str(exc)).response
        return _answer(stored)

    @router.get("/gateway/v1/customers/{customer_id}/payment_methods")
    async def list_methods(customer_id: str, request: Request) -> Response:
        try:
            _authorise(request)
        except _BadRequest as bad:
            return bad.response
        attached = [m for m in book.methods.values() if m.customer == customer_id]
        attached.sort(key=lambda m: (m.created, m.id), reverse=True)
        return JSONResponse(
            {
                "object": "list",
                "url": f"/v1/customers/{customer_id}/payment_methods",
                "has_more": False,
                "data": [m.to_stripe() for m in attached],
            }
        )

    return router


def _controls_router(state: SandboxState, book: GatewayBook) -> APIRouter:
    """The test controls under /sandbox/gateway, which the fault knobs never touch."""
    router = APIRouter()

    @router.put("/sandbox/gateway/webhook_endpoint")
    async def set_endpoint(endpoint: WebhookEndpoint) -> WebhookEndpoint:
        book.endpoint = endpoint
        return endpoint

    @router.post("/sandbox/gateway/hold", status_code=204)
    async def hold(body: HoldRequest) -> None:
        book.hold(body.count, body.seconds)

    @router.post("/sandbox/gateway/release", status_code=204)
    async def release() -> None:
        book.release()

    @router.post("/sandbox/gateway/payment_intents/{intent_id}/settle")
    async def settle(intent_id: str, body: SettleRequest) -> Response:
        intent = book.intents.get(intent_id)
        if intent is None:
            return _missing("payment_intent", intent_id).response
        if intent["status"] != "processing":
            return _BadRequest(
                409,
                "invalid_request_error",
                f"payment intent {intent_id} is {intent['status']}, not processing",
            ).response
        delivery = await _notify(state, book, _settle(state, book, intent, body))
        return JSONResponse(
            {
                "payment_intent": book.intents[intent_id],
                "webhook": None if delivery is None else delivery.model_dump(),
            }
        )

    @router.get("/sandbox/gateway/charges")
    async def list_charges(idempotency_key: str | None = None) -> list[ChargeRecord]:
        return book.charges(idempotency_key)

    @router.get("/sandbox/gateway/webhooks")
    async def list_deliveries() -> list[WebhookDelivery]:
        return list(book.deliveries)

    return router


# -- the charge itself ----------------------------------------------------------------------------


def _confirm(
    state: SandboxState,
    book: GatewayBook,
    intent_params: dict[str, Any],
    method: PaymentMethodRecord,
    key: str | None,
    params: dict[str, str],
) -> StoredResponse:
    """Create the intent and make its one charge; the answer is what idempotency replays."""
    now = int(time.time())
    intent_id, charge_id = state.new_id("pi"), state.new_id("ch")
    outcome = method.behaviour.outcome
    status = {"succeeded": "succeeded", "timeout": "succeeded", "processing": "processing"}.get(
        outcome, "requires_payment_method"
    )
    charge_status: Literal["succeeded", "failed", "pending"] = (
        "succeeded" if status == "succeeded" else "pending" if status == "processing" else "failed"
    )
    intent: dict[str, Any] = {
        "id": intent_id,
        "object": "payment_intent",
        **intent_params,
        "amount_received": intent_params["amount"] if status == "succeeded" else 0,
        "payment_method": method.id,
        "payment_method_types": [method.behaviour.kind],
        "status": status,
        "latest_charge": charge_id,
        "last_payment_error": None,
        "confirmation_method": "automatic",
        "capture_method": "automatic",
        "created": now,
        "livemode": False,
    }
    book.add_charge(
        ChargeRecord(
            id=charge_id,
            payment_intent=intent_id,
            amount=intent_params["amount"],
            currency=intent_params["currency"],
            customer=intent_params["customer"],
            payment_method=method.id,
            status=charge_status,
            idempotency_key=key,
            created=now,
        )
    )
    if status != "requires_payment_method":
        book.intents[intent_id] = intent
        return StoredResponse(status=200, body=_expanded(book, intent, params))
    error = _card_error(method, charge_id)
    intent["last_payment_error"] = error
    book.intents[intent_id] = intent
    body = {**error, "payment_intent": _expanded(book, intent, params)}
    return StoredResponse(status=402, body={"error": body})


def _card_error(method: PaymentMethodRecord, charge_id: str) -> dict[str, Any]:
    b = method.behaviour
    return {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": b.decline_code,
        "network_decline_code": b.network_decline_code,
        "network_advice_code": b.network_advice_code,
        "message": f"Your card was declined ({b.decline_code}).",
        "charge": charge_id,
        "payment_method": method.to_stripe(),
        "doc_url": "https://docs.stripe.com/declines/codes",
    }


def _settle(
    state: SandboxState, book: GatewayBook, intent: dict[str, Any], body: SettleRequest
) -> StoredResponse:
    """A processing intent's final state; the answer is what its webhook carries."""
    method = lookup_method(book, intent["payment_method"])
    assert method is not None, "an intent is only created with a known method"
    charge_status: Literal["succeeded", "failed"] = (
        "succeeded" if body.outcome == "succeeded" else "failed"
    )
    book.set_charge_status(intent["latest_charge"], charge_status)
    if body.outcome == "succeeded":
        intent.update(status="succeeded", amount_received=intent["amount"])
        return StoredResponse(status=200, body=intent)
    failed = method.model_copy(
        update={
            "behaviour": method.behaviour.model_copy(update={"decline_code": body.decline_code})
        }
    )
    intent.update(
        status="requires_payment_method",
        last_payment_error=_card_error(failed, intent["latest_charge"])
        | {"type": "card_error", "code": "payment_intent_payment_attempt_failed"},
    )
    return StoredResponse(status=402, body={"error": {"payment_intent": intent}})


async def _notify(
    state: SandboxState, book: GatewayBook, stored: StoredResponse
) -> WebhookDelivery | None:
    """Post the intent's event, signed as Stripe does, to the configured endpoint (if any)."""
    endpoint = book.endpoint
    if endpoint is None:
        return None
    body = stored.body
    intent = body["error"]["payment_intent"] if "error" in body else body
    kind = {
        "succeeded": "payment_intent.succeeded",
        "processing": "payment_intent.processing",
    }.get(intent["status"], "payment_intent.payment_failed")
    created = int(time.time())
    event = {
        "id": state.new_id("evt"),
        "object": "event",
        "type": kind,
        "created": created,
        "livemode": False,
        "api_version": "2024-06-20",
        "data": {"object": intent},
    }
    payload = json.dumps(event, separators=(",", ":"))
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_payload(endpoint.secret, payload, created),
    }
    delivery = WebhookDelivery(
        event_id=event["id"], type=kind, payment_intent=intent["id"], url=endpoint.url
    )
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            answer = await client.post(endpoint.url, content=payload, headers=headers)
        delivery.status_code = answer.status_code
    except httpx.HTTPError as exc:
        delivery.error = repr(exc)
    book.deliveries.append(delivery)
    return delivery


# -- request reading --------------------------------------------------------------------------


def _authorise(request: Request) -> None:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer sk_test_"):
        raise _BadRequest(
            401,
            "invalid_request_error",
            "Invalid API Key provided: the sandbox takes any secret key starting sk_test_.",
        )


def _form(raw: bytes) -> dict[str, str]:
    """Stripe's form encoding, flat: `metadata[invoice]=F-1` stays one key."""
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError as exc:
        raise _BadRequest(400, "invalid_request_error", "body is not UTF-8") from exc


def _intent_params(params: dict[str, str]) -> dict[str, Any]:
    amount = params.get("amount", "")
    if not amount.isdigit() or int(amount) < 1:
        raise _BadRequest(
            400,
            "invalid_request_error",
            f"amount must be a positive integer in the currency's minor unit, got {amount!r}",
            param="amount",
            code="parameter_invalid_integer",
        )
    try:
        currency = normalise_currency(params.get("currency", "")).lower()
    except UnknownCurrency as exc:
        raise _BadRequest(
            400, "invalid_request_error", str(exc), param="currency", code="parameter_invalid"
        ) from exc
    if currency.upper() in CHARGED_IN_TENS and int(amount) % 10:
        raise _BadRequest(
            400,
            "invalid_request_error",
            f"amounts in {currency} must end in 0 (three-decimal currencies are charged in tens "
            f"of the minor unit), got {amount}",
            param="amount",
            code="parameter_invalid",
        )
    if params.get("confirm") != "true":
        raise _BadRequest(
            400,
            "invalid_request_error",
            "the sandbox only creates intents with confirm=true",
            param="confirm",
            code="parameter_invalid",
        )
    metadata = {
        k.removeprefix("metadata[").removesuffix("]"): v
        for k, v in params.items()
        if k.startswith("metadata[") and k.endswith("]")
    }
    return {
        "amount": int(amount),
        "currency": currency,
        "customer": params.get("customer") or None,
        "description": params.get("description") or None,
        "metadata": metadata,
        "off_session": params.get("off_session") == "true",
    }


def _resolve_method(
    book: GatewayBook, method_id: str, params: dict[str, str]
) -> PaymentMethodRecord:
    if not method_id:
        raise _BadRequest(
            400,
            "invalid_request_error",
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            param="payment_method",
            code="payment_intent_unexpected_state",
        )
    record = book.methods.get(method_id)
    if record is not None:
        customer = params.get("customer") or None
        if record.customer is not None and record.customer != customer:
            raise _BadRequest(
                400,
                "invalid_request_error",
                f"The provided PaymentMethod {method_id} belongs to another customer.",
                param="payment_method",
            )
        return record
    token = lookup_method(book, method_id)
    if token is None:
        raise _missing("payment_method", method_id)
    return token


def _attach_target(
    book: GatewayBook, method_id: str, params: dict[str, str]
) -> tuple[str, PaymentMethodRecord | None, TokenBehaviour | None]:
    """The customer to attach to, and the method as already attached or as a test token."""
    customer = params.get("customer", "")
    if not customer:
        raise _BadRequest(
            400,
            "invalid_request_error",
            "Missing required param: customer.",
            param="customer",
            code="parameter_missing",
        )
    behaviour = token_behaviour(method_id)
    existing = book.methods.get(method_id)
    if behaviour is None and existing is None:
        raise _missing("payment_method", method_id)
    if existing is not None and existing.customer not in (None, customer):
        raise _BadRequest(
            400,
            "invalid_request_error",
            f"The payment method {method_id} is attached to another customer.",
            param="payment_method",
        )
    return customer, existing, behaviour


def _attached_record(
    state: SandboxState,
    method_id: str,
    customer: str,
    existing: PaymentMethodRecord | None,
    behaviour: TokenBehaviour | None,
) -> PaymentMethodRecord:
    """Re-attaching keeps the method's id; attaching a test token mints a new `pm_` id."""
    if existing is not None:
        return existing.model_copy(update={"customer": customer})
    assert behaviour is not None
    return PaymentMethodRecord(
        id=state.new_id("pm"),
        token=method_id,
        customer=customer,
        behaviour=behaviour,
        fingerprint=fingerprint(method_id),
        created=int(time.time()),
    )


def _expanded(book: GatewayBook, intent: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    """The intent with `payment_method` as an object when the caller asked to expand it."""
    expand = {v for k, v in params.items() if k.startswith("expand[")}
    if "payment_method" not in expand:
        return dict(intent)
    method = lookup_method(book, intent["payment_method"])
    if method is None:
        return dict(intent)
    return {**intent, "payment_method": method.to_stripe()}


def _missing(kind: str, ident: str) -> _BadRequest:
    return _BadRequest(
        404, "invalid_request_error", f"No such {kind}: '{ident}'", code="resource_missing"
    )


def _answer(stored: StoredResponse) -> Response:
    headers = {REPLAY_HEADER: "true"} if stored.replayed else {}
    return JSONResponse(stored.body, status_code=stored.status, headers=headers)
