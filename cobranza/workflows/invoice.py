"""InvoiceCollectionWorkflow: the durable lifecycle of collecting one invoice."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from cobranza.activities import names
    from cobranza.domain.effects import (
        CrmTaskRequest,
        PaymentLink,
        PaymentLinkRequest,
        Recording,
    )
    from cobranza.domain.invoice import (
        Channel,
        InvoiceStatus,
        PaymentReceived,
        local_instant,
    )
    from cobranza.domain.lifecycle import Lifecycle
    from cobranza.domain.policy import EscalationAction, PlannedStep, StepKind, plan
    from cobranza.domain.views import CollectionInput, CollectionResult
    from cobranza.workflows import search_attributes as sa
    from cobranza.workflows.autopay import AutopayDesk
    from cobranza.workflows.contact import ContactDesk
    from cobranza.workflows.invoice_effects import ACTIVITY_TIMEOUT, RETRY, ErpNote, InvoiceEffects
    from cobranza.workflows.invoice_outlook import InvoiceOutlook
    from cobranza.workflows.invoice_payments import PaymentSignals
    from cobranza.workflows.support_actions import SupportActions

# A skipped timer may fire up to a second after its instant in virtual time; within this slack
# the business clock reads the timer's own instant, so timelines show 10:00:00, not 10:00:01.
TIMER_SLACK = timedelta(seconds=2)
# Continue-as-new well before the server's limits; a lifecycle rarely gets near this.
HISTORY_BUDGET = 5_000


@workflow.defn(name="InvoiceCollectionWorkflow")
class InvoiceCollectionWorkflow(InvoiceEffects, InvoiceOutlook, PaymentSignals, SupportActions):
    """Issue, remind, wait for payment or the next step, escalate, close.

    Effects (ERP, CRM), what ops see and the money-in signals are in the bases, one module each.
    """

    @workflow.init
    def __init__(self, input: CollectionInput) -> None:
        self._input = input
        self._life = Lifecycle(input.invoice, input.policy, input.state)
        self._plan: list[PlannedStep] = plan(input.policy, input.invoice)
        self._woken = False
        self._tick: datetime | None = None
        self._published: tuple[str, int, int] | None = None
        self._desk = ContactDesk(
            input, self._life, self._now, self._wait_until, self._rec, self._unreachable
        )
        self._erp_queue: list[ErpNote] = []
        self._crm_queue: list[CrmTaskRequest] = []
        self._autopay: AutopayDesk | None = None
        self._autopay_checked = False

    # ---- the business process ------------------------------------------------------------

    @workflow.run
    async def run(self, input: CollectionInput) -> CollectionResult:
        if self._life.state.status is InvoiceStatus.SCHEDULED:
            await self._wait_until(self._issue_at(), "until the issue date")
            await self._flush_effects()
            if not self._life.is_closed:
                await self._issue()
        while not self._life.is_closed:
            await self._continue_as_new_if_due()
            self._life.refresh_due_status(self._now())
            self._publish()
            if self._life.on_hold:
                await self._hold()
            else:
                await self._next_step()
            await self._flush_effects()
        await self._finish()
        return CollectionResult(
            view=self._view(), snapshot=self._life.snapshot(self._now()), timeline=self._timeline()
        )

    async def _issue(self) -> None:
        inv = self._input.invoice
        link = await workflow.execute_activity(
            names.CREATE_PAYMENT_LINK,
            PaymentLinkRequest(
                invoice=inv, idempotency_key=f"{inv.workflow_id}:link", recording=self._rec()
            ),
            result_type=PaymentLink,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary=f"Payment link for {inv.invoice_id}",
        )
        self._life.issue(self._now(), link.url)
        # The ERP issued the invoice; it hears from us about payments and closings only.
        if self._input.policy.issue_template:
            # The invoice itself is not a collection contact: it goes out when issued.
            await self._desk.send(Channel.EMAIL, self._input.policy.issue_template, "issue")

    async def _next_step(self) -> None:
        pay = self._pay()
        charge_at = pay.due_at() if pay is not None else None
        if pay is not None and pay.processing is not None:
            # A dispute came and went while a charge was processing: it still is.
            self._life.start_processing(self._now(), pay.processing)
            return
        if pay is not None and charge_at is not None and charge_at <= self._now():
            await pay.act()
            return
        step = self._pending_step()
        if step is None:
            if pay is not None and charge_at is not None:
                await self._wait_until(charge_at, pay.summary())
                return
            await self._wait_for_change("all steps done: waiting for payment or a support action")
            return
        at = self._step_at(step)
        if pay is not None and charge_at is not None and charge_at <= at:
            # A charge due with a step goes first: paid, the reminder is never sent.
            await self._wait_until(charge_at, pay.summary())
            return
        overdue_at = self._input.invoice.overdue_from()
        if self._life.state.status is InvoiceStatus.OPEN and overdue_at < at:
            await self._wait_until(overdue_at, "until the invoice is overdue")
            return
        if not await self._wait_until(at, f"until {step.label}"):
            return
        if await self._perform(step):
            self._life.state.next_step += 1

    async def _perform(self, step: PlannedStep) -> bool:
        """Carry out a step; False when a change woke us before its message went out."""
        key = f"step-{step.index}"
        if step.kind is StepKind.REMINDER:
            assert step.channel is not None and step.template is not None
            return await self._desk.deliver(step.channel, step.template, key, step.fallback)
        assert step.action is not None
        now = self._now()
        if self._life.state.dunning_level < step.level:
            self._life.escalate(step.level, now, step.action.value)
        if step.action is EscalationAction.COLLECTOR_TASK:
            await self._open_task(
                "collector_call",
                f"Call about {self._input.invoice.invoice_id}",
                step.note,
                f"esc-{step.level}",
            )
        elif step.action is EscalationAction.FINAL_NOTICE:
            assert step.template is not None
            channel = step.channel or Channel.EMAIL
            return await self._desk.deliver(channel, step.template, key, step.fallback)
        elif step.action is EscalationAction.WRITE_OFF:
            self._life.write_off(
                now, f"policy {self._input.policy.ref}: level {step.level} writes off"
            )
        else:
            self._life.write_off(
                now, f"policy {self._input.policy.ref}: handed off", InvoiceStatus.HANDED_OFF
            )
        return True

    async def _hold(self) -> None:
        """Paused, promised or disputed: no reminders, charges or escalation until released."""
        life = self._life
        status = life.state.status
        if status is InvoiceStatus.PAUSED:
            until = life.state.paused_until
            if until is None:
                await self._wait_for_change("paused until someone resumes")
            elif await self._wait_until(
                life.end_of_day(until - timedelta(days=1)), f"paused until {until}"
            ):
                life.resume(self._now(), f"pause ended on {until}")
        elif status is InvoiceStatus.PROMISED:
            await self._keep_promise()
        elif status is InvoiceStatus.PROCESSING:
            summary = self._autopay.summary() if self._autopay else "a charge is processing"
            await self._wait_for_change(summary)
        else:
            await self._wait_for_change("disputed: waiting for the resolution")

    async def _keep_promise(self) -> None:
        life = self._life
        reminder_at, deadline = life.promise_reminder_at(), life.promise_deadline()
        assert deadline is not None
        if reminder_at is not None:
            key = f"promise-{life.state.broken_promises}"
            if reminder_at > self._now():
                await self._wait_until(reminder_at, "until the day before the promise date")
                return
            if self._now() < deadline and not await self._desk.deliver(
                Channel.EMAIL, self._input.policy.promise_to_pay.template, key
            ):
                return
            assert life.state.promise is not None
            life.state.promise.reminded = True
            return
        if await self._wait_until(deadline, "until the promise date has passed"):
            life.break_promise(self._now())

    async def _finish(self) -> None:
        await self._flush_effects()
        status = self._life.state.status
        if status is not InvoiceStatus.PAID:
            # Payments are posted as they arrive; other closings tell the ERP here, once.
            await self._post_erp(
                "status",
                status,
                key=f"closed-{status.value}",
                summary=f"Tell the ERP: {status.value}",
            )
        self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)

    # ---- time ----------------------------------------------------------------------------

    def _now(self) -> datetime:
        """The business clock: server time less the offset, snapped to the timer's instant."""
        now = self._clock()
        if self._tick is not None and timedelta(0) <= now - self._tick < TIMER_SLACK:
            return self._tick
        return now

    def _event_time(self, happened_at: datetime) -> datetime:
        """When an event arriving now happened: its own time if that was a moment ago.

        A webhook or bank line reaches the workflow a little after the money moved; within the
        slack the timeline keeps the event's own instant, beyond it the time we learnt of it.
        """
        now = self._now()
        return happened_at if timedelta(0) <= now - happened_at < TIMER_SLACK else now

    def _clock(self) -> datetime:
        return workflow.now() - self._input.clock_offset

    def _issue_at(self) -> datetime:
        inv = self._input.invoice
        return local_instant(inv.issued_on, self._input.policy.send_time, inv.customer.timezone)

    def _step_at(self, step: PlannedStep) -> datetime:
        shift = self._life.state.shift_days
        if shift == 0:
            return step.at
        local = step.at.astimezone(self._input.invoice.customer.zone)
        return local_instant(
            local.date() + timedelta(days=shift),
            local.time(),
            self._input.invoice.customer.timezone,
        )

    def _pending_step(self) -> PlannedStep | None:
        i = self._life.state.next_step
        return self._plan[i] if i < len(self._plan) else None

    async def _wait_until(self, at: datetime, summary: str) -> bool:
        """Sleep until a business instant; False when a handler changed something first."""
        self._woken = False
        # The true clock, not the snapped one: measured from the snapped instant, each timer
        # would inherit the previous one's lateness, until a wake-up falls outside the slack.
        delay = at - self._clock()
        if delay <= timedelta(0):
            return True
        try:
            await workflow.wait_condition(
                lambda: self._woken, timeout=delay, timeout_summary=summary
            )
        except TimeoutError:
            self._tick = at
            return True
        return False

    async def _wait_for_change(self, summary: str) -> None:
        self._woken = False
        workflow.set_current_details(self._details(summary))
        await workflow.wait_condition(lambda: self._woken)

    async def _continue_as_new_if_due(self) -> None:
        info = workflow.info()
        if (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > HISTORY_BUDGET
        ):
            await self._flush_effects()
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self._erp_queue or self._crm_queue:
                return  # a handler queued an effect meanwhile: flush it first, try again later
            workflow.continue_as_new(self._input.model_copy(update={"state": self._life.state}))

    def _rec(self) -> Recording:
        return self._life.recording(self._now())

    def _pay(self) -> AutopayDesk | None:
        """The autopay desk of an invoice on autopay; lifecycles from before it have none."""
        if not self._autopay_checked:
            self._autopay_checked = True
            setup = self._input.autopay
            if setup is not None and workflow.patched("autopay"):
                self._autopay = AutopayDesk(
                    self._input,
                    setup,
                    self._life,
                    self._desk,
                    self._now,
                    self._event_time,
                    self._queue_payment,
                )
        return self._autopay

    def _queue_payment(self, payment: PaymentReceived) -> None:
        self._erp_queue.append(ErpNote.of_payment(payment))

    def _wake(self) -> None:
        self._woken = True


def start_search_attributes(input: CollectionInput) -> TypedSearchAttributes:
    inv = input.invoice
    due = datetime.combine(inv.due_on, datetime.min.time()).replace(tzinfo=inv.customer.zone)
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.CUSTOMER_ID, inv.customer.customer_id),
            SearchAttributePair(sa.INVOICE_STATUS, InvoiceStatus.SCHEDULED.value),
            SearchAttributePair(sa.DUNNING_LEVEL, 0),
            SearchAttributePair(sa.DUE_DATE, due),
            SearchAttributePair(sa.AMOUNT_DUE, inv.amount.minor),
            SearchAttributePair(sa.CURRENCY, inv.amount.currency),
            SearchAttributePair(sa.SEGMENT, inv.customer.segment),
            SearchAttributePair(sa.TENANT, inv.tenant),
        ]
    )
