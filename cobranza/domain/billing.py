"""Recurring billing: subscriptions, their billing periods and when dunning suspends the service."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cobranza.domain.compliance_profile import ComplianceProfile
from cobranza.domain.invoice import Actor, Customer, Invoice, InvoiceStatus, local_instant
from cobranza.domain.money import CurrentMoney
from cobranza.domain.policy import Policy

# A suspension is lifted only when the invoices behind it end in one of these: paid, or withdrawn
# by the creditor. A written-off or handed-off invoice is still unpaid, so the service stays off.
LIFTING_STATUSES = frozenset({InvoiceStatus.PAID, InvoiceStatus.CANCELLED})
# The parent looks at an invoice this long after its ladder should have reached the suspend
# level, so that the escalation, due at the same instant, has happened by then.
CHECK_AFTER_STEP = timedelta(hours=1)
# How often an open invoice is looked at again once its first check found nothing to do: holds
# (pause, promise, dispute) move its ladder, and a suspended service waits for the payment.
RECHECK_EVERY = timedelta(days=1)
# Events kept in the workflow's state across continue-as-new; older ones live in past runs.
EVENTS_KEPT = 100


def months_in(interval: Literal["monthly", "yearly"], every: int) -> int:
    return every * (12 if interval == "yearly" else 1)


def anchored(year: int, month: int, anchor_day: int) -> date:
    """The anchor day in a month, or the month's last day when the month is shorter (31 -> 28)."""
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(anchor_day, last))


def add_months(start: date, months: int, anchor_day: int) -> date:
    index = start.year * 12 + (start.month - 1) + months
    return anchored(index // 12, index % 12 + 1, anchor_day)


class Subscription(BaseModel):
    """What a customer subscribed to: an amount billed every interval on an anchor day."""

    model_config = ConfigDict(frozen=True)

    subscription_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][\w.-]*$")
    customer: Customer
    amount: CurrentMoney
    interval: Literal["monthly", "yearly"] = "monthly"
    every: int = Field(default=1, ge=1, le=120, description="bill every N months (or years)")
    anchor_day: int | None = Field(
        default=None,
        ge=1,
        le=31,
        description="day of the month a period starts; 31 bills on the last day of short months",
    )
    start_date: date = Field(description="first day of the first period, on the anchor day")
    periods: int | None = Field(default=None, ge=1, description="end after this many periods")
    net_days: int = Field(default=15, ge=0, le=365, description="days from issue to due date")
    policy: str = Field(min_length=1, description="dunning policy of every invoice")
    suspend_at_level: int = Field(ge=1, description="dunning level that suspends the service")
    description: str = ""

    @model_validator(mode="after")
    def _coherent(self) -> Subscription:
        if not self.amount.is_positive():
            raise ValueError(f"amount must be positive, got {self.amount}")
        if self.anchor_day is not None:
            expected = anchored(self.start_date.year, self.start_date.month, self.anchor_day)
            if expected != self.start_date:
                raise ValueError(
                    f"start_date {self.start_date} is not on anchor day {self.anchor_day}: "
                    f"the first period of that month starts on {expected}"
                )
        return self

    @property
    def tenant(self) -> str:
        return self.customer.tenant

    @property
    def anchor(self) -> int:
        return self.anchor_day if self.anchor_day is not None else self.start_date.day

    @property
    def months(self) -> int:
        return months_in(self.interval, self.every)

    @property
    def workflow_id(self) -> str:
        return subscription_workflow_id(self.tenant, self.subscription_id)


def subscription_workflow_id(tenant: str, subscription_id: str) -> str:
    return f"subscription-{tenant}-{subscription_id}"


class BillingPeriod(BaseModel):
    """One period of a subscription: the days it covers and the dates of its invoice."""

    model_config = ConfigDict(frozen=True)

    number: int = Field(ge=1)
    start: date
    end: date = Field(description="last day covered, inclusive")
    issue_on: date
    due_on: date


def period(subscription: Subscription, n: int) -> BillingPeriod:
    """Period `n` (1 is the first), billed in advance on its first day."""
    if n < 1:
        raise ValueError(f"period numbers start at 1, got {n}")
    sub = subscription
    start = add_months(sub.start_date, (n - 1) * sub.months, sub.anchor)
    end = add_months(sub.start_date, n * sub.months, sub.anchor) - timedelta(days=1)
    return BillingPeriod(
        number=n,
        start=start,
        end=end,
        issue_on=start,
        due_on=start + timedelta(days=sub.net_days),
    )


def has_period(subscription: Subscription, n: int) -> bool:
    return n >= 1 and (subscription.periods is None or n <= subscription.periods)


def invoice_id(subscription: Subscription, n: int) -> str:
    """Stable per period, so a replay or a restart finds the invoice instead of issuing again."""
    return f"{subscription.subscription_id}-{n:04d}"


def period_invoice(subscription: Subscription, n: int) -> Invoice:
    p = period(subscription, n)
    return Invoice(
        invoice_id=invoice_id(subscription, n),
        customer=subscription.customer,
        amount=subscription.amount,
        issued_on=p.issue_on,
        due_on=p.due_on,
        description=(subscription.description or f"Subscription {subscription.subscription_id}")
        + f", period {n}: {p.start} to {p.end}",
    )


def issue_instant(subscription: Subscription, n: int, send_time: time) -> datetime:
    """When period `n`'s invoice goes out: the policy's send time on the issue day, locally."""
    return local_instant(
        period(subscription, n).issue_on, send_time, subscription.customer.timezone
    )


def first_check_at(subscription: Subscription, policy: Policy, n: int) -> datetime:
    """When to first look whether period `n`'s invoice reached the suspend level."""
    day = period(subscription, n).due_on + timedelta(
        days=suspend_day(policy, subscription.suspend_at_level)
    )
    at = local_instant(day, policy.send_time, subscription.customer.timezone)
    return at + CHECK_AFTER_STEP


def suspend_day(policy: Policy, level: int) -> int:
    """Days after the due date on which the policy's ladder reaches `level`."""
    for step in policy.escalation:
        if step.level >= level:
            return step.day
    raise ValueError(
        f"policy {policy.ref} never reaches dunning level {level}: its levels are "
        f"{[s.level for s in policy.escalation]}"
    )


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    ENDED = "ended"


class ServiceState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class WatchedInvoice(BaseModel):
    """An issued invoice the subscription still cares about, and when to look at it next."""

    period: int
    invoice_id: str
    workflow_id: str
    check_at: datetime | None = Field(description="None once only its payment could matter")
    status: InvoiceStatus = InvoiceStatus.OPEN
    dunning_level: int = 0
    blocking: bool = Field(default=False, description="reached the suspend level, unpaid")


class InvoiceProgress(BaseModel):
    """What the server says about one invoice's lifecycle."""

    workflow_id: str
    found: bool = True
    running: bool
    status: InvoiceStatus | None
    dunning_level: int = 0


class SubscriptionEvent(BaseModel):
    at: datetime
    kind: str
    period: int | None = None
    detail: str = ""


class SubscriptionState(BaseModel):
    """Everything a run hands to the next one at continue-as-new."""

    next_period: int = 1
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    paused_until: date | None = None
    service: ServiceState = ServiceState.ACTIVE
    suspended_for: int | None = Field(
        default=None, description="period whose invoice started the current suspension"
    )
    suspended_invoice: str | None = None
    watched: list[WatchedInvoice] = Field(default_factory=list)
    issued: list[str] = Field(default_factory=list, description="invoice ids, in order")
    skipped: list[int] = Field(default_factory=list, description="periods not billed (paused)")
    events: list[SubscriptionEvent] = Field(default_factory=list)

    def note(self, at: datetime, kind: str, period: int | None = None, detail: str = "") -> None:
        self.events.append(SubscriptionEvent(at=at, kind=kind, period=period, detail=detail))
        del self.events[:-EVENTS_KEPT]


class ServiceChange(BaseModel):
    """Suspend or restore the service, keyed by the period that started the suspension."""

    action: Literal["suspend", "restore"]
    period: int
    invoice_id: str


def observe(
    state: SubscriptionState,
    progress: list[InvoiceProgress],
    now: datetime,
    suspend_at_level: int,
) -> ServiceChange | None:
    """Fold what the server reported into the watch list; say whether the service must change.

    An invoice blocks the service once its dunning level reaches the subscription's suspend level
    and stops blocking when it is paid or cancelled. The service is suspended while any invoice
    blocks it and restored when none does. A running invoice whose check was due is looked at
    again a day later; one looked at early (along with an issue) keeps its check.
    """
    by_id = {p.workflow_id: p for p in progress}
    kept: list[WatchedInvoice] = []
    for w in state.watched:
        p = by_id.get(w.workflow_id)
        if p is not None and not p.found:
            state.note(now, "invoice_missing", w.period, f"{w.workflow_id} is not on the server")
            continue
        if p is not None:
            w.status = p.status or w.status
            w.dunning_level = max(w.dunning_level, p.dunning_level)
            if not p.running:
                w.check_at = None
            elif w.check_at is not None and w.check_at <= now:
                w.check_at = now + RECHECK_EVERY
        w.blocking = w.status not in LIFTING_STATUSES and w.dunning_level >= suspend_at_level
        if w.blocking or (w.check_at is not None and w.status not in LIFTING_STATUSES):
            kept.append(w)
    state.watched = kept
    return _service_change(state)


def _service_change(state: SubscriptionState) -> ServiceChange | None:
    blocking = [w for w in state.watched if w.blocking]
    if state.service is ServiceState.ACTIVE and blocking:
        first = blocking[0]
        return ServiceChange(action="suspend", period=first.period, invoice_id=first.invoice_id)
    if state.service is ServiceState.SUSPENDED and not blocking:
        assert state.suspended_for is not None and state.suspended_invoice is not None
        return ServiceChange(
            action="restore", period=state.suspended_for, invoice_id=state.suspended_invoice
        )
    return None


def apply_change(state: SubscriptionState, change: ServiceChange, now: datetime) -> None:
    """Record a change the ERP confirmed."""
    if change.action == "suspend":
        state.service = ServiceState.SUSPENDED
        state.suspended_for, state.suspended_invoice = change.period, change.invoice_id
        detail = f"invoice {change.invoice_id} reached the suspend level unpaid"
    else:
        state.service = ServiceState.ACTIVE
        state.suspended_for = state.suspended_invoice = None
        detail = f"no unpaid invoice at the suspend level (suspended for {change.invoice_id})"
    state.note(now, change.action, change.period, detail)


class InvoiceCheck(BaseModel):
    workflow_ids: list[str] = Field(min_length=1)


class InvoiceCheckResult(BaseModel):
    progress: list[InvoiceProgress]


class ServiceRequest(BaseModel):
    """One suspension or restoration; the key comes from the subscription and the period."""

    idempotency_key: str = Field(min_length=1)
    service_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    invoice_id: str
    period: int
    reason: str = Field(min_length=1)


class ServiceReceipt(BaseModel):
    """What the ERP answered: the action's id, the service's state now, whether it changed."""

    action_id: str
    service_id: str
    state: ServiceState
    changed: bool


class SubscriptionInput(BaseModel):
    """The one input of RecurringBillingWorkflow; new fields get defaults so old runs load."""

    subscription: Subscription
    policy: Policy
    compliance: ComplianceProfile | None = Field(
        default=None, description="Contact rules of the customer's country, for every invoice."
    )
    contact_gate: bool = True
    clock_offset: timedelta = Field(
        default=timedelta(0),
        description="How far the server's clock runs ahead of the subscription's own dates.",
    )
    task_queue: str = "cobranza"
    state: SubscriptionState | None = None

    @model_validator(mode="after")
    def _policy_fits(self) -> SubscriptionInput:
        sub = self.subscription
        if self.policy.id != sub.policy and self.policy.ref != sub.policy:
            raise ValueError(
                f"subscription names policy {sub.policy!r} but was given {self.policy.ref}"
            )
        levels = [s.level for s in self.policy.escalation]
        if sub.suspend_at_level not in levels:
            raise ValueError(
                f"suspend_at_level {sub.suspend_at_level} is not a level of policy "
                f"{self.policy.ref}: its escalation levels are {levels}"
            )
        return self


class PauseSubscription(Actor):
    until: date | None = Field(default=None, description="resume on this day; None: until asked")


class ResumeSubscription(Actor):
    pass


class CancelSubscription(Actor):
    pass


class SubscriptionView(BaseModel):
    """Answer to the status query and to every update."""

    subscription_id: str
    status: SubscriptionStatus
    service: ServiceState
    period: int = Field(description="the last period issued (0 before the first)")
    next_issue_at: datetime | None
    paused_until: date | None
    open_invoices: list[WatchedInvoice]
    issued: int
    skipped: list[int]
    events: list[SubscriptionEvent]
    as_of: datetime
