"""Activities of a collection lifecycle: each performs one effect and records it in the store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from cobranza.activities import names
from cobranza.domain.contact_points import UnreachableAddress, contact_address
from cobranza.domain.creditor import DEMO_CREDITOR, Creditor
from cobranza.domain.effects import (
    CrmTaskReceipt,
    CrmTaskRequest,
    ErpPosting,
    ErpReceipt,
    MessageReceipt,
    MessageRequest,
    PaymentLink,
    PaymentLinkRequest,
)
from cobranza.integrations.errors import IntegrationError, PermanentIntegrationError
from cobranza.integrations.messages import RenderedMessage, render_message
from cobranza.integrations.protocols import (
    Crm,
    Erp,
    Messenger,
    OutboundMessage,
    PaymentGateway,
    SentMessage,
)
from cobranza.store.store import Store

NO_REACHABLE_ADDRESS = "NoReachableAddress"
SEND_WINDOW_MISSED = "SendWindowMissed"


def _permanent(exc: PermanentIntegrationError) -> ApplicationError:
    """A fault that retrying cannot fix; the workflow decides what to do instead."""
    return ApplicationError(str(exc), type="PermanentIntegrationError", non_retryable=True)


def _unreachable(exc: UnreachableAddress) -> ApplicationError:
    """No valid address for the channel: the workflow falls back or reports no reachable channel.

    The details carry the channel, the Customer field, its value and the reason, for the CRM task.
    """
    return ApplicationError(
        str(exc),
        {
            "channel": exc.channel.value,
            "field": exc.field,
            "value": exc.value,
            "reason": exc.reason,
        },
        type=NO_REACHABLE_ADDRESS,
        non_retryable=True,
    )


@dataclass
class CollectionActivities:
    """The outside world as a lifecycle sees it; built once per worker."""

    store: Store
    messenger: Messenger
    gateway: PaymentGateway
    crm: Crm
    erp: Erp
    creditor: Creditor = DEMO_CREDITOR

    def all(self) -> list[Callable[..., Any]]:
        return [self.create_payment_link, self.send_message, self.open_crm_task, self.post_to_erp]

    @activity.defn(name=names.CREATE_PAYMENT_LINK)
    async def create_payment_link(self, req: PaymentLinkRequest) -> PaymentLink:
        inv = req.invoice
        try:
            link = await self.gateway.create_payment_link(
                inv.invoice_id, inv.customer.customer_id, inv.amount, req.idempotency_key
            )
        except PermanentIntegrationError as exc:
            raise _permanent(exc) from exc
        await asyncio.to_thread(self.store.record, req.recording)
        return link

    @activity.defn(name=names.SEND_MESSAGE)
    async def send_message(self, req: MessageRequest) -> MessageReceipt:
        """Send once per dedupe key: a retry after a crash finds the claim and does not resend."""
        address, rendered = self._compose(req)
        duplicate = await self._claim(req, address, rendered)
        if duplicate is not None:
            return duplicate
        late = await self._lateness(req)
        sent = await self._hand_over(req, address, rendered)
        # On the business clock (scheduled_at is the workflow's instant, which a replay of
        # history sets in the past), to within this attempt's own duration.
        sent_at = req.scheduled_at + late
        await asyncio.to_thread(
            self.store.mark_message_sent, req.dedupe_key, sent.provider_message_id, sent_at
        )
        return MessageReceipt(
            dedupe_key=req.dedupe_key,
            provider_message_id=sent.provider_message_id,
            address=address,
            sent_at=sent_at,
            content_sha256=rendered.content_sha256,
        )

    def _compose(self, req: MessageRequest) -> tuple[str, RenderedMessage]:
        """The customer's address on the channel and the message in their locale."""
        customer = req.customer
        try:
            # Only a valid, normalised, consented address may reach a provider.
            address = contact_address(customer, req.channel)
        except UnreachableAddress as exc:
            raise _unreachable(exc) from exc
        try:
            rendered = render_message(
                req.template, customer.locale, customer, req.items, self.creditor, req.channel
            )
        except PermanentIntegrationError as exc:
            raise _permanent(exc) from exc
        return address, rendered

    async def _claim(
        self, req: MessageRequest, address: str, rendered: RenderedMessage
    ) -> MessageReceipt | None:
        """Claim the dedupe key; the receipt of an earlier attempt when one already holds it."""
        earlier = await asyncio.to_thread(self.store.get_message, req.dedupe_key)
        if earlier is not None and earlier.status == "sending":
            # An earlier attempt claimed this message and died after handing it to the provider
            # or just before: at most once, never a second contact the law may not allow. The
            # row stays 'sending' as evidence of an unconfirmed delivery for ops to review.
            return MessageReceipt(
                dedupe_key=req.dedupe_key,
                provider_message_id="unconfirmed",
                address=earlier.address,
                sent_at=req.scheduled_at,
                content_sha256=earlier.content_sha256,
                duplicate=True,
            )
        customer = req.customer
        row = await asyncio.to_thread(
            self.store.begin_message,
            dedupe_key=req.dedupe_key,
            tenant=customer.tenant,
            customer_id=customer.customer_id,
            channel=req.channel.value,
            address=address,
            template=req.template,
            step=req.step,
            invoice_ids=[i.invoice_id for i in req.items],
            scheduled_at=req.scheduled_at,
            content_sha256=rendered.content_sha256,
            recording=req.recording,
            evidence=req.evidence,
        )
        if row.status == "sent" and row.provider_message_id:
            return MessageReceipt(
                dedupe_key=req.dedupe_key,
                provider_message_id=row.provider_message_id,
                address=row.address,
                sent_at=row.sent_at or req.scheduled_at,
                content_sha256=row.content_sha256,
                duplicate=True,
            )
        return None

    async def _lateness(self, req: MessageRequest) -> timedelta:
        """How late this attempt runs; past the send window it frees the claim and gives up."""
        # How long after the lawful instant this attempt runs: the retry delays after a provider
        # refused, and any time the task waited for a worker (none was running, or all were
        # busy). Server time, so it holds in a replay of history too.
        info = activity.info()
        late = max(info.started_time - info.scheduled_time, timedelta(0))
        if req.send_within is not None and late > req.send_within:
            await asyncio.to_thread(self.store.release_message, req.dedupe_key)
            raise ApplicationError(
                f"not sent: this attempt comes {late} after the instant the law allowed, "
                f"more than the {req.send_within} a contact may slip",
                type=SEND_WINDOW_MISSED,
                non_retryable=True,
            )
        return late

    async def _hand_over(
        self, req: MessageRequest, address: str, rendered: RenderedMessage
    ) -> SentMessage:
        """Give the message to the provider, freeing the claim if the provider refuses it."""
        outbound = OutboundMessage(
            dedupe_key=req.dedupe_key,
            channel=req.channel,
            to=address,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html or None,
        )
        try:
            return await self.messenger.send(outbound)
        except IntegrationError as exc:
            # The provider refused it, so nothing went out: free the claim for the retry.
            await asyncio.to_thread(self.store.release_message, req.dedupe_key)
            if isinstance(exc, PermanentIntegrationError):
                raise _permanent(exc) from exc
            raise

    @activity.defn(name=names.OPEN_CRM_TASK)
    async def open_crm_task(self, req: CrmTaskRequest) -> CrmTaskReceipt:
        try:
            task_id = await self.crm.create_task(
                req.idempotency_key,
                req.customer.customer_id,
                req.invoice_id,
                req.kind,
                req.title,
                req.body,
            )
        except PermanentIntegrationError as exc:
            raise _permanent(exc) from exc
        new = await asyncio.to_thread(
            self.store.record_crm_task,
            idempotency_key=req.idempotency_key,
            task_id=task_id,
            tenant=req.customer.tenant,
            customer_id=req.customer.customer_id,
            invoice_id=req.invoice_id,
            kind=req.kind,
            title=req.title,
            created_at=req.recording.snapshot.updated_at,
            recording=req.recording,
        )
        return CrmTaskReceipt(task_id=task_id, duplicate=not new)

    @activity.defn(name=names.POST_TO_ERP)
    async def post_to_erp(self, req: ErpPosting) -> ErpReceipt:
        try:
            posting_id = await self.erp.post(
                req.idempotency_key,
                req.invoice_id,
                req.customer_id,
                req.kind,
                req.status,
                req.amount,
                req.payment_id,
                req.outstanding,
            )
        except PermanentIntegrationError as exc:
            raise _permanent(exc) from exc
        snap = req.recording.snapshot
        new = await asyncio.to_thread(
            self.store.record_erp_posting,
            idempotency_key=req.idempotency_key,
            posting_id=posting_id,
            tenant=snap.tenant,
            invoice_id=req.invoice_id,
            customer_id=req.customer_id,
            kind=req.kind,
            status=req.status.value,
            outstanding=req.outstanding,
            posted_at=snap.updated_at,
            amount=req.amount,
            payment_id=req.payment_id,
            recording=req.recording,
        )
        if req.payment is not None:
            await asyncio.to_thread(
                self.store.record_payment,
                workflow_id=snap.workflow_id,
                tenant=snap.tenant,
                invoice_id=req.invoice_id,
                payment=req.payment,
            )
        return ErpReceipt(posting_id=posting_id, duplicate=not new)
