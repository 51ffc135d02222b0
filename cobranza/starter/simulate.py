"""Replays invoices and their dated events through the real workflows in virtual time."""

from __future__ import annotations

import asyncio
import time as wall
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from cobranza.domain.autopay import AutopaySetup
from cobranza.domain.charges import PaymentMethodAdded, PaymentSettled
from cobranza.domain.compliance import pin_holidays
from cobranza.domain.compliance_file import profile_for
from cobranza.domain.compliance_profile import ComplianceProfile
from cobranza.domain.contact_gate import GATHER_WINDOW
from cobranza.domain.invoice import (
    Invoice,
    PaymentFailed,
    PaymentReceived,
    TimelineEntry,
    TimelineKind,
)
from cobranza.domain.policy import Policy, plan
from cobranza.domain.segmentation import PolicyChoice
from cobranza.domain.views import CollectionInput, InvoiceView
from cobranza.starter.simulation_input import EventKind, ScheduledEvent, SimulationInput
from cobranza.workflows.invoice import InvoiceCollectionWorkflow, start_search_attributes

OFFSET_MEMO = "clock_offset_seconds"
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


def lawful_contact_rules(invoice: Invoice) -> ComplianceProfile:
    """The customer's country profile with its holidays frozen for the invoice's lifetime."""
    profile = profile_for(invoice.customer.country, invoice.customer.subdivision)
    return pin_holidays(profile, invoice.issued_on.year - 1, invoice.due_on.year + 2)


# Picks the dunning policy of one invoice, with the segmentation rule that chose it.
PolicyChooser = Callable[[Invoice], tuple[Policy, PolicyChoice | None]]
# Says whether an invoice is on autopay, with which method (None: not on autopay).
AutopayChooser = Callable[[Invoice], AutopaySetup | None]


@dataclass
class _Track:
    """One invoice being driven: its input, its handle once started, what it collected."""

    invoice: Invoice
    input: CollectionInput
    handle: WorkflowHandle[Any, Any] | None = None
    run_ids: list[str] = field(default_factory=list)
    extra: list[TimelineEntry] = field(default_factory=list)
    closed: bool = False


@dataclass
class SimulationRun:
    name: str
    invoices: list[InvoiceRun]
    elapsed_seconds: float
    clock_offset: timedelta

    @property
    def invoices_per_second(self) -> float:
        return len(self.invoices) / self.elapsed_seconds if self.elapsed_seconds else 0.0


MAX_FAST_FORWARDS = 400


class _InvoiceBudget:
    """At most `limit` invoices in flight, however they are grouped (a customer's invoices
    move together through the gate); a group larger than the limit runs alone."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 1)
        self.used = 0
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def hold(self, invoices: int) -> AsyncIterator[None]:
        size = min(invoices, self.limit)
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + size <= self.limit)
            self.used += size
        try:
            yield
        finally:
            async with self._changed:
                self.used -= size
                self._changed.notify_all()


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
        contact_gate: bool = False,
        chooser: PolicyChooser | None = None,
        autopay: AutopayChooser | None = None,
    ) -> None:
        self.env = env
        self.client = env.client
        self.task_queue = task_queue
        self.policy = policy
        self.concurrency = concurrency
        self.on_done = on_done
        self.lawful_contact = lawful_contact
        self.contact_gate = contact_gate
        self.chooser = chooser
        self.autopay = autopay
        self.offset = timedelta(0)
        # Each fast-forward is a long poll on the server, which refuses more than about a
        # thousand at once per namespace; in lockstep a customer's invoices all poll together.
        self._pollers = asyncio.Semaphore(MAX_FAST_FORWARDS)

    async def run(self, sim: SimulationInput) -> SimulationRun:
        started = wall.perf_counter()
        by_invoice: dict[str, list[ScheduledEvent]] = defaultdict(list)
        for event in sim.events:
            by_invoice[event.invoice_id].append(event)
        # One offset for every invoice keeps their timelines aligned with one another.
        epoch = min(datetime.combine(i.issued_on, datetime.min.time(), UTC) for i in sim.invoices)
        self.offset = datetime.now(UTC) - (epoch - timedelta(days=2))
        budget = _InvoiceBudget(self.concurrency)

        async def one(group: list[Invoice]) -> list[InvoiceRun]:
            events = sorted(
                (e for i in group for e in by_invoice.get(i.invoice_id, [])), key=lambda e: e.at
            )
            async with budget.hold(len(group)):
                results = await self._drive(group, events, sim.until)
            for result in results:
                if self.on_done is not None:
                    self.on_done(result)
            return results

        groups = await asyncio.gather(*(one(g) for g in self._groups(sim.invoices)))
        runs = [run for group in groups for run in group]
        return SimulationRun(sim.name, runs, wall.perf_counter() - started, self.offset)

    def _groups(self, invoices: list[Invoice]) -> list[list[Invoice]]:
        """One invoice each; with the contact gate, each customer's invoices together."""
        if not self.contact_gate:
            return [[invoice] for invoice in invoices]
        by_customer: dict[tuple[str, str], list[Invoice]] = defaultdict(list)
        for invoice in invoices:
            by_customer[(invoice.tenant, invoice.customer.customer_id)].append(invoice)
        return list(by_customer.values())

    def horizon(self, invoice: Invoice, until: datetime | None) -> datetime:
        if until is not None:
            return until
        policy = self._policy_of(invoice)[0]
        last_day = max([0, *(r.day for r in policy.reminders), *(e.day for e in policy.escalation)])
        return invoice.overdue_from() + timedelta(days=last_day + 1)

    async def _drive(
        self, invoices: list[Invoice], events: list[ScheduledEvent], until: datetime | None
    ) -> list[InvoiceRun]:
        """Drive a group of invoices (one, or one customer's in lockstep) through their events.

        In lockstep the group's points are visited in time order, each invoice stopping at its
        own: the instant of each of its events and, with the contact gate, just after each of
        its planned contacts and its gather window, so that invoices due together book the same
        slot before any of them sends it, and no invoice runs ahead of another.
        """
        tracks = [_Track(invoice, self._input(invoice)) for invoice in invoices]
        runs: list[InvoiceRun] = []
        for track in tracks:
            try:
                handle = await self._start(track.input)
            except WorkflowAlreadyStartedError:
                # Collected by an earlier run over the same file: nothing starts twice.
                handle = self.client.get_workflow_handle_for(
                    InvoiceCollectionWorkflow.run, track.invoice.workflow_id
                )
                runs.append(await self._outcome(track.invoice, handle, [], already_done=True))
                continue
            track.handle = handle
            track.run_ids.append(handle.result_run_id or "")
        live = [t for t in tracks if t.handle is not None]
        lockstep = len(live) > 1
        stops = {
            t.invoice.invoice_id: self._points(t.invoice, events, until, lockstep) for t in live
        }
        for point in sorted({p for own in stops.values() for p in own}):
            # The group moves together, each invoice on its own clock; an invoice moves only to
            # its own stops (its events, its contacts and their gather windows), so no invoice
            # is ever ahead of the point and none is moved for another's sake.
            await asyncio.gather(
                *(
                    self._to_point(t, point, events)
                    for t in live
                    if point in stops[t.invoice.invoice_id]
                )
            )
        runs.extend(await asyncio.gather(*(self._finish(t, until) for t in live)))
        return runs

    async def _finish(self, track: _Track, until: datetime | None) -> InvoiceRun:
        assert track.handle is not None
        await self._advance(track.handle, self.horizon(track.invoice, until))
        result = await self._outcome(track.invoice, track.handle, track.extra)
        result.run_ids = track.run_ids
        return result

    def _policy_of(self, invoice: Invoice) -> tuple[Policy, PolicyChoice | None]:
        return self.chooser(invoice) if self.chooser is not None else (self.policy, None)

    async def _to_point(self, track: _Track, point: datetime, events: list[ScheduledEvent]) -> None:
        assert track.handle is not None
        if track.closed or not await self._advance(track.handle, point):
            track.closed = True
            return
        for event in events:
            if event.at == point and event.invoice_id == track.invoice.invoice_id:
                await self._apply(track, event)

    def _input(self, invoice: Invoice) -> CollectionInput:
        policy, choice = self._policy_of(invoice)
        return CollectionInput(
            compliance=lawful_contact_rules(invoice) if self.lawful_contact else None,
            contact_gate=self.contact_gate,
            invoice=invoice,
            policy=policy,
            policy_choice=choice,
            autopay=self.autopay(invoice) if self.autopay is not None else None,
            clock_offset=self.offset,
            task_queue=self.task_queue,
        )

    def _points(
        self, invoice: Invoice, events: list[ScheduledEvent], until: datetime | None, lockstep: bool
    ) -> set[datetime]:
        points = {event.at for event in events if event.invoice_id == invoice.invoice_id}
        if self.contact_gate and lockstep:
            horizon = self.horizon(invoice, until)
            for step in plan(self._policy_of(invoice)[0], invoice):
                for after in (timedelta(minutes=1), GATHER_WINDOW + timedelta(minutes=1)):
                    if step.at + after <= horizon:
                        points.add(step.at + after)
        return points

    async def _apply(self, track: _Track, event: ScheduledEvent) -> None:
        assert track.handle is not None
        if event.kind is EventKind.RESUBMIT:
            again = await self._start(track.input)
            track.run_ids.append(again.result_run_id or "")
            return
        rejection = await self._deliver(track.handle, event)
        if rejection is not None:
            track.extra.append(rejection)

    async def _start(self, input: CollectionInput) -> WorkflowHandle[Any, Any]:
        return await self.client.start_workflow(
            InvoiceCollectionWorkflow.run,
            input,
            id=input.invoice.workflow_id,
            task_queue=self.task_queue,
            search_attributes=start_search_attributes(input),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo={OFFSET_MEMO: input.clock_offset.total_seconds()},
            static_summary=(
                f"Invoice {input.invoice.invoice_id} of {input.invoice.customer.customer_id}: "
                f"{input.invoice.amount} due {input.invoice.due_on}"
            ),
            static_details=(
                f"Policy {input.policy.ref}: "
                + (input.policy_choice.reason if input.policy_choice else "chosen by the caller")
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
        # A lifecycle started by an earlier, interrupted run keeps the offset it started with.
        started_with = await desc.memo_value(OFFSET_MEMO, default=None)
        offset = timedelta(seconds=started_with) if started_with is not None else self.offset
        # In UTC: adding a timedelta to a time in a zone with DST shifts it by the wall clock.
        step = target.astimezone(UTC) + offset - now
        if step > timedelta(0):
            try:
                async with self._pollers:
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
            if event.kind is EventKind.PAYMENT_FAILED:
                assert isinstance(event.payload, PaymentFailed)
                await handle.signal(InvoiceCollectionWorkflow.payment_failed, event.payload)
            elif event.kind is EventKind.PAYMENT:
                assert isinstance(event.payload, PaymentReceived)
                await handle.signal(InvoiceCollectionWorkflow.payment_received, event.payload)
            elif event.kind is EventKind.PAYMENT_SETTLED:
                assert isinstance(event.payload, PaymentSettled)
                await handle.signal(InvoiceCollectionWorkflow.payment_settled, event.payload)
            elif event.kind is EventKind.METHOD_ADDED:
                assert isinstance(event.payload, PaymentMethodAdded)
                await handle.signal(InvoiceCollectionWorkflow.payment_method_added, event.payload)
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
            try:
                result = await handle.result()
                view, timeline = result.view, result.timeline
            except WorkflowFailureError:
                # A failed lifecycle has no result; its state is still there to query.
                view = await handle.query(InvoiceCollectionWorkflow.status)
                timeline = await handle.query(InvoiceCollectionWorkflow.timeline)
        merged = sorted([*timeline, *extra], key=lambda e: e.at)
        return InvoiceRun(invoice=invoice, view=view, timeline=merged, already_done=already_done)
