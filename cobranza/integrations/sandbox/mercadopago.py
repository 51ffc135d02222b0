"""Emulator of Mercado Pago's payments API: GET /v1/payments/{id} as a webhook receiver calls it.

Tests and benchmarks put a payment in with `POST /mercadopago/payments` (the payment object as
the API returns it, e.g. the official SDK's fixture) and then send the signed notification; the
ingress fetches the payment back from here. The body is stored and served byte for byte, so
amounts keep exactly the decimals they were given. Bearer token: SANDBOX_MERCADOPAGO_TOKEN.
"""

from __future__ import annotations

import json
from decimal import Decimal

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from cobranza.integrations.sandbox.state import SandboxState

SANDBOX_MERCADOPAGO_TOKEN = "TEST-sandbox-mercadopago-token"


def build_router(state: SandboxState) -> APIRouter:
    """The payments resource; its payments live as long as the router (one sandbox run)."""
    router = APIRouter()
    payments: dict[str, bytes] = {}

    @router.post("/mercadopago/payments", status_code=201)
    async def put_payment(request: Request) -> Response:
        raw = await request.body()
        try:
            payment = json.loads(raw, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            return _error(400, "bad_request", f"body: not JSON ({exc})")
        if not isinstance(payment, dict) or not str(payment.get("id") or ""):
            return _error(400, "bad_request", "body: a payment object with an id")
        payments[str(payment["id"])] = raw
        return Response(raw, status_code=201, media_type="application/json")

    @router.get("/v1/payments/{payment_id}")
    async def get_payment(
        payment_id: str, authorization: str | None = Header(default=None)
    ) -> Response:
        if authorization != f"Bearer {SANDBOX_MERCADOPAGO_TOKEN}":
            return _error(401, "unauthorized", "invalid access token")
        raw = payments.get(payment_id)
        if raw is None:
            return _error(404, "not_found", f"Payment not found: {payment_id}")
        return Response(raw, media_type="application/json")

    return router


def _error(status: int, error: str, message: str) -> JSONResponse:
    """Mercado Pago's error shape: message, error, status, cause."""
    return JSONResponse(
        {"message": message, "error": error, "status": status, "cause": []}, status_code=status
    )
