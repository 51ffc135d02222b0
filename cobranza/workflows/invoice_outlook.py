"""What ops see of an invoice: search attributes, current details, next action, the queries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from cobranza.domain.invoice import InvoiceStatus, TimelineEntry
    from cobranza.domain.lifecycle import Lifecycle
    from cobranza.domain.policy import PlannedStep
    from cobranza.domain.views import CollectionInput, InvoiceView, NextAction
    from cobranza.workflows import search_attributes as sa
    from cobranza.workflows.autopay import AutopayDesk
    from cobranza.workflows.contact import ContactDesk


class InvoiceOutlook:
    """Tells the state of InvoiceCollectionWorkflow, which supplies it, to the UI and queries."""

    _input: CollectionInput
    _life: Lifecycle
    _plan: list[PlannedStep]
    _published: tuple[str, int, int] | None
    _desk: ContactDesk
    _autopay: AutopayDesk | None

    # Declared for the type checker only: at run time a stub could shadow the real method
    # that a later base of InvoiceCollectionWorkflow supplies (SupportActions._task, say).
    if TYPE_CHECKING:

        def _now(self) -> datetime: ...

        def _step_at(self, step: PlannedStep) -> datetime: ...

        def _pending_step(self) -> PlannedStep | None: ...

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

    def _timeline(self) -> list[TimelineEntry]:
        return [s.entry for s in self._life.state.timeline]
