"""The effects an invoice lifecycle asks for: ERP postings and CRM tasks, none of them fatal."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, NamedTuple

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from cobranza.activities import names
    from cobranza.domain.effects import (
        CrmTaskReceipt,
        CrmTaskRequest,
        ErpPosting,
        ErpReceipt,
        Recording,
    )
    from cobranza.domain.invoice import InvoiceStatus, PaymentReceived, TimelineKind
    from cobranza.domain.lifecycle import Lifecycle
    from cobranza.domain.money import Money
    from cobranza.domain.views import CollectionInput

ACTIVITY_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["PermanentIntegrationError"],
)


class ErpNote(NamedTuple):
    """What a handler asks to tell the ERP once the workflow runs its effects."""

    kind: Literal["payment", "credit_note"]
    key: str  # unique within the invoice: the posting's idempotency key ends with it
    summary: str
    amount: Money
    payment: PaymentReceived | None = None

    @classmethod
    def of_payment(cls, payment: PaymentReceived) -> ErpNote:
        summary = f"Post payment {payment.payment_id} ({payment.amount}) to the ERP"
        key = f"payment-{payment.payment_id}"
        return cls("payment", key, summary, payment.amount, payment)


class InvoiceEffects:
    """Runs the effects InvoiceCollectionWorkflow and its handlers queue; it supplies the state."""

    _input: CollectionInput
    _life: Lifecycle
    _erp_queue: list[ErpNote]
    _crm_queue: list[CrmTaskRequest]

    # Declared for the type checker only: at run time a stub could shadow the real method
    # that a later base of InvoiceCollectionWorkflow supplies (SupportActions._task, say).
    if TYPE_CHECKING:

        def _now(self) -> datetime: ...

        def _rec(self) -> Recording: ...

        def _task(self, kind: str, title: str, body: str) -> CrmTaskRequest: ...

    async def _effect(
        self, name: str, req: BaseModel, result: type[BaseModel], summary: str
    ) -> bool:
        """Run an effect; a permanent failure is recorded for people to act on, never fatal.

        Transient faults are retried by Temporal without limit; what reaches here is a fault
        that retrying cannot fix (a 4xx, a refused record), and the lifecycle must go on.
        """
        try:
            await workflow.execute_activity(
                name,
                req,
                result_type=result,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
                summary=summary,
            )
        except ActivityError as exc:
            reason = str(exc.cause) if exc.cause is not None else str(exc)
            self._life.add(
                TimelineKind.STATE_CHANGE,
                self._now(),
                event="effect_failed",
                effect=name,
                reason=reason,
            )
            return False
        return True

    def _unreachable(self, reason: str) -> None:
        """A message could not go out on any channel: a person must find another way."""
        self._crm_queue.append(
            self._task(
                "collector_call",
                f"No reachable channel for {self._input.invoice.invoice_id}",
                reason,
            )
        )

    async def _open_task(self, kind: str, title: str, body: str, key: str) -> None:
        inv = self._input.invoice
        req = CrmTaskRequest(
            idempotency_key=f"{inv.workflow_id}:{key}",
            customer=inv.customer,
            invoice_id=inv.invoice_id,
            kind=kind,
            title=title,
            body=body,
            recording=self._rec(),
        )
        if await self._effect(names.OPEN_CRM_TASK, req, CrmTaskReceipt, f"CRM task: {title}"):
            self._life.mark_recorded(req.recording)

    async def _post_erp(
        self,
        kind: str,
        status: InvoiceStatus,
        *,
        key: str,
        summary: str,
        payment: PaymentReceived | None = None,
        amount: Money | None = None,
    ) -> None:
        inv, life = self._input.invoice, self._life
        req = ErpPosting(
            idempotency_key=f"{inv.workflow_id}:{key}",
            invoice_id=inv.invoice_id,
            customer_id=inv.customer.customer_id,
            kind=kind,
            status=status,
            amount=amount,
            payment_id=payment.payment_id if payment else None,
            payment=payment,
            outstanding=life.outstanding,
            recording=self._rec(),
        )
        if await self._effect(names.POST_TO_ERP, req, ErpReceipt, summary):
            life.mark_recorded(req.recording)

    async def _flush_effects(self) -> None:
        """Perform what signal and update handlers asked for, in the order they asked."""
        while self._erp_queue or self._crm_queue:
            if self._erp_queue:
                note = self._erp_queue.pop(0)
                await self._post_erp(
                    note.kind,
                    self._life.state.status,
                    key=note.key,
                    summary=note.summary,
                    payment=note.payment,
                    amount=note.amount,
                )
            if self._crm_queue:
                req = self._crm_queue.pop(0).model_copy(update={"recording": self._rec()})
                if await self._effect(
                    names.OPEN_CRM_TASK, req, CrmTaskReceipt, f"CRM task: {req.title}"
                ):
                    self._life.mark_recorded(req.recording)
