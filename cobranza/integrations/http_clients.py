"""REST adapters for the payment gateway, CRM and ERP, sharing one error and idempotency rule."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx

from cobranza.domain.effects import PaymentLink
from cobranza.domain.invoice import InvoiceStatus
from cobranza.domain.money import Money
from cobranza.integrations.errors import (
    IdempotencyConflict,
    IntegrationError,
    PermanentIntegrationError,
    TransientIntegrationError,
)
from cobranza.integrations.protocols import CrmTaskKind, ErpPostingKind

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
# Besides 5xx: 408 and 429 mean "not now", so a later attempt can succeed.
_RETRYABLE_4XX = frozenset({408, 429})


class JsonApi:
    """One pooled `httpx.AsyncClient` per adapter instance; maps failures to integration errors."""

    system = "http"

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def post_json(
        self, path: str, payload: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        """POST a JSON body under an idempotency key and return the JSON object answered."""
        try:
            response = await self._client.post(
                path, json=payload, headers={IDEMPOTENCY_HEADER: idempotency_key}
            )
        except httpx.TimeoutException as exc:
            raise TransientIntegrationError(self.system, f"POST {path} timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise TransientIntegrationError(self.system, f"POST {path} failed: {exc!r}") from exc
        if response.is_success:
            return self._json_object(path, response)
        raise self._error(path, response)

    def _json_object(self, path: str, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientIntegrationError(
                self.system, f"POST {path} answered {response.status_code} without JSON"
            ) from exc
        if not isinstance(body, dict):
            raise TransientIntegrationError(
                self.system, f"POST {path} answered a JSON {type(body).__name__}, not an object"
            )
        return body

    def _error(self, path: str, response: httpx.Response) -> IntegrationError:
        status = response.status_code
        code, detail = _error_detail(response)
        message = f"POST {path} answered {status}: {detail}"
        if status >= 500 or status in _RETRYABLE_4XX:
            return TransientIntegrationError(self.system, message, status_code=status)
        if status == 409 and code == "idempotency_key_in_use":
            # Stripe's answer while the first request with this key is still running.
            return TransientIntegrationError(self.system, message, status_code=status)
        if status == 409:
            return IdempotencyConflict(self.system, message, status_code=status)
        return PermanentIntegrationError(self.system, message, status_code=status)


def _error_detail(response: httpx.Response) -> tuple[str, str]:
    """The error code and message of a Stripe-style `{"error": {...}}` body, or the raw text."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:500] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code", "")), str(error.get("message", error))
    return "", str(body)[:500]


def _money(amount: Money) -> dict[str, Any]:
    return {"minor": amount.minor, "currency": amount.currency}


class HttpGateway(JsonApi):
    """A `PaymentGateway` over a Stripe-like REST API."""

    system = "gateway"

    async def create_payment_link(
        self, invoice_id: str, customer_id: str, amount: Money, idempotency_key: str
    ) -> PaymentLink:
        body = await self.post_json(
            "/gateway/v1/payment_links",
            {"invoice_id": invoice_id, "customer_id": customer_id, "amount": _money(amount)},
            idempotency_key,
        )
        return PaymentLink(url=str(body["url"]), link_id=str(body["id"]))


class HttpCrm(JsonApi):
    """A `Crm` over a generic REST API."""

    system = "crm"

    async def create_task(
        self,
        idempotency_key: str,
        customer_id: str,
        invoice_id: str,
        kind: CrmTaskKind,
        title: str,
        body: str = "",
    ) -> str:
        answer = await self.post_json(
            "/crm/tasks",
            {
                "customer_id": customer_id,
                "invoice_id": invoice_id,
                "kind": kind,
                "title": title,
                "body": body,
            },
            idempotency_key,
        )
        return str(answer["id"])


class HttpErp(JsonApi):
    """An `Erp` over a generic REST API."""

    system = "erp"

    async def post(
        self,
        idempotency_key: str,
        invoice_id: str,
        customer_id: str,
        kind: ErpPostingKind,
        status: InvoiceStatus,
        amount: Money | None,
        payment_id: str | None,
        outstanding: Money,
    ) -> str:
        answer = await self.post_json(
            "/erp/postings",
            {
                "invoice_id": invoice_id,
                "customer_id": customer_id,
                "kind": kind,
                "status": status.value,
                "amount": None if amount is None else _money(amount),
                "payment_id": payment_id,
                "outstanding": _money(outstanding),
            },
            idempotency_key,
        )
        return str(answer["id"])
