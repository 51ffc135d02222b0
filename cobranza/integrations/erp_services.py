"""The ERP's service switch over REST: suspend a customer's service, restore it, once per key."""

from __future__ import annotations

from typing import Literal, Protocol

from cobranza.domain.billing import ServiceReceipt
from cobranza.integrations.http_clients import JsonApi

ServiceAction = Literal["suspend", "restore"]


class ServiceControl(Protocol):
    async def switch(
        self,
        action: ServiceAction,
        service_id: str,
        idempotency_key: str,
        *,
        customer_id: str,
        invoice_id: str,
        period: int,
        reason: str,
    ) -> ServiceReceipt:
        """Suspend or restore; the same key never acts twice. Raises integration errors."""
        ...


class HttpServiceControl(JsonApi):
    """A `ServiceControl` over `POST /erp/v1/services/{id}/suspend|restore`."""

    system = "erp"

    async def switch(
        self,
        action: ServiceAction,
        service_id: str,
        idempotency_key: str,
        *,
        customer_id: str,
        invoice_id: str,
        period: int,
        reason: str,
    ) -> ServiceReceipt:
        body = await self.post_json(
            f"/erp/v1/services/{service_id}/{action}",
            {
                "customer_id": customer_id,
                "invoice_id": invoice_id,
                "period": period,
                "reason": reason,
            },
            idempotency_key,
        )
        return ServiceReceipt.model_validate(body)
