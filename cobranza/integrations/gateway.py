"""The card gateway adapter: charges a method on file through a Stripe-compatible API (httpx).

Why httpx and not the `stripe` package: the project already maps HTTP failures to retryable
and permanent integration errors in one place (`JsonApi`), the adapter is async like the
activities, and the wire format it needs (form-encoded payment intents, `Idempotency-Key`,
402 card errors) is small. Pointing the `stripe` package at the sandbox works too
(`api_base`), but would add a second HTTP stack and its own retry logic behind our backs.

A decline is data (`ChargeOutcome` with a `Decline`); a transient fault (5xx, 408, 429,
timeout, connection) raises `TransientIntegrationError`; any other 4xx raises a
`PermanentIntegrationError` (`IdempotencyConflict` when a key is reused with other parameters).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from cobranza.domain.charges import ChargeOutcome, ChargeRequest, ChargeStatus, PaymentMethod
from cobranza.domain.declines import CardNetwork, Decline
from cobranza.domain.invoice import Invoice
from cobranza.domain.local_methods import CollectionAccounts, PaymentReference, local_reference
from cobranza.domain.money import chargeable_exactly, inexact_charge_reason
from cobranza.integrations.errors import (
    IdempotencyConflict,
    IntegrationError,
    PermanentIntegrationError,
    TransientIntegrationError,
)
from cobranza.integrations.http_clients import IDEMPOTENCY_HEADER, JsonApi
from cobranza.integrations.protocols import ChargeGateway

SANDBOX_API_KEY = "sk_test_cobranza_sandbox"
STRIPE_API_BASE = "https://api.stripe.com"
_NETWORKS = {n.value: n for n in CardNetwork}
_RETRYABLE_4XX = frozenset({408, 429})


class StripeGateway(JsonApi):
    """A `ChargeGateway` over Stripe's payment intents API, or the sandbox that emulates it."""

    system = "gateway"

    def __init__(
        self,
        api_base: str = STRIPE_API_BASE,
        api_key: str = SANDBOX_API_KEY,
        *,
        accounts: CollectionAccounts | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(api_base, timeout=timeout, transport=transport)
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self.accounts = accounts

    @classmethod
    def for_sandbox(cls, http_url: str, **kwargs: Any) -> StripeGateway:
        """The adapter pointed at a running sandbox (its emulator lives under /gateway)."""
        return cls(f"{http_url.rstrip('/')}/gateway", SANDBOX_API_KEY, **kwargs)

    async def charge(self, request: ChargeRequest) -> ChargeOutcome:
        """Create and confirm one payment intent under the request's idempotency key."""
        method = request.method or await self._default_method(request.customer_id)
        if method is None:
            return ChargeOutcome(
                attempt=request.attempt,
                idempotency_key=request.idempotency_key,
                status=ChargeStatus.NO_PAYMENT_METHOD,
                decline=Decline(code="no_payment_method"),
                at=datetime.now(UTC),
            )
        amount = request.amount
        if not chargeable_exactly(amount):
            # Autopay never asks (AutopayBook.cannot_charge); a caller that does gets no
            # rounding: it would charge more, or leave less than a unit unpaid.
            raise PermanentIntegrationError(self.system, inexact_charge_reason(amount))
        form = {
            "amount": str(amount.minor),
            "currency": request.amount.currency.lower(),
            "customer": request.customer_id,
            "payment_method": method.method_id,
            "confirm": "true",
            "off_session": "true",
            "expand[0]": "payment_method",
            "description": f"Invoice {request.invoice_id}",
            # The webhook ingress routes the intent's events to the lifecycle with these.
            "metadata[workflow_id]": request.workflow_id,
            "metadata[tenant]": request.tenant,
            "metadata[invoice_id]": request.invoice_id,
            "metadata[attempt]": str(request.attempt),
        }
        path = "/v1/payment_intents"
        response = await self._call("POST", path, form, request.idempotency_key)
        body = self._body(path, response)
        if response.status_code == 200:
            return _from_intent(request, body, method)
        error = body.get("error")
        if response.status_code == 402 and isinstance(error, dict):
            return _from_card_error(request, error, method)
        raise self._failure(path, response, body)

    async def payment_methods(self, customer_id: str) -> list[PaymentMethod]:
        """The customer's methods on file, newest first."""
        path = f"/v1/customers/{customer_id}/payment_methods"
        response = await self._call("GET", path)
        body = self._body(path, response)
        if response.status_code != 200:
            raise self._failure(path, response, body)
        return [_method(m) for m in body.get("data", [])]

    async def attach_payment_method(
        self, customer_id: str, method_id: str, idempotency_key: str
    ) -> PaymentMethod:
        """Put a method (or a test token) on the customer's file and return it."""
        path = f"/v1/payment_methods/{method_id}/attach"
        response = await self._call("POST", path, {"customer": customer_id}, idempotency_key)
        body = self._body(path, response)
        if response.status_code != 200:
            raise self._failure(path, response, body)
        return _method(body)

    def payment_reference(self, invoice: Invoice) -> PaymentReference | None:
        """A bank-transfer reference for Latin American customers (CLABE, PIX, PSE), or None."""
        if self.accounts is None:
            return None
        return local_reference(invoice, self.accounts)

    async def _default_method(self, customer_id: str) -> PaymentMethod | None:
        methods = await self.payment_methods(customer_id)
        return methods[0] if methods else None

    async def _call(
        self,
        verb: str,
        path: str,
        form: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        headers = dict(self._auth)
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        try:
            return await self._client.request(verb, path, data=form, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientIntegrationError(
                self.system, f"{verb} {path} timed out: {exc!r}"
            ) from exc
        except httpx.TransportError as exc:
            raise TransientIntegrationError(self.system, f"{verb} {path} failed: {exc!r}") from exc

    def _body(self, path: str, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
        if response.status_code >= 500 or response.status_code in _RETRYABLE_4XX:
            return {}
        raise TransientIntegrationError(
            self.system, f"{path} answered {response.status_code} without a JSON object"
        )

    def _failure(
        self, path: str, response: httpx.Response, body: dict[str, Any]
    ) -> IntegrationError:
        status = response.status_code
        found = body.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        kind, code = str(error.get("type", "")), str(error.get("code", ""))
        message = f"{path} answered {status} {kind or 'error'}: {error.get('message', body)}"
        if status >= 500 or status in _RETRYABLE_4XX or code == "idempotency_key_in_use":
            # The last: Stripe's answer while the first request with this key still runs.
            return TransientIntegrationError(self.system, message, status_code=status)
        if kind == "idempotency_error":
            return IdempotencyConflict(self.system, message, status_code=status)
        return PermanentIntegrationError(self.system, message, status_code=status)


def payment_reference(invoice: Invoice, gateway: ChargeGateway) -> PaymentReference | None:
    """What a reminder shows for paying by bank transfer where the customer lives, if anything."""
    return gateway.payment_reference(invoice)


def _method(data: dict[str, Any]) -> PaymentMethod:
    """A Stripe PaymentMethod object as the domain sees it."""
    kind = str(data.get("type", "card"))
    detail = data.get(kind) or {}
    brand = str(detail.get("brand", "")).lower()
    return PaymentMethod(
        method_id=str(data["id"]),
        fingerprint=str(detail.get("fingerprint") or data["id"]),
        network=_NETWORKS.get(brand, CardNetwork.OTHER),
        kind=kind,
    )


def _method_of(intent: dict[str, Any], asked: PaymentMethod) -> PaymentMethod:
    expanded = intent.get("payment_method")
    return _method(expanded) if isinstance(expanded, dict) else asked


def _answered_at(intent: dict[str, Any]) -> datetime:
    # The intent's own creation time: a replayed answer yields the very same outcome.
    created = intent.get("created")
    return datetime.fromtimestamp(int(created), UTC) if created else datetime.now(UTC)


def _from_intent(
    request: ChargeRequest, intent: dict[str, Any], asked: PaymentMethod
) -> ChargeOutcome:
    status = intent.get("status")
    method = _method_of(intent, asked)
    common: dict[str, Any] = {
        "attempt": request.attempt,
        "idempotency_key": request.idempotency_key,
        "payment_id": str(intent["id"]),
        "method": method,
        "at": _answered_at(intent),
    }
    if status == "succeeded":
        return ChargeOutcome(status=ChargeStatus.SUCCEEDED, **common)
    if status == "processing":
        return ChargeOutcome(status=ChargeStatus.PROCESSING, **common)
    # requires_action off session: the customer must authenticate; anything else failed.
    error = intent.get("last_payment_error") or {}
    code = "authentication_required" if status == "requires_action" else None
    return ChargeOutcome(
        status=ChargeStatus.DECLINED, decline=_decline(error, method, code), **common
    )


def _from_card_error(
    request: ChargeRequest, error: dict[str, Any], asked: PaymentMethod
) -> ChargeOutcome:
    intent = error.get("payment_intent") or {}
    method = _method_of(intent, asked)
    if isinstance(error.get("payment_method"), dict):
        method = _method(error["payment_method"])
    return ChargeOutcome(
        attempt=request.attempt,
        idempotency_key=request.idempotency_key,
        status=ChargeStatus.DECLINED,
        payment_id=str(intent["id"]) if intent.get("id") else None,
        method=method,
        decline=_decline(error, method),
        at=_answered_at(intent),
    )


def _decline(error: dict[str, Any], method: PaymentMethod, code: str | None = None) -> Decline:
    return Decline(
        card_id=method.fingerprint,
        network=method.network,
        code=code or error.get("decline_code") or error.get("code") or "generic_decline",
        network_code=error.get("network_decline_code"),
        advice_code=error.get("network_advice_code"),
    )
