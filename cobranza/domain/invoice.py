"""Invoices, customers and the lifecycle vocabulary shared by workflows, activities and reports."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cobranza.domain.money import CurrentMoney, Money


class InvoiceStatus(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    OVERDUE = "overdue"
    PAUSED = "paused"
    PROMISED = "promised"
    DISPUTED = "disputed"
    PROCESSING = "processing"  # an autopay charge awaits settlement: nothing else happens
    PAID = "paid"
    CANCELLED = "cancelled"
    WRITTEN_OFF = "written_off"
    HANDED_OFF = "handed_off"

    @property
    def is_closed(self) -> bool:
        return self in CLOSED_STATUSES


CLOSED_STATUSES = frozenset(
    {
        InvoiceStatus.PAID,
        InvoiceStatus.CANCELLED,
        InvoiceStatus.WRITTEN_OFF,
        InvoiceStatus.HANDED_OFF,
    }
)


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"


class Customer(BaseModel):
    """A person or company that owes money, with where and how to reach them."""

    model_config = ConfigDict(frozen=True)

    tenant: str = "default"
    customer_id: str = Field(min_length=1)
    name: str = ""
    email: str | None = None
    phone: str | None = None
    country: str = Field(min_length=2, max_length=2)
    # ISO 3166-2 subdivision (state) when its law adds to the country's, e.g. SP in Brazil.
    subdivision: str | None = None
    timezone: str
    locale: str = "en_US"
    segment: str = "standard"
    # Addresses the customer asked not to be contacted at; an entry blocks that address only
    # (see contact_points: `whatsapp:+52...` or `sms:+52...` narrows it to one channel).
    opted_out: frozenset[str] = frozenset()
    risk_score: int | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}: expected an IANA name such as America/Bogota"
            ) from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Invoice(BaseModel):
    """What is owed: amount, currency, and the calendar dates where the customer lives."""

    model_config = ConfigDict(frozen=True)

    invoice_id: str = Field(min_length=1)
    customer: Customer
    amount: CurrentMoney
    issued_on: date
    due_on: date
    description: str = ""

    @model_validator(mode="after")
    def _coherent(self) -> Invoice:
        if not self.amount.is_positive():
            raise ValueError(f"amount must be positive, got {self.amount}")
        if self.due_on < self.issued_on:
            raise ValueError(f"due date {self.due_on} is before issue date {self.issued_on}")
        return self

    @property
    def tenant(self) -> str:
        return self.customer.tenant

    @property
    def workflow_id(self) -> str:
        return invoice_workflow_id(self.tenant, self.invoice_id)

    def overdue_from(self) -> datetime:
        """First overdue instant: midnight after the due date in the customer's zone (L-04)."""
        return local_instant(self.due_on + timedelta(days=1), time(0, 0), self.customer.timezone)

    def is_overdue_at(self, instant: datetime) -> bool:
        return instant >= self.overdue_from()

    def days_overdue_at(self, instant: datetime) -> int:
        local_day = instant.astimezone(self.customer.zone).date()
        return max(0, (local_day - self.due_on).days)


def invoice_workflow_id(tenant: str, invoice_id: str) -> str:
    return f"invoice-{tenant}-{invoice_id}"


def local_instant(day: date, at: time, timezone: str) -> datetime:
    """The aware instant of a wall-clock time on a calendar day in a zone.

    A wall time that does not exist (the hour skipped when clocks go forward) moves to the
    first instant after the gap, so a step is never scheduled at a time nobody can see.
    """
    zone = ZoneInfo(timezone)
    naive = datetime.combine(day, at)
    candidate = naive.replace(tzinfo=zone)
    round_trip = candidate.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None)
    if round_trip != naive:
        # In a gap: the UTC offset before the gap puts us past it; take that instant.
        candidate = candidate.astimezone(ZoneInfo("UTC")).astimezone(zone)
    return candidate


class Actor(BaseModel):
    """Who asked for a support action and why; every action carries both."""

    actor: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class PaymentFailed(BaseModel):
    """The gateway says an attempt failed; it may arrive late, after a later success."""

    attempt_id: str = Field(min_length=1)
    failed_at: datetime
    reason: str = ""


class PaymentReceived(BaseModel):
    payment_id: str = Field(min_length=1)
    amount: Money
    received_at: datetime
    method: str = "transfer"
    reference: str = ""

    @field_validator("received_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("received_at must carry a UTC offset")
        return value


class PauseRequest(Actor):
    until: date | None = None
    # Refused with lifecycle.ALREADY_PAUSED_REFUSAL when a pause is in place, checked in the
    # validator itself: a caller that must never take over someone else's pause (reconciliation)
    # cannot do it safely by querying first, since a person may pause between query and update.
    only_if_not_paused: bool = False


class ResumeRequest(Actor):
    pass


class PromiseRequest(Actor):
    promised_on: date
    amount: Money | None = None


class DisputeRequest(Actor):
    pass


class DisputeOutcome(StrEnum):
    CUSTOMER = "customer"
    CREDITOR = "creditor"


class DisputeResolution(Actor):
    outcome: DisputeOutcome
    credit: Money | None = None


class CancelRequest(Actor):
    pass


class WriteOffRequest(Actor):
    pass


class TimelineKind(StrEnum):
    ISSUED = "issued"
    MESSAGE = "message"
    CHARGE_ATTEMPT = "charge_attempt"
    PAYMENT = "payment"
    STATE_CHANGE = "state_change"
    ESCALATION = "escalation"
    PROMISE = "promise"
    DISPUTE = "dispute"
    CLOSED = "closed"


class TimelineEntry(BaseModel):
    at: datetime
    invoice: str
    kind: TimelineKind
    details: dict[str, Any] = Field(default_factory=dict)
