"""Replays invoices and their dated events through the real workflows in virtual time."""

from __future__ import annotations

import asyncio
import time as wall
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from cobranza.domain.compliance_file import profile_for
from cobranza.domain.invoice import Invoice, PaymentReceived, TimelineEntry, TimelineKind
from cobranza.domain.policy import Policy
from cobranza.domain.views import CollectionInput, InvoiceView
from cobranza.starter.simulation_input import EventKind, ScheduledEvent, SimulationInput
from cobranza.workflows.invoice import InvoiceCollectionWorkflow, start_search_attributes

UPDATES = {
    EventKind.PAUSE: InvoiceCollectionWorkflow.pause,
    EventKind.RESUME: InvoiceCollectionWorkflow.resume,
    EventKind.PROMISE: InvoiceCollectionWorkflow.promise_to_pay,
    EventKind.DISPUTE: InvoiceCollectionWorkflow.open_dispute,
    EventKind.RESOLVE_DISPUTE: InvoiceCollectionWorkflow.resolve_dispute,
    EventKind.CANCEL: InvoiceCollectionWorkflow.cancel,
    EventKind.WRITE_OFF: InvoiceCollectionWorkflow.write_off,
}
REJECTION_KIND = {
    EventKind.PROMISE: TimelineKind.PROMISE,
    EventKind.DISPUTE: TimelineKind.DISPUTE,
    EventKind.RESOLVE_DISPUTE: TimelineKind.DISPUTE,
}


@dataclass
class InvoiceRun:
    """What one invoice's lifecycle did in the simulation."""

    invoice: Invoice
    view: InvoiceView
    timeline: list[TimelineEntry]
    run_ids: list[str] = field(default_factory=list)
    already_done: bool = False


@dataclass
class SimulationRun:
    name: str
    invoices: list[InvoiceRun]
    elapsed_seconds: float
    clock_offset: timedelta

    @property
    def invoices_per_second(self) -> float:
        return len(self.invoices) / self.elapsed_seconds if self.elapsed_seconds else 0.0


class Simulator:
    """Drives each invoice's workflow to each of its events, then to the horizon."""

    def __init__(
        self,
        env: WorkflowEnvironment,
        task_queue: str,
        policy: Policy,
        *,
        concurrency: int = 100,
        on_done: Callable[[InvoiceRun], None] | None = None,
        lawful_contact: bool = True,
    ) -> None:
        self.env = env
        self.client = env.client
        self.task_queue = task_queue
        self.policy = policy
        self.concurrency = concurrency
        self.on_done = on_done
        self.lawful_contact = lawful_contact
        self.offset = timedelta(0)

    async def run(self, sim: SimulationInput) -> SimulationRun:
        started = wall.perf_counter()
        by_invoice: dict[str, list[ScheduledEvent]] = defaultdict(list)
        for event in sim.events:
            by_invoice[event.invoice_id].append(event)
        # One offset for every invoice keeps their timelines aligned with one another.
        epoch = min(datetime.combine(i.issued_on, datetime.min.time(), UTC) for i in sim.invoices)
        self.offset = datetime.now(UTC) - (epoch - timedelta(days=2))
        gate = asyncio.Semaphore(self.concurrency)

        async def one(invoice: Invoice) -> InvoiceRun:
            async with gate:
                result = await self._drive(
                    invoice, by_invoice.get(invoice.invoice_id, []), sim.until
                )
            if self.on_done is not None:
                self.on_done(result)
            return result

        runs = await asyncio.gather(*(one(i) for i in sim.invoices))
        return SimulationRun(sim.name, list(runs), wall.perf_counter() - started, self.offset)

    def horizon(self, invoice: Invoice, until: datetime | None) -> datetime:
        if until is not None:
            return until
        last_day = max(
            [0, *(r.day for r in self.policy.reminders), *(e.day for e in self.policy.escalation)]
        )
        return invoice.overdue_from() + timedelta(days=last_day + 1)

    async def _drive(
        self, invoice: Invoice, events: list[ScheduledEvent], until: datetime | None
    ) -> InvoiceRun:
        input = CollectionInput(
            compliance=profile_for(invoice.customer.country) if self.lawful_contact else None,
            invoice=invoice,
            policy=self.policy,
            clock_offset=self.offset,
            task_queue=self.task_queue,
        )
        extra: list[TimelineEntry] = []
        try:
            handle = await self._start(input)
        except WorkflowAlreadyStartedError:
            # Collected by an earlier run over the same file: nothing starts twice.
            handle = self.client.get_workflow_handle_for(
                InvoiceCollectionWorkflow.run, invoice.workflow_id
            )
            return await self._outcome(invoice, handle, [], already_done=True)
        run_ids = [handle.result_run_id or ""]
        for event in events:
            if not await self._advance(handle, event.at):
                continue
            if event.kind is EventKind.RESUBMIT:
                again = await self._start(input)
                run_ids.append(again.result_run_id or "")
                continue
            rejection = await self._deliver(handle, event)
            if rejection is not None:
                extra.append(rejection)
        await self._advance(handle, self.horizon(invoice, until))
        result = await self._outcome(invoice, handle, extra)
        result.run_ids = run_ids
        return result

    async def _start(self, input: CollectionInput) -> WorkflowHandle[Any, Any]:
        return await self.client.start_workflow(
            InvoiceCollectionWorkflow.run,
            input,
            id=input.invoice.workflow_id,
            task_queue=self.task_queue,
            search_attributes=start_search_attributes(input),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=(
                f"Invoice {input.invoice.invoice_id} of {input.invoice.customer.customer_id}: "
                f"{input.invoice.amount} due {input.invoice.due_on}"
            ),
        )

    async def _advance(self, handle: WorkflowHandle[Any, Any], target: datetime) -> bool:
        """Move the workflow's virtual clock to a business instant; False once it has closed."""
        desc = await handle.describe()
        if desc.status != WorkflowExecutionStatus.RUNNING:
            return False
        ext = desc.raw_description.workflow_extended_info
        now = (
            ext.time_skipping_info.current_time.ToDatetime().replace(tzinfo=UTC)
            if ext.HasField("time_skipping_info")
            else datetime.now(UTC)
        )
        step = target + self.offset - now
        if step > timedelta(0):
            try:
                await self.env.fast_forward(handle, step)
            except RPCError as exc:
                if "already completed" not in exc.message:
                    raise
                return False
        return True

    async def _deliver(
        self, handle: WorkflowHandle[Any, Any], event: ScheduledEvent
    ) -> TimelineEntry | None:
        try:
            if event.kind is EventKind.PAYMENT:
                assert isinstance(event.payload, PaymentReceived)
                await handle.signal(InvoiceCollectionWorkflow.payment_received, event.payload)
            else:
                await handle.execute_update(UPDATES[event.kind], event.payload)  # type: ignore[call-overload]
        except RPCError as exc:
            if "already completed" not in exc.message:
                raise
            # The invoice closed (paid, say) a moment before this event reached it.
            return None
        except WorkflowUpdateFailedError as exc:
            reason = str(exc.cause.message) if exc.cause is not None else str(exc)  # type: ignore[attr-defined]
            kind = REJECTION_KIND.get(event.kind, TimelineKind.STATE_CHANGE)
            return TimelineEntry(
                at=event.at,
                invoice=event.invoice_id,
                kind=kind,
                details={
                    "event": "rejected",
                    "action": event.kind.value,
                    "reason": reason,
                    "source": event.source,
                },
            )
        return None

    async def _outcome(
        self,
        invoice: Invoice,
        handle: WorkflowHandle[Any, Any],
        extra: list[TimelineEntry],
        *,
        already_done: bool = False,
    ) -> InvoiceRun:
        desc = await handle.describe()
        if desc.status == WorkflowExecutionStatus.RUNNING:
            view = await handle.query(InvoiceCollectionWorkflow.status)
            timeline = await handle.query(InvoiceCollectionWorkflow.timeline)
        else:
            # A closed lifecycle's result holds both; a query would replay its whole history.
            result = await handle.result()
            view, timeline = result.view, result.timeline
        merged = sorted([*timeline, *extra], key=lambda e: e.at)
        return InvoiceRun(invoice=invoice, view=view, timeline=merged, already_done=already_done)
