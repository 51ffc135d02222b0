"""From a verified gateway event to the invoice workflow: dedupe, route, signal or queue.

Order of work for one event: claim its id in the store (a finished id is a duplicate and changes
nothing), find the invoice, signal its workflow, then mark the id finished. Whatever cannot be
applied to a running invoice (no invoice named, no such workflow, money for a closed invoice,
a refund) goes to the exceptions queue for a person, so nothing that arrived is lost: with a
CRM task, and with the payer's open invoices held when the money names a known customer (see
exception_intake.py). A fault of our own (the workflow service unreachable) propagates: the
gateway gets a 5xx and retries, and the unfinished claim lets that retry act.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from cobranza.api.events import EventAction, GatewayEvent
from cobranza.api.exception_intake import BACKLOG_PER_WEBHOOK, SOURCE_PREFIX, ExceptionIntake
from cobranza.domain.charges import PaymentMethodAdded, PaymentSettled
from cobranza.domain.invoice import DisputeRequest, PaymentFailed, PaymentReceived
from cobranza.integrations.http_clients import HttpCrm
from cobranza.store import money_in
from cobranza.store.store import Store
from cobranza.store.webhooks import (
    EventStatus,
    claim_event,
    ensure_webhook_tables,
    finish_event,
    remember_refs,
    workflow_for_refs,
)
from cobranza.workflows import search_attributes as sa
from cobranza.workflows.invoice import InvoiceCollectionWorkflow

ACTOR = "gateway webhook"
# Events that move money or contest it: queued, they hold the payer's reminders. A failed
# attempt or a payment method moves nothing, so they only get the task.
MONEY_ACTIONS = frozenset({EventAction.PAYMENT_RECEIVED, EventAction.REFUND, EventAction.DISPUTE})


class Receipt(BaseModel):
    """The answer to one delivery: HTTP status, what happened, and to which invoice."""

    status_code: int
    outcome: str
    event: str
    workflow_id: str | None = None
    detail: str = ""


class Ingress:
    """Applies gateway events to invoice workflows through the Temporal client.

    `crm` opens a task per queued exception; without one (tests, benchmarks) none is opened.
    """

    def __init__(
        self,
        client: Client,
        store: Store,
        default_tenant: str = "default",
        crm: HttpCrm | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.default_tenant = default_tenant
        self.exceptions = ExceptionIntake(store, client, crm)
        ensure_webhook_tables(store)

    async def accept(self, event: GatewayEvent) -> Receipt:
        row = await asyncio.to_thread(
            claim_event,
            self.store,
            provider=event.provider,
            event_id=event.event_id,
            event_type=event.event_type,
            received_at=datetime.now(UTC),
        )
        if EventStatus(row.status).is_final:
            if row.status == EventStatus.QUEUED:
                # The CRM may have been down the first time: this event's task first.
                own = await asyncio.to_thread(
                    money_in.exception_by_key,
                    self.store,
                    f"{SOURCE_PREFIX}{event.provider}",
                    event.event_id,
                )
                await self.exceptions.open_tasks(first=own, backlog=BACKLOG_PER_WEBHOOK)
            return Receipt(
                status_code=200,
                outcome="duplicate",
                event=event.key,
                workflow_id=row.workflow_id,
                detail=f"already {row.status} ({row.deliveries} deliveries)",
            )
        status, workflow_id, detail = await self._act(event)
        await asyncio.to_thread(
            finish_event,
            self.store,
            provider=event.provider,
            event_id=event.event_id,
            status=status,
            finished_at=datetime.now(UTC),
            workflow_id=workflow_id,
            detail=detail,
        )
        return Receipt(
            status_code=202 if status is EventStatus.QUEUED else 200,
            outcome=status.value,
            event=event.key,
            workflow_id=workflow_id,
            detail=detail,
        )

    async def _act(self, event: GatewayEvent) -> tuple[EventStatus, str | None, str]:
        if event.action is EventAction.IGNORE:
            return EventStatus.IGNORED, None, f"{event.event_type} needs no action"
        if event.action is EventAction.METHOD_ADDED:
            return await self._method_added(event)
        workflow_id = event.invoice.resolve(self.default_tenant) or await asyncio.to_thread(
            workflow_for_refs, self.store, provider=event.provider, refs=event.refs
        )
        if workflow_id is None:
            return await self._queue(
                event, None, "the event names no invoice (invoice_id, tenant or workflow_id)"
            )
        if event.action is EventAction.REFUND:
            return await self._queue(event, workflow_id, f"{event.reason}: review what is owed")
        try:
            await self._signal(workflow_id, event)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return await self._not_running(event, workflow_id)
        await asyncio.to_thread(
            remember_refs,
            self.store,
            provider=event.provider,
            refs=event.refs,
            workflow_id=workflow_id,
        )
        return EventStatus.SIGNALLED, workflow_id, f"{event.action.value} signalled"

    async def _signal(self, workflow_id: str, event: GatewayEvent) -> None:
        handle = self.client.get_workflow_handle(workflow_id)
        if event.action is EventAction.PAYMENT_RECEIVED:
            assert event.payment_id is not None and event.amount is not None
            payment = PaymentReceived(
                payment_id=event.payment_id,
                amount=event.amount,
                received_at=event.happened_at,
                method=event.method,
                reference=event.key,
            )
            await handle.signal(InvoiceCollectionWorkflow.payment_received, payment)
        elif event.action is EventAction.PAYMENT_SETTLED:
            assert event.payment_id is not None and event.succeeded is not None
            settled = PaymentSettled(
                # The workflow holds the gateway's own intent id, as the charge answer gave it.
                payment_id=event.payment_id.removeprefix(f"{event.provider}:"),
                succeeded=event.succeeded,
                settled_at=event.happened_at,
                decline=event.decline,
            )
            await handle.signal(InvoiceCollectionWorkflow.payment_settled, settled)
        elif event.action is EventAction.PAYMENT_FAILED:
            assert event.payment_id is not None
            failure = PaymentFailed(
                attempt_id=event.payment_id, failed_at=event.happened_at, reason=event.reason
            )
            await handle.signal(InvoiceCollectionWorkflow.payment_failed, failure)
        else:
            dispute = DisputeRequest(actor=f"{event.provider} {ACTOR}", reason=event.reason)
            await handle.signal(InvoiceCollectionWorkflow.open_dispute_signal, dispute)

    async def _not_running(
        self, event: GatewayEvent, workflow_id: str
    ) -> tuple[EventStatus, str | None, str]:
        """The workflow is gone or finished: a stale event, or money a person must place."""
        try:
            described = await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return await self._queue(event, None, f"no invoice workflow {workflow_id}")
        closed = _closed_name(described.status)
        if event.action is EventAction.PAYMENT_SETTLED and not event.succeeded:
            return EventStatus.IGNORED, workflow_id, f"invoice {closed}: a late failure is stale"
        if event.action is EventAction.PAYMENT_FAILED:
            return EventStatus.IGNORED, workflow_id, f"invoice {closed}: a late failure is stale"
        if event.action in (EventAction.PAYMENT_RECEIVED, EventAction.PAYMENT_SETTLED):
            known = await asyncio.to_thread(self.store.payments, workflow_id)
            if any(p.payment_id == event.payment_id for p in known):
                return EventStatus.IGNORED, workflow_id, f"{event.payment_id} already applied"
            return await self._queue(event, workflow_id, f"payment for an invoice {closed}")
        return await self._queue(event, workflow_id, f"{event.reason} on an invoice {closed}")

    async def _method_added(self, event: GatewayEvent) -> tuple[EventStatus, str | None, str]:
        """Signal payment_method_added to each open autopay invoice of the customer (L-06).

        The invoices are found by Temporal visibility (CustomerId and Tenant search attributes
        of running invoice workflows), not the store: only a running workflow can charge, the
        workflow itself is the authority on autopay (its status query), and the store's
        snapshot of an invoice may lag its workflow. A customer with none is queued for a person.
        """
        assert event.customer_id is not None and event.payment_method is not None
        tenant = event.invoice.tenant or self.default_tenant
        query = (
            f"WorkflowType = '{InvoiceCollectionWorkflow.__name__}'"
            f" AND ExecutionStatus = 'Running'"
            f" AND {sa.CUSTOMER_ID.name} = {_quoted(event.customer_id)}"
            f" AND {sa.TENANT.name} = {_quoted(tenant)}"
        )
        added = PaymentMethodAdded(method=event.payment_method, added_at=event.happened_at)
        signalled: list[str] = []
        skipped: list[str] = []  # running, but not on autopay or already settled
        async for execution in self.client.list_workflows(query):
            handle = self.client.get_workflow_handle(execution.id)
            try:
                view = await handle.query(InvoiceCollectionWorkflow.status)
                if view.autopay is None or view.status.is_closed:
                    skipped.append(execution.id)
                    continue
                await handle.signal(InvoiceCollectionWorkflow.payment_method_added, added)
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                continue  # closed between the listing and the signal: nothing to charge
            signalled.append(execution.id)
        if not signalled:
            return await self._queue(
                event,
                None,
                f"payment method {event.payment_method.method_id} for customer "
                f"{event.customer_id} (tenant {tenant}): no open invoice on autopay"
                + (f" ({len(skipped)} other running: {', '.join(skipped)})" if skipped else ""),
            )
        return (
            EventStatus.SIGNALLED,
            ",".join(signalled),
            f"method_added signalled to {len(signalled)} invoice(s)",
        )

    async def _queue(
        self, event: GatewayEvent, workflow_id: str | None, reason: str
    ) -> tuple[EventStatus, str | None, str]:
        tenant, customer_id = await asyncio.to_thread(self._payer, event, workflow_id)
        intake = await self.exceptions.queue(
            provider=event.provider,
            key=event.event_id,
            reason=reason,
            amount=event.amount,
            reference=event.payment_id or event.invoice.invoice_id,
            customer_id=customer_id,
            tenant=tenant,
            payload={"workflow_id": workflow_id, **event.model_dump(mode="json")},
        )
        return EventStatus.QUEUED, workflow_id, reason + intake.note()

    def _payer(self, event: GatewayEvent, workflow_id: str | None) -> tuple[str | None, str | None]:
        """Tenant and customer of queued money: the invoice's owner, else its metadata's."""
        tenant = event.invoice.tenant or (None if workflow_id else self.default_tenant)
        moves_money = event.action in MONEY_ACTIONS or (
            event.action is EventAction.PAYMENT_SETTLED and bool(event.succeeded)
        )
        if not moves_money:
            return tenant, None
        invoice = self.store.get_invoice(workflow_id) if workflow_id else None
        if invoice is not None:
            return invoice.tenant, invoice.customer_id
        if event.customer_id is None:
            return tenant, None
        return tenant or self.default_tenant, event.customer_id


def _quoted(value: str) -> str:
    """A visibility query string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _closed_name(status: WorkflowExecutionStatus | None) -> str:
    if status is None:
        return "in an unknown state"
    if status is WorkflowExecutionStatus.RUNNING:
        return "running"
    return f"closed ({status.name.lower()})"
