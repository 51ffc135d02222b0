"""The state of one invoice's collection and its explicit transitions, free of Temporal."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from cobranza.domain.autopay import AutopayState, ChargeRecord, Verdict
from cobranza.domain.compliance import PastContact
from cobranza.domain.contact_gate import Grant
from cobranza.domain.effects import InvoiceSnapshot, Recording, SequencedEntry
from cobranza.domain.invoice import (
    DisputeOutcome,
    DisputeResolution,
    Invoice,
    InvoiceStatus,
    PauseRequest,
    PaymentReceived,
    PromiseRequest,
    TimelineEntry,
    TimelineKind,
    local_instant,
)
from cobranza.domain.money import Money
from cobranza.domain.policy import Policy, validate_promise

HOLD_STATUSES = frozenset(
    {
        InvoiceStatus.PAUSED,
        InvoiceStatus.PROMISED,
        InvoiceStatus.DISPUTED,
        InvoiceStatus.PROCESSING,
    }
)
PROCESSING_REFUSAL = "an autopay charge is processing; wait until it settles"
ALREADY_PAUSED_REFUSAL = "invoice is paused already; this request pauses only one that is not"


class PaymentOutcome(StrEnum):
    DUPLICATE = "duplicate"
    PARTIAL = "partial"
    FULL = "full"
    OVER = "over"
    IGNORED_CLOSED = "ignored_closed"


class Promise(BaseModel):
    promised_on: date
    amount_minor: int
    paid_minor_at_start: int
    actor: str
    reason: str
    reminded: bool = False


class Deferral(BaseModel):
    """Why a due contact waited: when it was due and the rules that moved it."""

    deferred_from: str
    rules: list[str]
    profile: str


class CollectionState(BaseModel):
    """Everything a lifecycle must remember; carried whole across continue-as-new."""

    status: InvoiceStatus = InvoiceStatus.SCHEDULED
    paid_minor: int = 0
    credited_minor: int = 0
    written_off_minor: int = 0
    payment_ids: list[str] = Field(default_factory=list)
    dunning_level: int = 0
    next_step: int = 0
    shift_days: int = 0
    hold_started: datetime | None = None
    status_before_hold: InvoiceStatus | None = None
    paused_until: date | None = None
    promise: Promise | None = None
    broken_promises: int = 0
    disputed: bool = False
    reminders_sent: int = 0
    payment_link: str | None = None
    closed_at: datetime | None = None
    timeline: list[SequencedEntry] = Field(default_factory=list)
    recorded_upto: int = 0
    contacts: list[PastContact] = Field(default_factory=list)
    deferrals: dict[str, Deferral] = Field(default_factory=dict)
    grants: dict[str, Grant] = Field(default_factory=dict)
    autopay: AutopayState | None = None


class Lifecycle:
    """Applies business events to a CollectionState and writes the timeline as it goes."""

    def __init__(
        self, invoice: Invoice, policy: Policy, state: CollectionState | None = None
    ) -> None:
        self.invoice = invoice
        self.policy = policy
        self.state = state or CollectionState()

    # ---- reading -------------------------------------------------------------------------

    @property
    def currency(self) -> str:
        return self.invoice.amount.currency

    def money(self, minor: int) -> Money:
        return Money(minor=minor, currency=self.currency)

    @property
    def outstanding(self) -> Money:
        s = self.state
        return self.money(
            max(
                0, self.invoice.amount.minor - s.paid_minor - s.credited_minor - s.written_off_minor
            )
        )

    @property
    def is_closed(self) -> bool:
        return self.state.status.is_closed

    @property
    def on_hold(self) -> bool:
        return self.state.status in HOLD_STATUSES

    def local_date(self, at: datetime) -> date:
        return at.astimezone(self.invoice.customer.zone).date()

    def end_of_day(self, day: date) -> datetime:
        """First instant after a local calendar day."""
        return local_instant(day + timedelta(days=1), time(0, 0), self.invoice.customer.timezone)

    def snapshot(self, at: datetime) -> InvoiceSnapshot:
        inv, s = self.invoice, self.state
        return InvoiceSnapshot(
            workflow_id=inv.workflow_id,
            tenant=inv.tenant,
            invoice_id=inv.invoice_id,
            customer_id=inv.customer.customer_id,
            customer_name=inv.customer.name or None,
            country=inv.customer.country,
            currency=self.currency,
            amount_minor=inv.amount.minor,
            paid_minor=s.paid_minor,
            credited_minor=s.credited_minor,
            written_off_minor=s.written_off_minor,
            status=s.status,
            dunning_level=s.dunning_level,
            issued_on=inv.issued_on,
            due_on=inv.due_on,
            closed_at=s.closed_at,
            overdue_from=inv.overdue_from(),
            policy_ref=self.policy.ref,
            reminders_sent=s.reminders_sent,
            disputed=s.disputed,
            updated_at=at,
        )

    def recording(self, at: datetime) -> Recording:
        """Snapshot plus every timeline entry not yet written to the store."""
        s = self.state
        return Recording(snapshot=self.snapshot(at), entries=list(s.timeline[s.recorded_upto :]))

    def mark_recorded(self, recording: Recording) -> None:
        if recording.entries:
            self.state.recorded_upto = max(self.state.recorded_upto, recording.entries[-1].seq + 1)

    # ---- writing -------------------------------------------------------------------------

    def add(self, kind: TimelineKind, at: datetime, **details: Any) -> None:
        entry = TimelineEntry(at=at, invoice=self.invoice.invoice_id, kind=kind, details=details)
        self.state.timeline.append(SequencedEntry(seq=len(self.state.timeline), entry=entry))

    def set_status(self, status: InvoiceStatus, at: datetime, reason: str) -> None:
        previous = self.state.status
        if previous == status:
            return
        self.state.status = status
        self.add(
            TimelineKind.STATE_CHANGE,
            at,
            **{"from": previous.value, "to": status.value, "reason": reason},
        )

    def dunning_status(self, at: datetime) -> InvoiceStatus:
        return InvoiceStatus.OVERDUE if self.invoice.is_overdue_at(at) else InvoiceStatus.OPEN

    def refresh_due_status(self, at: datetime) -> None:
        """OPEN becomes OVERDUE at midnight after the due date, customer's zone (L-04)."""
        if self.state.status is InvoiceStatus.OPEN and self.invoice.is_overdue_at(at):
            self.set_status(InvoiceStatus.OVERDUE, at, "due date passed")

    def issue(self, at: datetime, payment_link: str | None) -> None:
        self.state.payment_link = payment_link
        self.add(
            TimelineKind.ISSUED,
            at,
            amount=str(self.invoice.amount.to_decimal()),
            currency=self.currency,
            due_on=self.invoice.due_on.isoformat(),
            policy=self.policy.ref,
        )
        # Money (or a support action) may have arrived while the invoice was being issued:
        # issuing opens only an invoice nothing has happened to yet, never reopens a paid one.
        if self.state.status is InvoiceStatus.SCHEDULED:
            self.set_status(self.dunning_status(at), at, "invoice issued")

    def close(self, status: InvoiceStatus, at: datetime, reason: str) -> None:
        self.state.promise = None
        self.set_status(status, at, reason)
        self.state.closed_at = at
        self.add(
            TimelineKind.CLOSED,
            at,
            status=status.value,
            outstanding=str(self.outstanding.to_decimal()),
        )

    def apply_payment(self, payment: PaymentReceived, at: datetime) -> PaymentOutcome:
        """Record money received; a payment id seen before changes nothing (L-07)."""
        s = self.state
        if payment.payment_id in s.payment_ids:
            return PaymentOutcome.DUPLICATE
        if self.is_closed:
            return PaymentOutcome.IGNORED_CLOSED
        s.payment_ids.append(payment.payment_id)
        before = self.outstanding
        s.paid_minor += payment.amount.minor
        excess = payment.amount.minor - before.minor
        outcome = (
            PaymentOutcome.OVER
            if excess > 0
            else PaymentOutcome.FULL
            if excess == 0
            else PaymentOutcome.PARTIAL
        )
        self.add(
            TimelineKind.PAYMENT,
            at,
            payment_id=payment.payment_id,
            amount=str(payment.amount.to_decimal()),
            currency=self.currency,
            outstanding=str(self.outstanding.to_decimal()),
            outcome=outcome.value,
            **({"credit": str(self.money(excess).to_decimal())} if excess > 0 else {}),
        )
        if outcome is PaymentOutcome.PARTIAL:
            self._check_promise_kept(at)
        else:
            self.close(InvoiceStatus.PAID, at, f"paid in full by {payment.payment_id}")
        return outcome

    # ---- holds: pause, promise, dispute --------------------------------------------------

    def _enter_hold(self, status: InvoiceStatus, at: datetime, reason: str) -> None:
        s = self.state
        if not self.on_hold:
            s.status_before_hold = s.status
            s.hold_started = at
        self.set_status(status, at, reason)

    def _leave_hold(self, at: datetime, reason: str) -> None:
        """Back to dunning; the remaining steps move later by the whole days spent on hold."""
        s = self.state
        if s.hold_started is not None:
            held = (self.local_date(at) - self.local_date(s.hold_started)).days
            s.shift_days += max(0, held)
        s.hold_started = None
        s.status_before_hold = None
        s.paused_until = None
        self.set_status(self.dunning_status(at), at, reason)

    def why_not_pause(self, req: PauseRequest, at: datetime) -> str | None:
        if self.is_closed:
            return f"invoice is {self.state.status.value}"
        if self.state.status is InvoiceStatus.DISPUTED:
            return "invoice is disputed; resolve the dispute instead"
        if self.state.status is InvoiceStatus.PROCESSING:
            return PROCESSING_REFUSAL
        if self.state.promise is not None:
            return (
                f"invoice has a promise to pay by {self.state.promise.promised_on}; "
                "it already holds reminders until then"
            )
        if req.only_if_not_paused and self.state.status is InvoiceStatus.PAUSED:
            return ALREADY_PAUSED_REFUSAL
        if req.until is not None:
            today = self.local_date(at)
            if req.until <= today:
                return f"resume date {req.until} is not after today ({today})"
            days, limit = (req.until - today).days, self.policy.pause.max_days
            if days > limit:
                return f"pause of {days} days exceeds the policy maximum of {limit}"
        return None

    def pause(self, req: PauseRequest, at: datetime) -> None:
        """Hold dunning; with no resume date, the policy's longest pause sets one."""
        latest = self.local_date(at) + timedelta(days=self.policy.pause.max_days)
        self.state.paused_until = req.until or latest
        until = f" until {self.state.paused_until}"
        reason = f"paused by {req.actor}{until}: {req.reason}"
        if self.state.status is InvoiceStatus.PAUSED:
            # Paused again over a pause (a person over reconciliation's hold, say): the pause
            # is now theirs, so whoever set the first one no longer lifts it on their own.
            paused = InvoiceStatus.PAUSED.value
            self.add(
                TimelineKind.STATE_CHANGE, at, **{"from": paused, "to": paused, "reason": reason}
            )
            return
        self._enter_hold(InvoiceStatus.PAUSED, at, reason)

    def why_not_resume(self) -> str | None:
        if self.state.status is not InvoiceStatus.PAUSED:
            return f"invoice is {self.state.status.value}, not paused"
        return None

    def resume(self, at: datetime, reason: str) -> None:
        self._leave_hold(at, reason)

    def pause_expired(self, at: datetime) -> bool:
        s = self.state
        return (
            s.status is InvoiceStatus.PAUSED
            and s.paused_until is not None
            and self.local_date(at) >= s.paused_until
        )

    def why_not_promise(self, req: PromiseRequest, at: datetime) -> str | None:
        if self.is_closed:
            return f"invoice is {self.state.status.value}"
        if self.state.status is InvoiceStatus.DISPUTED:
            return "invoice is disputed"
        if self.state.status is InvoiceStatus.PROCESSING:
            return PROCESSING_REFUSAL
        if req.amount is not None:
            if req.amount.currency != self.currency:
                return f"promise is in {req.amount.currency} but the invoice is in {self.currency}"
            if not req.amount.is_positive() or self.outstanding < req.amount:
                return f"promised amount must be between 0 and the outstanding {self.outstanding}"
        return validate_promise(self.policy, self.local_date(at), req.promised_on)

    def accept_promise(self, req: PromiseRequest, at: datetime) -> None:
        amount = req.amount.minor if req.amount is not None else self.outstanding.minor
        self.state.promise = Promise(
            promised_on=req.promised_on,
            amount_minor=amount,
            paid_minor_at_start=self.state.paid_minor,
            actor=req.actor,
            reason=req.reason,
        )
        self.add(
            TimelineKind.PROMISE,
            at,
            event="accepted",
            promised_on=req.promised_on.isoformat(),
            amount=str(self.money(amount).to_decimal()),
            actor=req.actor,
            reason=req.reason,
        )
        self._enter_hold(InvoiceStatus.PROMISED, at, f"promise to pay by {req.promised_on}")

    def promise_deadline(self) -> datetime | None:
        p = self.state.promise
        return self.end_of_day(p.promised_on) if p else None

    def promise_reminder_at(self) -> datetime | None:
        p = self.state.promise
        if p is None or p.reminded or not self.policy.promise_to_pay.reminder_day_before:
            return None
        day = p.promised_on - timedelta(days=1)
        return local_instant(day, self.policy.send_time, self.invoice.customer.timezone)

    def _check_promise_kept(self, at: datetime) -> None:
        p = self.state.promise
        if p is not None and self.state.paid_minor - p.paid_minor_at_start >= p.amount_minor:
            self.add(TimelineKind.PROMISE, at, event="kept", promised_on=p.promised_on.isoformat())
            self.state.promise = None
            self._leave_hold(at, "promise kept")

    def break_promise(self, at: datetime) -> None:
        p = self.state.promise
        assert p is not None
        self.state.promise = None
        self.state.broken_promises += 1
        self.add(TimelineKind.PROMISE, at, event="broken", promised_on=p.promised_on.isoformat())
        self._leave_hold(at, "promise broken: dunning resumes")

    def why_not_dispute(self) -> str | None:
        if self.is_closed:
            return f"invoice is {self.state.status.value}"
        if self.state.status is InvoiceStatus.DISPUTED:
            return "invoice is already disputed"
        return None

    def open_dispute(self, actor: str, reason: str, at: datetime) -> None:
        self.state.disputed = True
        self.state.promise = None
        self.add(TimelineKind.DISPUTE, at, event="opened", actor=actor, reason=reason)
        self._enter_hold(InvoiceStatus.DISPUTED, at, f"disputed: {reason}")

    def why_not_resolve(self, res: DisputeResolution) -> str | None:
        if self.state.status is not InvoiceStatus.DISPUTED:
            return f"invoice is {self.state.status.value}, not disputed"
        if res.credit is not None:
            if res.outcome is not DisputeOutcome.CUSTOMER:
                return "a credit note only goes with a resolution in the customer's favour"
            if res.credit.currency != self.currency:
                return f"credit is in {res.credit.currency} but the invoice is in {self.currency}"
            if not res.credit.is_positive() or self.outstanding < res.credit:
                return f"credit must be between 0 and the outstanding {self.outstanding}"
        return None

    def resolve_dispute(self, res: DisputeResolution, at: datetime) -> None:
        """Customer's favour: cancel or reduce by a credit note; creditor's: resume (L-09)."""
        self.add(
            TimelineKind.DISPUTE,
            at,
            event="resolved",
            outcome=res.outcome.value,
            actor=res.actor,
            reason=res.reason,
            **({"credit": str(res.credit.to_decimal())} if res.credit else {}),
        )
        if res.outcome is DisputeOutcome.CUSTOMER and res.credit is None:
            self.close(
                InvoiceStatus.CANCELLED, at, f"dispute resolved for the customer: {res.reason}"
            )
            return
        if res.credit is not None:
            self.state.credited_minor += res.credit.minor
        if self.outstanding.is_zero():
            self.close(InvoiceStatus.PAID, at, "settled by credit note")
        else:
            self._leave_hold(at, f"dispute resolved ({res.outcome.value}): dunning resumes")

    def why_not_close(self) -> str | None:
        if self.is_closed:
            return f"invoice is already {self.state.status.value}"
        return None

    def write_off(
        self, at: datetime, reason: str, status: InvoiceStatus = InvoiceStatus.WRITTEN_OFF
    ) -> None:
        self.state.written_off_minor += self.outstanding.minor
        self.close(status, at, reason)

    # ---- autopay ------------------------------------------------------------------------

    def record_charge(self, verdict: Verdict, at: datetime) -> None:
        """One charge attempt (or the finding that none is possible) in the timeline."""
        charge: ChargeRecord | None = verdict.charge
        details: dict[str, Any] = {"reason": verdict.reason}
        if verdict.category is not None:
            details["category"] = verdict.category.value
        if verdict.retry_at is not None:
            details["retry_at"] = verdict.retry_at.isoformat()
        if charge is None:
            details["result"] = "no_payment_method"
        else:
            details.update(
                attempt=charge.number,
                result=charge.status.value if charge.status else "no_answer",
                amount=str(self.money(charge.amount_minor).to_decimal()),
                currency=self.currency,
                method=charge.method.method_id,
                network=charge.method.network.value,
                by_method_added=charge.by_method_added,
            )
            if charge.payment_id:
                details["payment_id"] = charge.payment_id
            if charge.decline is not None:
                d = charge.decline
                codes = {
                    "code": d.code,
                    "network_code": d.network_code,
                    "advice_code": d.advice_code,
                }
                details.update({k: v for k, v in codes.items() if v})
        self.add(TimelineKind.CHARGE_ATTEMPT, at, **details)

    def start_processing(self, at: datetime, payment_id: str) -> None:
        self._enter_hold(InvoiceStatus.PROCESSING, at, f"charge {payment_id} is processing")

    def end_processing(self, at: datetime, reason: str) -> None:
        """A processing charge failed: back to dunning, unless another hold came meanwhile."""
        if self.state.status is InvoiceStatus.PROCESSING:
            self._leave_hold(at, reason)

    def escalate(self, level: int, at: datetime, action: str) -> None:
        self.state.dunning_level = level
        self.add(TimelineKind.ESCALATION, at, level=level, action=action)
