"""The FastAPI app: POST /webhooks/stripe and /webhooks/mercadopago, verified before anything.

401: signature missing, wrong or outside the tolerance window (nothing is recorded).
200: applied, ignored as stale or not ours to act on, or a duplicate of an event already handled.
202: accepted into the exceptions queue for a person (unknown invoice, refund, unreadable event),
     with a CRM task (or one to open later, the CRM being down) and the payer's reminders held.
503: our side could not act now (workflow service, payments API); the gateway retries later.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.service import RPCError

from cobranza.api.exceptions import exceptions_router
from cobranza.api.ingress import Ingress, Receipt
from cobranza.api.mercadopago import PROVIDER as MERCADOPAGO
from cobranza.api.mercadopago import (
    MercadoPagoApi,
    MercadoPagoError,
    PaymentDataError,
    notification_event_id,
    payment_event,
    payment_state_id,
)
from cobranza.api.reports import reports_router
from cobranza.api.settings import ApiSettings
from cobranza.api.signatures import (
    MERCADOPAGO_HEADER,
    MERCADOPAGO_REQUEST_ID,
    STRIPE_HEADER,
    SignatureRejected,
    verify_mercadopago,
    verify_stripe,
)
from cobranza.api.stripe_events import PROVIDER as STRIPE
from cobranza.api.stripe_events import StripeEventError, parse_stripe_event


class BodyError(ValueError):
    """A signed body that is not a JSON object."""


def build_app(
    settings: ApiSettings, ingress: Ingress, mercadopago: MercadoPagoApi | None = None
) -> FastAPI:
    """The ingress app: the exceptions queue, reports, health and one webhook route per gateway."""
    app = FastAPI(title="cobranza ingress", docs_url="/docs", redoc_url=None)
    app.include_router(exceptions_router(ingress.client, ingress.store, settings.support_token))
    app.include_router(reports_router(ingress.store, settings.support_token))
    _add_error_answers(app)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(_stripe_router(settings, ingress))
    app.include_router(_mercadopago_router(settings, ingress, mercadopago))
    return app


def _add_error_answers(app: FastAPI) -> None:
    """401 for a webhook we cannot trust; 503 when our side cannot act now, so it is retried."""

    @app.exception_handler(SignatureRejected)
    async def rejected(request: Request, exc: SignatureRejected) -> JSONResponse:
        return _error(401, str(exc))

    @app.exception_handler(RPCError)
    async def workflow_service_down(request: Request, exc: RPCError) -> JSONResponse:
        return _error(503, f"workflow service: {exc.message}")

    @app.exception_handler(MercadoPagoError)
    async def payments_api_down(request: Request, exc: MercadoPagoError) -> JSONResponse:
        return _error(503, str(exc))


def _stripe_router(settings: ApiSettings, ingress: Ingress) -> APIRouter:
    """Stripe's webhook: the signed body carries the whole event."""
    router = APIRouter()

    @router.post("/webhooks/stripe")
    async def stripe_webhook(request: Request) -> JSONResponse:
        body = await request.body()
        secret = _required(settings.stripe_webhook_secret, "STRIPE_WEBHOOK_SECRET")
        verify_stripe(body, request.headers.get(STRIPE_HEADER), secret, settings.tolerance_s)
        try:
            event = parse_stripe_event(_json_object(body))
        except (BodyError, StripeEventError) as exc:
            return await _unreadable(ingress, STRIPE, body, str(exc))
        return _answer(await ingress.accept(event))

    return router


def _mercadopago_router(
    settings: ApiSettings, ingress: Ingress, mercadopago: MercadoPagoApi | None
) -> APIRouter:
    """Mercado Pago's webhook: only the payment id is signed, so the payment itself is fetched."""
    router = APIRouter()

    @router.post("/webhooks/mercadopago")
    async def mercadopago_webhook(request: Request) -> JSONResponse:
        body = await request.body()
        secret = _required(settings.mercadopago_webhook_secret, "MERCADOPAGO_WEBHOOK_SECRET")
        try:
            notification = _json_object(body)
        except BodyError:
            notification = {}
        data = notification.get("data")
        body_id = data.get("id") if isinstance(data, dict) else None
        data_id = request.query_params.get("data.id") or (str(body_id) if body_id else None)
        verify_mercadopago(
            request.headers.get(MERCADOPAGO_HEADER),
            data_id=data_id,
            request_id=request.headers.get(MERCADOPAGO_REQUEST_ID),
            secret=secret,
            tolerance_s=settings.tolerance_s,
        )
        kind = notification.get("type") or request.query_params.get("type") or ""
        if kind != "payment" or not data_id:
            return JSONResponse({"outcome": "ignored", "detail": f"{kind or 'no'} type"}, 200)
        if mercadopago is None:
            return _error(503, "COBRANZA_MERCADOPAGO_ACCESS_TOKEN is not set: cannot fetch")
        return await _accept_payment(ingress, mercadopago, body, notification, data_id)

    return router


async def _accept_payment(
    ingress: Ingress,
    mercadopago: MercadoPagoApi,
    body: bytes,
    notification: dict[str, Any],
    data_id: str,
) -> JSONResponse:
    """Fetch the notified payment and apply it; one that cannot be read is kept for a person."""
    event_id = notification_event_id(notification, data_id)
    action = str(notification.get("action") or "payment")
    try:
        payment = await mercadopago.payment(data_id)
        event = payment_event(payment_state_id(payment, data_id), action, payment)
    except MercadoPagoError as exc:
        if exc.transient:
            raise
        return await _unreadable(ingress, MERCADOPAGO, body, str(exc), event_id)
    except PaymentDataError as exc:
        return await _unreadable(ingress, MERCADOPAGO, body, str(exc), event_id)
    return _answer(await ingress.accept(event))


def _required(secret: str | None, name: str) -> str:
    if not secret:
        raise SignatureRejected(f"COBRANZA_{name} is not set: no webhook can be verified")
    return secret


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BodyError(f"body: not JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise BodyError("body: expected a JSON object")
    return parsed


async def _unreadable(
    ingress: Ingress, provider: str, body: bytes, reason: str, key: str | None = None
) -> JSONResponse:
    """A signed event we cannot apply is kept for a person, keyed so a redelivery adds nothing."""
    text = body.decode("utf-8", errors="replace")
    intake = await ingress.exceptions.queue(
        provider=provider,
        key=key or f"sha256:{hashlib.sha256(body).hexdigest()}",
        reason=f"unreadable {provider} event: {reason}",
        payload={"body": text},
    )
    return JSONResponse({"outcome": "queued", "detail": reason + intake.note()}, 202)


def _answer(receipt: Receipt) -> JSONResponse:
    return JSONResponse(receipt.model_dump(mode="json"), status_code=receipt.status_code)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
