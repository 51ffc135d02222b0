"""RecurringBillingWorkflow: bill each period, suspend and restore the service by dunning.

One run covers one period: it waits for the issue instant while looking at open invoices when
their ladder should have reached the suspend level, starts the period's InvoiceCollectionWorkflow
as an abandoned child, and continues as new with its state. The parent never waits on a child: it
learns each invoice's status and dunning level from the server (an activity), so the invoice
workflow needs no change and a run never holds a pending child across a timer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from cobranza.activities import names
    from cobranza.domain.billing import (
        CancelSubscription,
        InvoiceCheck,
        InvoiceCheckResult,
        PauseSubscription,
        ResumeSubscription,
        ServiceChange,
        ServiceReceipt,
        ServiceRequest,
        SubscriptionInput,
        SubscriptionState,
        SubscriptionStatus,
        SubscriptionView,
        WatchedInvoice,
        apply_change,
        first_check_at,
        has_period,
        issue_instant,
        observe,
        period_invoice,
    )
    from cobranza.domain.invoice import local_instant
    from cobranza.domain.views import CollectionInput
    from cobranza.workflows import search_attributes as sa
    from cobranza.workflows.invoice import InvoiceCollectionWorkflow, start_search_attributes

ACTIVITY_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["PermanentIntegrationError"],
)
# A run normally ends after one period, a few dozen events; this bounds a run that waits long
# (a yearly period with an invoice checked daily while the service is suspended).
HISTORY_BUDGET = 2_000


@workflow.defn(name="RecurringBillingWorkflow")
class RecurringBillingWorkflow:
    """Each period: wait for the issue date, issue the invoice, continue as new."""

    @workflow.init
    def __init__(self, input: SubscriptionInput) -> None:
        self._input = input
        self._sub = input.subscription
        self._state = (input.state or SubscriptionState()).model_copy(deep=True)
        self._woken = False

    # ---- the business process ------------------------------------------------------------

    @workflow.run
    async def run(self, input: SubscriptionInput) -> SubscriptionView:
        while not self._done():
            await self._continue_as_new_if_history_is_long()
            if not await self._until_next_event():
                continue  # a support action changed the plan: work it out again
            await self._look_at_invoices()
            if self._issue_due():
                await self._issue()
                await self._continue_as_new()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view()

    def _done(self) -> bool:
        """Nothing left to bill and no issued invoice left to watch."""
        finished = (SubscriptionStatus.CANCELLED, SubscriptionStatus.ENDED)
        return self._state.status in finished and not self._checks()

    async def _until_next_event(self) -> bool:
        """Sleep until the next issue, invoice check or end of a pause; False if woken first."""
        candidates = [
            (at, why)
            for at, why in (
                (self._next_issue_at(), "until the next invoice is issued"),
                (min(self._checks(), default=None), "until an open invoice is looked at"),
                (self._pause_ends_at(), "until the pause ends"),
            )
            if at is not None
        ]
        if not candidates:
            self._woken = False
            workflow.set_current_details(self._details("waiting for a support action"))
            await workflow.wait_condition(lambda: self._woken)
            return False
        at, why = min(candidates)
        self._woken = False
        workflow.set_current_details(self._details(f"{why}: {at:%Y-%m-%d %H:%M %z}"))
        delay = at - self._now()
        if delay <= timedelta(0):
            self._end_pause_if_due()
            return True
        try:
            await workflow.wait_condition(lambda: self._woken, timeout=delay, timeout_summary=why)
        except TimeoutError:
            self._end_pause_if_due()
            return True
        return False

    async def _look_at_invoices(self) -> None:
        """Ask the server how the due invoices are doing; suspend or restore the service.

        When a period is being issued, every watched invoice is looked at: the same one call
        forgets those already paid, so most invoices never need a wake-up of their own.
        """
        now, issuing = self._now(), self._issue_due()
        due = [
            w.workflow_id
            for w in self._state.watched
            if w.check_at is not None and (issuing or w.check_at <= now)
        ]
        if not due:
            return
        result = await workflow.execute_activity(
            names.CHECK_INVOICES,
            InvoiceCheck(workflow_ids=due),
            result_type=InvoiceCheckResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary=f"How are {len(due)} invoice(s) doing?",
        )
        change = observe(self._state, result.progress, now, self._sub.suspend_at_level)
        if change is not None:
            await self._switch_service(change)

    async def _switch_service(self, change: ServiceChange) -> None:
        sub = self._sub
        req = ServiceRequest(
            # One suspension episode per period that started it: a retry or replay never acts twice.
            idempotency_key=f"{sub.workflow_id}:{change.action}-{change.period}",
            service_id=sub.subscription_id,
            customer_id=sub.customer.customer_id,
            invoice_id=change.invoice_id,
            period=change.period,
            reason=(
                f"invoice {change.invoice_id} reached dunning level {sub.suspend_at_level}"
                if change.action == "suspend"
                else f"invoice {change.invoice_id} settled"
            ),
        )
        name = names.SUSPEND_SERVICE if change.action == "suspend" else names.RESTORE_SERVICE
        try:
            await workflow.execute_activity(
                name,
                req,
                result_type=ServiceReceipt,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
                summary=f"{change.action.capitalize()} service {sub.subscription_id}: {req.reason}",
            )
        except ActivityError as exc:
            # The ERP refused for good; the next check (a day later) asks again, same key.
            reason = str(exc.cause) if exc.cause is not None else str(exc)
            self._state.note(self._now(), "effect_failed", change.period, reason)
            return
        apply_change(self._state, change, self._now())

    async def _issue(self) -> None:
        n = self._state.next_period
        invoice = period_invoice(self._sub, n)
        child = CollectionInput(
            invoice=invoice,
            policy=self._input.policy,
            compliance=self._input.compliance,
            contact_gate=self._input.contact_gate,
            clock_offset=self._input.clock_offset,
            task_queue=self._input.task_queue,
        )
        outcome = "issued"
        try:
            await workflow.start_child_workflow(
                InvoiceCollectionWorkflow.run,
                child,
                id=invoice.workflow_id,
                task_queue=self._input.task_queue,
                # The invoice is owed whatever happens to the subscription's workflow.
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=start_search_attributes(child),
                static_summary=(
                    f"Invoice {invoice.invoice_id} of subscription {self._sub.subscription_id}, "
                    f"period {n}: {invoice.amount} due {invoice.due_on}"
                ),
            )
        except WorkflowAlreadyStartedError:
            outcome = "already_issued"  # an earlier run or a restart issued it: never twice
        state = self._state
        state.watched.append(
            WatchedInvoice(
                period=n,
                invoice_id=invoice.invoice_id,
                workflow_id=invoice.workflow_id,
                check_at=first_check_at(self._sub, self._input.policy, n),
            )
        )
        state.issued.append(invoice.invoice_id)
        state.note(self._now(), outcome, n, f"{invoice.invoice_id}: {invoice.amount}")
        state.next_period = n + 1
        if not has_period(self._sub, state.next_period):
            state.status = SubscriptionStatus.ENDED
            state.note(self._now(), "ended", n, f"the last of {self._sub.periods} periods")

    # ---- time ----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return workflow.now() - self._input.clock_offset

    def _next_issue_at(self) -> datetime | None:
        if self._state.status is not SubscriptionStatus.ACTIVE:
            return None
        return issue_instant(self._sub, self._state.next_period, self._input.policy.send_time)

    def _issue_due(self) -> bool:
        at = self._next_issue_at()
        return at is not None and at <= self._now()

    def _checks(self) -> list[datetime]:
        return [w.check_at for w in self._state.watched if w.check_at is not None]

    def _pause_ends_at(self) -> datetime | None:
        until = self._state.paused_until
        if self._state.status is not SubscriptionStatus.PAUSED or until is None:
            return None
        return local_instant(until, time(0, 0), self._sub.customer.timezone)

    def _end_pause_if_due(self) -> None:
        ends = self._pause_ends_at()
        if ends is not None and ends <= self._now():
            self._resume(f"pause ended on {self._state.paused_until}")

    # ---- continue-as-new -----------------------------------------------------------------

    async def _continue_as_new_if_history_is_long(self) -> None:
        info = workflow.info()
        if (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > HISTORY_BUDGET
        ):
            await self._continue_as_new()

    async def _continue_as_new(self) -> NoReturn:
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._input.model_copy(update={"state": self._state}))

    # ---- support actions: updates with validators, also accepted as signals ----------------

    def _apply(self, action: str, why: str | None, actor: str, change: Callable[[], None]) -> None:
        if why is not None:
            self._state.note(self._now(), "rejected", None, f"{action} by {actor}: {why}")
            return
        change()
        self._woken = True

    def _reject(self, why: str | None) -> None:
        if why is not None:
            raise ApplicationError(why, type="ActionRejected", non_retryable=True)

    def _why_not_pause(self, req: PauseSubscription) -> str | None:
        state, sub_id = self._state, self._sub.subscription_id
        if state.status is SubscriptionStatus.PAUSED:
            return f"subscription {sub_id} is already paused ({self._last('pause')})"
        if state.status is not SubscriptionStatus.ACTIVE:
            return f"subscription {sub_id} is {state.status.value}: nothing to pause"
        today = self._now().astimezone(self._sub.customer.zone).date()
        if req.until is not None and req.until <= today:
            return f"pause end {req.until} is not after today ({today})"
        return None

    def _why_not_resume(self) -> str | None:
        if self._state.status is not SubscriptionStatus.PAUSED:
            status = self._state.status.value
            return f"subscription {self._sub.subscription_id} is not paused (it is {status})"
        return None

    def _why_not_cancel(self) -> str | None:
        state, sub_id = self._state, self._sub.subscription_id
        if state.status is SubscriptionStatus.CANCELLED:
            return f"subscription {sub_id} is already cancelled ({self._last('cancelled')})"
        if state.status is SubscriptionStatus.ENDED:
            return f"subscription {sub_id} has ended after {len(state.issued)} periods"
        return None

    def _last(self, kind: str) -> str:
        event = next((e for e in reversed(self._state.events) if e.kind == kind), None)
        return f"{event.detail} on {event.at:%Y-%m-%d}" if event else "earlier"

    def _pause(self, req: PauseSubscription) -> None:
        self._state.status = SubscriptionStatus.PAUSED
        self._state.paused_until = req.until
        until = f" until {req.until}" if req.until else ""
        self._state.note(self._now(), "pause", None, f"by {req.actor}{until}: {req.reason}")

    def _resume(self, why: str) -> None:
        """Periods whose issue date passed while paused are not billed."""
        state, now = self._state, self._now()
        state.status, state.paused_until = SubscriptionStatus.ACTIVE, None
        while has_period(self._sub, state.next_period) and (
            issue_instant(self._sub, state.next_period, self._input.policy.send_time) < now
        ):
            state.skipped.append(state.next_period)
            state.next_period += 1
        state.note(now, "resume", state.next_period, why)
        if not has_period(self._sub, state.next_period):
            state.status = SubscriptionStatus.ENDED

    def _cancel(self, req: CancelSubscription) -> None:
        self._state.status = SubscriptionStatus.CANCELLED
        self._state.note(self._now(), "cancelled", None, f"by {req.actor}: {req.reason}")

    @workflow.update
    def pause(self, req: PauseSubscription) -> SubscriptionView:
        self._apply("pause", None, req.actor, lambda: self._pause(req))
        return self._view()

    @pause.validator
    def _check_pause(self, req: PauseSubscription) -> None:
        self._reject(self._why_not_pause(req))

    @workflow.signal(name="pause_signal")
    def pause_signal(self, req: PauseSubscription) -> None:
        self._apply("pause", self._why_not_pause(req), req.actor, lambda: self._pause(req))

    @workflow.update
    def resume(self, req: ResumeSubscription) -> SubscriptionView:
        self._apply("resume", None, req.actor, lambda: self._resume(self._by(req)))
        return self._view()

    @resume.validator
    def _check_resume(self, req: ResumeSubscription) -> None:
        self._reject(self._why_not_resume())

    @workflow.signal(name="resume_signal")
    def resume_signal(self, req: ResumeSubscription) -> None:
        self._apply(
            "resume", self._why_not_resume(), req.actor, lambda: self._resume(self._by(req))
        )

    @workflow.update
    def cancel(self, req: CancelSubscription) -> SubscriptionView:
        self._apply("cancel", None, req.actor, lambda: self._cancel(req))
        return self._view()

    @cancel.validator
    def _check_cancel(self, req: CancelSubscription) -> None:
        self._reject(self._why_not_cancel())

    @workflow.signal(name="cancel_signal")
    def cancel_signal(self, req: CancelSubscription) -> None:
        self._apply("cancel", self._why_not_cancel(), req.actor, lambda: self._cancel(req))

    @staticmethod
    def _by(req: ResumeSubscription) -> str:
        return f"by {req.actor}: {req.reason}"

    # ---- what callers and ops see --------------------------------------------------------

    @workflow.query
    def status(self) -> SubscriptionView:
        return self._view()

    def _view(self) -> SubscriptionView:
        state = self._state
        return SubscriptionView(
            subscription_id=self._sub.subscription_id,
            status=state.status,
            service=state.service,
            period=state.next_period - 1,
            next_issue_at=self._next_issue_at(),
            paused_until=state.paused_until,
            open_invoices=list(state.watched),
            issued=len(state.issued),
            skipped=list(state.skipped),
            events=list(state.events),
            as_of=self._now(),
        )

    def _details(self, line: str) -> str:
        state = self._state
        return (
            f"**{state.status.value}** · service {state.service.value} · "
            f"{len(state.issued)} invoices issued · {len(state.watched)} watched\n\n{line}"
        )


def subscription_search_attributes(input: SubscriptionInput) -> TypedSearchAttributes:
    sub = input.subscription
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.CUSTOMER_ID, sub.customer.customer_id),
            SearchAttributePair(sa.CURRENCY, sub.amount.currency),
            SearchAttributePair(sa.SEGMENT, sub.customer.segment),
            SearchAttributePair(sa.TENANT, sub.tenant),
        ]
    )
