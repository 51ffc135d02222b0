"""Activities of recurring billing: read invoices' progress from the server, switch the service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from cobranza.activities import names
from cobranza.domain.billing import (
    InvoiceCheck,
    InvoiceCheckResult,
    InvoiceProgress,
    ServiceReceipt,
    ServiceRequest,
)
from cobranza.domain.invoice import InvoiceStatus
from cobranza.integrations.erp_services import ServiceControl
from cobranza.integrations.errors import PermanentIntegrationError
from cobranza.workflows import search_attributes as sa


@dataclass
class SubscriptionActivities:
    """Built once per worker: the Temporal client to read invoices, the ERP to switch services."""

    client: Client
    services: ServiceControl

    def all(self) -> list[Callable[..., Any]]:
        return [self.check_invoices, self.suspend_service, self.restore_service]

    @activity.defn(name=names.CHECK_INVOICES)
    async def check_invoices(self, req: InvoiceCheck) -> InvoiceCheckResult:
        """Status and dunning level of each invoice, as its workflow last published them.

        Read from the server's record of each workflow (its search attributes), which needs no
        worker to replay the invoice and no change to the invoice workflow.
        """
        return InvoiceCheckResult(progress=[await self._progress(i) for i in req.workflow_ids])

    async def _progress(self, workflow_id: str) -> InvoiceProgress:
        try:
            desc = await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return InvoiceProgress(
                    workflow_id=workflow_id, found=False, running=False, status=None
                )
            raise
        attrs = desc.typed_search_attributes
        status = attrs.get(sa.INVOICE_STATUS)
        return InvoiceProgress(
            workflow_id=workflow_id,
            running=desc.status == WorkflowExecutionStatus.RUNNING,
            status=InvoiceStatus(status) if status else None,
            dunning_level=attrs.get(sa.DUNNING_LEVEL) or 0,
        )

    @activity.defn(name=names.SUSPEND_SERVICE)
    async def suspend_service(self, req: ServiceRequest) -> ServiceReceipt:
        return await self._switch("suspend", req)

    @activity.defn(name=names.RESTORE_SERVICE)
    async def restore_service(self, req: ServiceRequest) -> ServiceReceipt:
        return await self._switch("restore", req)

    async def _switch(
        self, action: Literal["suspend", "restore"], req: ServiceRequest
    ) -> ServiceReceipt:
        try:
            return await self.services.switch(
                action,
                req.service_id,
                req.idempotency_key,
                customer_id=req.customer_id,
                invoice_id=req.invoice_id,
                period=req.period,
                reason=req.reason,
            )
        except PermanentIntegrationError as exc:
            raise ApplicationError(
                str(exc), type="PermanentIntegrationError", non_retryable=True
            ) from exc
