"""Mercado Pago: the payments API client and what a payment's status means for its invoice.

A notification only says "payment 123 changed"; the payment itself is fetched from
GET /v1/payments/{id} with the access token, and its `external_reference` names the invoice
(`metadata.tenant` or `metadata.workflow_id` narrow it when present; `metadata.customer_id`
names the payer, held while their money waits in the exceptions queue).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from cobranza.api.events import EventAction, GatewayEvent, InvoiceRef
from cobranza.domain.money import Money

PROVIDER = "mercadopago"
PUBLIC_API_URL = "https://api.mercadopago.com"
ACTIONS_BY_STATUS = {
    "approved": EventAction.PAYMENT_RECEIVED,
    "rejected": EventAction.PAYMENT_FAILED,
    "cancelled": EventAction.PAYMENT_FAILED,
    "in_mediation": EventAction.DISPUTE,
    "charged_back": EventAction.REFUND,
    "refunded": EventAction.REFUND,
}


class MercadoPagoError(RuntimeError):
    """The payments API could not answer; `transient` when asking again later may work."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class PaymentDataError(ValueError):
    """A payment the API returned that cannot be read: names the field and the reason."""


class MercadoPagoApi:
    """GET /v1/payments/{id} over an httpx client the caller owns."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, access_token: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._token = access_token

    async def payment(self, payment_id: str) -> dict[str, Any]:
        url = f"{self._base}/v1/payments/{payment_id}"
        try:
            response = await self._http.get(url, headers={"Authorization": f"Bearer {self._token}"})
        except httpx.HTTPError as exc:
            raise MercadoPagoError(f"GET {url}: {exc!r}", transient=True) from exc
        if response.status_code != 200:
            raise MercadoPagoError(
                f"GET {url}: HTTP {response.status_code} {response.text[:200]}",
                transient=response.status_code >= 500 or response.status_code == 429,
            )
        # Amounts are JSON numbers: read them as Decimal so no float ever holds money.
        body = json.loads(response.content, parse_float=Decimal)
        if not isinstance(body, dict):
            raise PaymentDataError(f"GET {url}: expected a payment object")
        return body


def notification_event_id(body: dict[str, Any], data_id: str) -> str:
    """The notification's own id when it has one, else its action and resource."""
    own = body.get("id")
    if isinstance(own, int | str) and str(own):
        return str(own)
    return f"{body.get('action') or body.get('type') or 'notification'}:{data_id}"


def payment_state_id(payment: dict[str, Any], data_id: str) -> str:
    """The event a fetched payment is: this payment in this status.

    Mercado Pago notifies one payment several times, each notification with its own id
    (payment.created, then payment.updated), and every fetch returns the payment as it is now:
    notifications that fetch the same status tell the same thing. Keyed by the notification, the
    money of an unknown invoice, or a refund, would be queued for a person once per notification.
    """
    return f"payment:{payment.get('id') or data_id}:{payment.get('status') or 'unknown'}"


def payment_event(event_id: str, event_type: str, payment: dict[str, Any]) -> GatewayEvent:
    """The GatewayEvent of a fetched payment."""
    if "results" in payment and "paging" in payment:
        raise PaymentDataError(
            "results: a search result list (paging and results), not a payment object;"
            " a payment is read from GET /v1/payments/{id}"
        )
    pay_id = payment.get("id")
    if not isinstance(pay_id, int | str) or not str(pay_id):
        raise PaymentDataError("id: the payment has no id")
    status = str(payment.get("status") or "")
    action = ACTIONS_BY_STATUS.get(status, EventAction.IGNORE)
    raw_meta = payment.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    reference = payment.get("external_reference")
    amount = None
    if action is not EventAction.IGNORE:
        amount = _money(payment, "transaction_amount_refunded" if status == "refunded" else None)
    return GatewayEvent(
        provider=PROVIDER,
        event_id=event_id,
        event_type=event_type,
        action=action,
        invoice=InvoiceRef(
            workflow_id=meta.get("workflow_id") or None,
            tenant=meta.get("tenant") or None,
            invoice_id=str(reference) if reference else None,
        ),
        payment_id=f"{PROVIDER}:{pay_id}",
        customer_id=str(meta.get("customer_id") or "") or None,
        refs=[str(pay_id)],
        amount=amount,
        happened_at=_instant(payment),
        method=str(payment.get("payment_type_id") or "mercadopago"),
        reason=f"payment {pay_id} {status}: {payment.get('status_detail') or ''}".rstrip(": "),
    )


def _money(payment: dict[str, Any], field: str | None) -> Money:
    name = field or "transaction_amount"
    value = payment.get(name)
    currency = payment.get("currency_id")
    if not isinstance(value, Decimal | int) or isinstance(value, bool):
        raise PaymentDataError(f"{name}: expected a decimal amount, got {value!r}")
    if not isinstance(currency, str):
        raise PaymentDataError(f"currency_id: expected a currency code, got {currency!r}")
    try:
        return Money.parse(value, currency)
    except ValueError as exc:
        raise PaymentDataError(f"{name}: {exc}") from None


def _instant(payment: dict[str, Any]) -> datetime:
    for name in ("date_approved", "date_last_updated", "date_created"):
        value = payment.get(name)
        if isinstance(value, str) and value:
            try:
                at = datetime.fromisoformat(value)
            except ValueError:
                raise PaymentDataError(f"{name}: {value!r} is not an ISO 8601 instant") from None
            if at.tzinfo is None:
                raise PaymentDataError(f"{name}: {value!r} has no UTC offset")
            return at
    raise PaymentDataError("date_created: the payment has no date")
