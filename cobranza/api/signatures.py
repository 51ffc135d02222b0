"""Webhook signature schemes of the gateways: Stripe's and Mercado Pago's, checked and produced.

Stripe signs `<t>.<raw body>` with HMAC-SHA256 and sends `Stripe-Signature: t=<t>,v1=<hex>`;
the official `stripe` package checks it (constant-time compare, tolerance window). Mercado Pago
sends `x-signature: ts=<ts>,v1=<hex>`, an HMAC-SHA256 of the manifest
`id:<data.id>;request-id:<x-request-id>;ts:<ts>;`, where data.id comes from the notification
URL's query string (lower-cased when alphanumeric) and a part whose value is absent is left out.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import stripe

STRIPE_HEADER = "Stripe-Signature"
MERCADOPAGO_HEADER = "x-signature"
MERCADOPAGO_REQUEST_ID = "x-request-id"
DEFAULT_TOLERANCE_S = 300


class SignatureRejected(ValueError):
    """A webhook whose signature is missing, malformed, wrong or too old; answered with 401."""


def verify_stripe(
    payload: bytes, header: str | None, secret: str, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> None:
    """Raise SignatureRejected unless the header signs this exact body within the tolerance."""
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=tolerance_s)
    except stripe.SignatureVerificationError as exc:
        raise SignatureRejected(f"{STRIPE_HEADER}: {exc.user_message or exc}") from None
    # The stripe package refuses old timestamps only; one from the future is as suspect.
    timestamp = _stripe_timestamp(header or "")
    if timestamp > time.time() + tolerance_s:
        raise SignatureRejected(f"{STRIPE_HEADER}: timestamp {timestamp} is in the future")


def sign_stripe(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header a gateway would send for this body (sandbox, tests, bench)."""
    return str(
        stripe.WebhookSignature.generate_signature_header(
            payload.decode("utf-8"), secret, timestamp=timestamp
        )
    )


def _stripe_timestamp(header: str) -> int:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            return int(value)
    raise SignatureRejected(f"{STRIPE_HEADER}: no t=<timestamp> part")


def mercadopago_manifest(data_id: str | None, request_id: str | None, ts: str) -> str:
    """The text Mercado Pago signs; parts whose value the notification lacks are left out."""
    parts = []
    if data_id:
        parts.append(f"id:{data_id.lower() if data_id.isalnum() else data_id};")
    if request_id:
        parts.append(f"request-id:{request_id};")
    parts.append(f"ts:{ts};")
    return "".join(parts)


def verify_mercadopago(
    header: str | None,
    *,
    data_id: str | None,
    request_id: str | None,
    secret: str,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Raise SignatureRejected unless x-signature signs this notification within the tolerance."""
    if not header:
        raise SignatureRejected(f"{MERCADOPAGO_HEADER}: header missing")
    fields = dict(part.strip().partition("=")[::2] for part in header.split(","))
    ts, given = fields.get("ts", ""), fields.get("v1", "")
    if not ts.isdigit() or not given:
        raise SignatureRejected(f"{MERCADOPAGO_HEADER}: expected ts=<timestamp>,v1=<hex>")
    expected = _hmac_hex(secret, mercadopago_manifest(data_id, request_id, ts))
    if not hmac.compare_digest(expected, given.lower()):
        raise SignatureRejected(f"{MERCADOPAGO_HEADER}: signature does not match the manifest")
    seconds = _mercadopago_seconds(int(ts))
    current = time.time() if now is None else now
    if abs(current - seconds) > tolerance_s:
        raise SignatureRejected(
            f"{MERCADOPAGO_HEADER}: timestamp {ts} is outside the {tolerance_s} s tolerance"
        )


def sign_mercadopago(
    secret: str, *, data_id: str | None, request_id: str | None, ts: int | None = None
) -> str:
    """The x-signature header Mercado Pago would send (sandbox, tests, bench)."""
    stamp = str(int(time.time()) if ts is None else ts)
    return f"ts={stamp},v1={_hmac_hex(secret, mercadopago_manifest(data_id, request_id, stamp))}"


def _mercadopago_seconds(ts: int) -> float:
    # Mercado Pago has sent ts in seconds and, in some products, in milliseconds.
    return ts / 1000 if ts > 10**11 else float(ts)


def _hmac_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
