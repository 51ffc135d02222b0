"""InvoiceCollectionWorkflow: the durable lifecycle of collecting one invoice."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from cobranza.activities import names
    from cobranza.domain.charges import PaymentMethodAdded, PaymentSettled
    from cobranza.domain.declines import Decline
    from cobranza.domain.effects import (
        CrmTaskReceipt,
        CrmTaskRequest,
        ErpPosting,
        ErpReceipt,
        PaymentLink,
        PaymentLinkRequest,
        Recording,
    )
    from cobranza.domain.invoice import (
        Channel,
        InvoiceStatus,
        PaymentFailed,
        PaymentReceived,
        TimelineEntry,
        TimelineKind,
        local_instant,
    )
    from cobranza.domain.lifecycle import Lifecycle, PaymentOutcome
    from cobranza.domain.policy import EscalationAction, PlannedStep, StepKind, plan
    from cobranza.domain.views import CollectionInput, CollectionResult, InvoiceView, NextAction
    from cobranza.workflows import search_attributes as sa
    from cobranza.workflows.autopay import AutopayDesk
    from cobranza.workflows.contact import ContactDesk
    from cobranza.workflows.support_actions import SupportActions

ACTIVITY_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["PermanentIntegrationError"],
)
# A skipped timer may fire up to a second after its instant in virtual time; within this slack
# the business clock reads the timer's own instant, so timelines show 10:00:00, not 10:00:01.
TIMER_SLACK = timedelta(seconds=2)
# Continue-as-new well before the server's limits; a lifecycle rarely gets near this.
HISTORY_BUDGET = 5_000


@workflow.defn(name="InvoiceCollectionWorkflow")
class InvoiceCollectionWorkflow(SupportActions):
    """Issue, remind, wait for payment or the next step, escalate, close."""

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
        self._erp_queue: list[tuple[str, PaymentReceived]] = []
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

    # ---- effects -------------------------------------------------------------------------

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
    ) -> None:
        inv, life = self._input.invoice, self._life
        req = ErpPosting(
            idempotency_key=f"{inv.workflow_id}:{key}",
            invoice_id=inv.invoice_id,
            customer_id=inv.customer.customer_id,
            kind=kind,
            status=status,
            amount=payment.amount if payment else None,
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
                payment_id, payment = self._erp_queue.pop(0)
                await self._post_erp(
                    "payment",
                    self._life.state.status,
                    key=f"payment-{payment_id}",
                    summary=f"Post payment {payment_id} ({payment.amount}) to the ERP",
                    payment=payment,
                )
            if self._crm_queue:
                req = self._crm_queue.pop(0).model_copy(update={"recording": self._rec()})
                if await self._effect(
                    names.OPEN_CRM_TASK, req, CrmTaskReceipt, f"CRM task: {req.title}"
                ):
                    self._life.mark_recorded(req.recording)

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
        self._erp_queue.append((payment.payment_id, payment))

    def _timeline(self) -> list[TimelineEntry]:
        return [s.entry for s in self._life.state.timeline]

    def _wake(self) -> None:
        self._woken = True

    # ---- what ops see --------------------------------------------------------------------

    def _publish(self) -> None:
        life = self._life
        visible = (life.state.status.value, life.state.dunning_level, life.outstanding.minor)
        # Each upsert is a billable action and a history event: only when something changed.
        if visible != self._published:
            self._published = visible
            workflow.upsert_search_attributes(
                [
                    sa.INVOICE_STATUS.value_set(visible[0]),
                    sa.DUNNING_LEVEL.value_set(visible[1]),
                    sa.AMOUNT_DUE.value_set(visible[2]),
                ]
            )
        nxt = self._next_action()
        workflow.set_current_details(
            self._details(
                f"next: {nxt.action} at {nxt.at:%Y-%m-%d %H:%M %z}"
                if nxt.at
                else f"next: {nxt.action}"
            )
        )

    def _details(self, line: str) -> str:
        life, inv = self._life, self._input.invoice
        return (
            f"**{life.state.status.value}** · {life.outstanding} outstanding of {inv.amount} · "
            f"due {inv.due_on} · level {life.state.dunning_level} · "
            f"{life.state.reminders_sent} messages\n\n{line}"
        )

    def _next_action(self) -> NextAction:
        life = self._life
        status = life.state.status
        if life.is_closed:
            return NextAction(action="none", at=None, reason=f"invoice is {status.value}")
        if status is InvoiceStatus.PAUSED:
            until = life.state.paused_until
            return NextAction(
                action="resume",
                at=life.end_of_day(until - timedelta(days=1)) if until else None,
                reason="paused" + (f" until {until}" if until else " until someone resumes"),
            )
        if status is InvoiceStatus.PROMISED:
            p = life.state.promise
            assert p is not None
            reminder = life.promise_reminder_at()
            if reminder is not None:
                return NextAction(
                    action="gentle reminder",
                    at=reminder,
                    reason=f"promise to pay by {p.promised_on}",
                )
            return NextAction(
                action="check promise",
                at=life.promise_deadline(),
                reason=f"promise to pay by {p.promised_on}",
            )
        if status is InvoiceStatus.DISPUTED:
            return NextAction(
                action="wait for dispute resolution",
                at=None,
                reason="reminders and escalation stop while disputed",
            )
        pay = self._autopay
        if status is InvoiceStatus.PROCESSING:
            return NextAction(
                action="wait for the charge to settle",
                at=None,
                reason=(pay.summary() if pay else "a charge is processing")
                + "; no retry, reminder or escalation until then",
            )
        step = self._pending_step()
        charge_at = pay.due_at() if pay is not None else None
        if (
            pay is not None
            and charge_at is not None
            and (step is None or charge_at <= self._step_at(step))
        ):
            return NextAction(action="autopay charge", at=charge_at, reason=pay.summary())
        if step is None:
            return NextAction(
                action="wait for payment",
                at=None,
                reason=f"every step of {self._input.policy.ref} is done",
            )
        shifted = f", moved {life.state.shift_days} days by holds" if life.state.shift_days else ""
        at = self._step_at(step)
        decision = self._desk.lawful(step.channel, at) if step.channel is not None else None
        if decision is not None and decision.deferred:
            rules = ", ".join(r.why for r in decision.rules)
            shifted += f"; deferred to the first lawful instant under {decision.profile}: {rules}"
            at = decision.allowed_at
        return NextAction(
            action=step.label,
            at=at,
            reason=(
                f"policy {self._input.policy.ref} step {step.index + 1} of {len(self._plan)}"
                f"{shifted}"
            ),
        )

    @workflow.query
    def status(self) -> InvoiceView:
        return self._view()

    def _view(self) -> InvoiceView:
        life, inv = self._life, self._input.invoice
        s = life.state
        return InvoiceView(
            invoice_id=inv.invoice_id,
            customer_id=inv.customer.customer_id,
            status=s.status,
            currency=life.currency,
            amount=str(inv.amount.to_decimal()),
            paid=str(life.money(s.paid_minor).to_decimal()),
            credited=str(life.money(s.credited_minor).to_decimal()),
            written_off=str(life.money(s.written_off_minor).to_decimal()),
            outstanding=str(life.outstanding.to_decimal()),
            dunning_level=s.dunning_level,
            policy=self._input.policy.ref,
            policy_reason=self._input.policy_choice.reason if self._input.policy_choice else None,
            next_action=self._next_action(),
            payment_ids=list(s.payment_ids),
            promise_date=s.promise.promised_on.isoformat() if s.promise else None,
            disputed=s.disputed,
            autopay=self._autopay.summary() if self._autopay else None,
            as_of=self._now(),
        )

    @workflow.query
    def timeline(self) -> list[TimelineEntry]:
        return self._timeline()

    # ---- money in ------------------------------------------------------------------------

    @workflow.signal
    def payment_received(self, payment: PaymentReceived) -> None:
        """Money arrived (webhook, bank file, simulation); a repeated payment id changes nothing."""
        if payment.amount.currency != self._life.currency:
            self._life.add(
                TimelineKind.PAYMENT,
                self._now(),
                event="rejected",
                payment_id=payment.payment_id,
                reason=f"payment in {payment.amount.currency}, invoice in {self._life.currency}",
            )
            return
        outcome = self._life.apply_payment(payment, self._event_time(payment.received_at))
        if outcome in (PaymentOutcome.DUPLICATE, PaymentOutcome.IGNORED_CLOSED):
            return
        self._erp_queue.append((payment.payment_id, payment))
        self._wake()

    @workflow.signal
    def payment_failed(self, failure: PaymentFailed) -> None:
        """A failed attempt; stale once the invoice is paid, when it changes nothing (L-07).

        The gateway's "payment failed" for a charge that is processing settles it (L-05).
        """
        pay = self._pay() if self._input.autopay is not None else None
        if pay is not None and pay.processing == failure.attempt_id:
            settled = PaymentSettled(
                payment_id=failure.attempt_id,
                succeeded=False,
                settled_at=failure.failed_at,
                decline=Decline(code=failure.reason or None),
            )
            if pay.settled(settled):
                self._wake()
            return
        if not self._life.is_closed:
            self._life.add(
                TimelineKind.CHARGE_ATTEMPT,
                self._event_time(failure.failed_at),
                attempt_id=failure.attempt_id,
                result="failed",
                reason=failure.reason,
            )

    # ---- autopay ------------------------------------------------------------------------

    @workflow.signal
    def payment_settled(self, event: PaymentSettled) -> None:
        """A processing charge settled: closes on success, resumes dunning with the decline."""
        pay = self._pay()
        if pay is None:
            self._life.add(
                TimelineKind.CHARGE_ATTEMPT,
                self._now(),
                event="ignored",
                payment_id=event.payment_id,
                reason="invoice is not on autopay",
            )
            return
        if pay.settled(event):
            self._wake()

    @workflow.signal
    def payment_method_added(self, event: PaymentMethodAdded) -> None:
        """The customer put a method on file: charge at once (L-06)."""
        pay = self._pay()
        if pay is None:
            self._life.add(
                TimelineKind.CHARGE_ATTEMPT,
                self._now(),
                event="method_refused",
                method=event.method.method_id,
                reason="invoice is not on autopay",
            )
            return
        if pay.method_added(event):
            self._wake()


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
