"""The collection report as data: amounts as decimal strings per currency, counts, and aging."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AGING_BUCKETS: tuple[tuple[str, str], ...] = (
    ("current", "not yet due"),
    ("days_1_30", "1-30 days"),
    ("days_31_60", "31-60 days"),
    ("days_61_90", "61-90 days"),
    ("days_over_90", "90+ days"),
)


class Outcomes(BaseModel):
    """How each invoice stands; every invoice is counted in exactly one field."""

    model_config = ConfigDict(frozen=True)

    paid_on_time: int = Field(0, description="fully paid on or before the due date")
    paid_after_reminders: int = Field(0, description="fully paid after the due date")
    partially_paid: int = Field(0, description="open, not disputed, something paid")
    disputed: int = Field(0, description="open and disputed")
    written_off: int = 0
    handed_off: int = 0
    cancelled: int = 0
    open: int = Field(0, description="open, not disputed, nothing paid")

    def total(self) -> int:
        return sum(self.model_dump().values())


class DisputeFigures(BaseModel):
    """Disputes opened up to the report's instant and how they were resolved, whatever the
    invoice's state now: an invoice disputed and later paid counts here, and only the ones
    still disputed count in `Outcomes.disputed`."""

    model_config = ConfigDict(frozen=True)

    opened: int = Field(0, description="disputes opened (an invoice may be disputed twice)")
    invoices: int = Field(0, description="invoices disputed at least once")
    resolved_for_customer: int = Field(0, description="cancelled or reduced by a credit note")
    resolved_for_creditor: int = Field(0, description="collection resumed")


class AgingBuckets(BaseModel):
    """Outstanding amount of one currency by days past the due date, as decimal strings."""

    model_config = ConfigDict(frozen=True)

    current: str
    days_1_30: str
    days_31_60: str
    days_61_90: str
    days_over_90: str

    def total(self) -> Decimal:
        return sum((Decimal(getattr(self, name)) for name, _ in AGING_BUCKETS), Decimal(0))


class CountryFigures(BaseModel):
    """Invoices of one country and their amounts per currency."""

    model_config = ConfigDict(frozen=True)

    invoices: int
    amount_invoiced: dict[str, str]
    amount_collected: dict[str, str]
    amount_outstanding: dict[str, str]
    messages_sent: int = 0
    messages_deferred: int = 0
    # Rule id (from the country's compliance profile) -> messages it moved later.
    deferred_by_rule: dict[str, int] = Field(default_factory=dict)
    # Invoices whose message went out inside another invoice's message (the contact gate).
    messages_consolidated: int = 0


class AutopayRecovery(BaseModel):
    """What autopay charges brought in: by the charge's number and by the decline before it."""

    model_config = ConfigDict(frozen=True)

    charges: int = Field(description="charges made, every answer")
    succeeded: int
    declines_by_category: dict[str, int] = Field(default_factory=dict)
    recovered_by_attempt: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="charge number -> currency -> amount"
    )
    recovered_by_decline_category: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="category of the decline the money was recovered after ('none': first "
        "charge paid) -> currency -> amount",
    )


class RuleFigures(BaseModel):
    """Money-in allocated to invoices by one matching rule."""

    model_config = ConfigDict(frozen=True)

    entries: int = Field(description="statement entries or webhook payments")
    amount: dict[str, str] = Field(description="currency -> amount allocated")


class UnmatchedFigures(BaseModel):
    """Money of one currency waiting in the exceptions queue, and how long it has waited."""

    model_config = ConfigDict(frozen=True)

    exceptions: int
    amount: str
    oldest_days: int = Field(description="whole days since the oldest of it arrived")
    by_age: dict[str, str] = Field(description="age bucket -> amount")


class ClosingTime(BaseModel):
    """Hours from the money arriving to the invoice it paid closing."""

    model_config = ConfigDict(frozen=True)

    invoices: int
    median_hours: float
    p90_hours: float


class MoneyInReport(BaseModel):
    """Reconciliation: what matched by which rule, what waits for a person, how fast it closed."""

    model_config = ConfigDict(frozen=True)

    statement_entries: int
    matched_by_rule: dict[str, RuleFigures]
    credit: dict[str, str] = Field(description="overpayments recorded as customer credit")
    unmatched: dict[str, UnmatchedFigures] = Field(description="per currency, open exceptions")
    unmatched_without_amount: int = Field(0, description="open exceptions naming no amount")
    money_in_to_closed: dict[str, ClosingTime] = Field(
        default_factory=dict, description="'all', 'statement', 'webhook' -> closing time"
    )


class CollectionReport(BaseModel):
    """What finance asks of collections, per currency and never converted between currencies.

    For every currency: amount_invoiced == amount_collected + amount_credited
    + amount_outstanding + amount_written_off, to the last minor unit (checked on build).
    Money received beyond what an invoice asked for is in amount_overpaid, outside that sum.
    """

    model_config = ConfigDict(frozen=True)

    as_of: datetime
    tenant: str | None = None
    invoices_total: int
    currencies: list[str]
    amount_invoiced: dict[str, str]
    amount_collected: dict[str, str]
    amount_credited: dict[str, str]
    amount_outstanding: dict[str, str]
    amount_written_off: dict[str, str]
    amount_overpaid: dict[str, str]
    outcomes: Outcomes
    disputes: DisputeFigures = Field(default_factory=DisputeFigures)
    reminders_by_step_and_channel: dict[str, dict[str, int]]
    escalations_by_level: dict[int, int]
    dso_days: dict[str, float] = Field(
        description="per currency: amount-weighted mean days from issue to full payment"
    )
    average_days_late: float | None = Field(
        description="mean days past the due date at full payment, over paid invoices"
    )
    aging: dict[str, AgingBuckets]
    by_country: dict[str, CountryFigures]
    autopay: AutopayRecovery | None = Field(default=None, description="None: no autopay charge")
    money_in: MoneyInReport | None = Field(default=None, description="None: no money-in data")

    @model_validator(mode="after")
    def _reconciles(self) -> CollectionReport:
        for currency in self.currencies:
            invoiced = Decimal(self.amount_invoiced[currency])
            parts = (
                self.amount_collected,
                self.amount_credited,
                self.amount_outstanding,
                self.amount_written_off,
            )
            accounted = sum((Decimal(part[currency]) for part in parts), Decimal(0))
            if invoiced != accounted:
                raise ValueError(
                    f"{currency}: invoiced {invoiced} but collected + credited + outstanding"
                    f" + written off = {accounted}"
                )
            if currency in self.aging and self.aging[currency].total() != Decimal(
                self.amount_outstanding[currency]
            ):
                raise ValueError(f"{currency}: aging buckets do not add up to outstanding")
        if self.outcomes.total() != self.invoices_total:
            raise ValueError(
                f"outcomes count {self.outcomes.total()} invoices, not {self.invoices_total}"
            )
        return self
