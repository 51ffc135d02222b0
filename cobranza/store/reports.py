"""Builds the collection report from the store's read model; reads only, never writes."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from cobranza.domain.effects import InvoiceSnapshot
from cobranza.domain.invoice import DisputeOutcome, InvoiceStatus, TimelineKind
from cobranza.domain.money import Money
from cobranza.store.money_in_report import money_in_report
from cobranza.store.report_model import (
    AGING_BUCKETS,
    AgingBuckets,
    AutopayRecovery,
    CollectionReport,
    CountryFigures,
    DisputeFigures,
    Outcomes,
)
from cobranza.store.report_views import print_report, write_report_html, write_report_json
from cobranza.store.store import Store
from cobranza.store.tables import TimelineRow

__all__ = [
    "AgingBuckets",
    "CollectionReport",
    "CountryFigures",
    "Outcomes",
    "build_report",
    "classify",
    "print_report",
    "split_amount",
    "write_report_html",
    "write_report_json",
]


@dataclass(frozen=True)
class AmountSplit:
    """Where each minor unit of one invoice went; the first four add up to its amount."""

    collected: int
    credited: int
    outstanding: int
    written_off: int
    overpaid: int


def split_amount(snap: InvoiceSnapshot) -> AmountSplit:
    """Account for every minor unit of an invoice exactly once.

    A cancelled invoice's unpaid rest counts as credited (the claim is withdrawn, as by a
    credit note); a written-off invoice's unpaid rest counts as written off. A handed-off
    invoice stays outstanding: the customer still owes it, another party collects it.
    """
    rest = snap.amount_minor - snap.paid_minor - snap.credited_minor - snap.written_off_minor
    overpaid = max(0, -rest)
    rest = max(0, rest)
    credited, written_off = snap.credited_minor, snap.written_off_minor
    if snap.status is InvoiceStatus.CANCELLED:
        credited, rest = credited + rest, 0
    elif snap.status is InvoiceStatus.WRITTEN_OFF:
        written_off, rest = written_off + rest, 0
    return AmountSplit(
        collected=snap.paid_minor - overpaid,
        credited=credited,
        outstanding=rest,
        written_off=written_off,
        overpaid=overpaid,
    )


def paid_on(snap: InvoiceSnapshot) -> date:
    """The day a paid invoice closed (UTC), falling back to its last update."""
    return (snap.closed_at or snap.updated_at).date()


def paid_in_time(snap: InvoiceSnapshot) -> bool:
    """Paid before midnight after the due date in the customer's zone (L-04); by UTC date for
    rows that do not carry that instant."""
    if snap.overdue_from is not None:
        return (snap.closed_at or snap.updated_at) < snap.overdue_from
    return paid_on(snap) <= snap.due_on


def classify(snap: InvoiceSnapshot) -> str:
    """The one Outcomes field an invoice counts in; disputes outrank partial payments."""
    match snap.status:
        case InvoiceStatus.PAID:
            return "paid_on_time" if paid_in_time(snap) else "paid_after_reminders"
        case InvoiceStatus.WRITTEN_OFF:
            return "written_off"
        case InvoiceStatus.HANDED_OFF:
            return "handed_off"
        case InvoiceStatus.CANCELLED:
            return "cancelled"
    if snap.disputed or snap.status is InvoiceStatus.DISPUTED:
        return "disputed"
    return "partially_paid" if snap.paid_minor > 0 else "open"


def aging_bucket(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "days_1_30"
    if days_past_due <= 60:
        return "days_31_60"
    if days_past_due <= 90:
        return "days_61_90"
    return "days_over_90"


def _text(minor: int, currency: str) -> str:
    return str(Money(minor=minor, currency=currency).to_decimal())


def _texts(sums: dict[str, int]) -> dict[str, str]:
    return {currency: _text(minor, currency) for currency, minor in sorted(sums.items())}


def _days(value: Decimal) -> float:
    # Days are not money: a float rounded to hundredths is what people read.
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


def dso_by_currency(invoices: list[InvoiceSnapshot]) -> dict[str, float]:
    """Amount-weighted mean days from issue to full payment, over paid invoices, per currency.

    DSO = sum(amount x (paid_on - issued_on).days) / sum(amount), where paid_on is the day the
    invoice closed as paid. Currencies are kept apart: weighting yen against dinars would
    need exchange rates the store does not hold.
    """
    weighted: dict[str, int] = defaultdict(int)
    weights: dict[str, int] = defaultdict(int)
    for snap in invoices:
        if snap.status is InvoiceStatus.PAID and snap.amount_minor > 0:
            days = (paid_on(snap) - snap.issued_on).days
            weighted[snap.currency] += snap.amount_minor * days
            weights[snap.currency] += snap.amount_minor
    return {c: _days(Decimal(weighted[c]) / Decimal(weights[c])) for c in sorted(weights)}


def average_days_late(invoices: list[InvoiceSnapshot]) -> float | None:
    """Mean days past the due date at full payment over paid invoices (on time counts as 0)."""
    late = [
        max(0, (paid_on(s) - s.due_on).days) for s in invoices if s.status is InvoiceStatus.PAID
    ]
    return _days(Decimal(sum(late)) / Decimal(len(late))) if late else None


def _country_figures(invoices: list[InvoiceSnapshot]) -> dict[str, CountryFigures]:
    groups: dict[str, list[InvoiceSnapshot]] = defaultdict(list)
    for snap in invoices:
        groups[snap.country].append(snap)
    figures: dict[str, CountryFigures] = {}
    for country, members in sorted(groups.items()):
        invoiced: dict[str, int] = defaultdict(int)
        collected: dict[str, int] = defaultdict(int)
        outstanding: dict[str, int] = defaultdict(int)
        for snap in members:
            split = split_amount(snap)
            invoiced[snap.currency] += snap.amount_minor
            collected[snap.currency] += split.collected
            outstanding[snap.currency] += split.outstanding
        figures[country] = CountryFigures(
            invoices=len(members),
            amount_invoiced=_texts(invoiced),
            amount_collected=_texts(collected),
            amount_outstanding=_texts(outstanding),
        )
    return figures


def _with_contacts(
    figures: dict[str, CountryFigures],
    invoices: list[InvoiceSnapshot],
    timeline: list[TimelineRow],
    as_of: datetime,
) -> dict[str, CountryFigures]:
    """Messages per country from the evidence log: sent, deferred by the law, and by which rule."""
    country_of = {snap.workflow_id: snap.country for snap in invoices}
    sent: Counter[str] = Counter()
    deferred: Counter[str] = Counter()
    by_rule: dict[str, Counter[str]] = defaultdict(Counter)
    rows = [
        row
        for row in timeline
        if row.kind == TimelineKind.MESSAGE.value
        and row.at <= as_of
        and row.workflow_id in country_of
    ]
    failed = {row.details.get("dedupe_key") for row in rows if row.details.get("event") == "failed"}
    consolidated: Counter[str] = Counter()
    for row in rows:
        country = country_of[row.workflow_id]
        if row.details.get("delivered_by"):
            consolidated[country] += 1
            continue
        if row.details.get("event") == "failed" or row.details.get("dedupe_key") in failed:
            continue
        sent[country] += 1
        rules = row.details.get("rules") or []
        if rules:
            deferred[country] += 1
            by_rule[country].update(str(rule) for rule in rules)
    return {
        country: fig.model_copy(
            update={
                "messages_sent": sent[country],
                "messages_deferred": deferred[country],
                "deferred_by_rule": dict(sorted(by_rule[country].items())),
                "messages_consolidated": consolidated[country],
            }
        )
        for country, fig in figures.items()
    }


def _aging(invoices: list[InvoiceSnapshot], as_of: datetime) -> dict[str, AgingBuckets]:
    today = as_of.date()
    sums: dict[str, dict[str, int]] = {}
    for snap in invoices:
        buckets = sums.setdefault(snap.currency, dict.fromkeys((n for n, _ in AGING_BUCKETS), 0))
        buckets[aging_bucket((today - snap.due_on).days)] += split_amount(snap).outstanding
    return {
        currency: AgingBuckets(**{name: _text(minor, currency) for name, minor in buckets.items()})
        for currency, buckets in sorted(sums.items())
    }


def _reminders(store: Store, as_of: datetime, tenant: str | None) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for message in store.messages(tenant=tenant, status="sent"):
        if message.sent_at is not None and message.sent_at <= as_of:
            counts[message.step][message.channel] += 1
    return {step: dict(sorted(by_channel.items())) for step, by_channel in sorted(counts.items())}


def _escalations(timeline: list[TimelineRow], as_of: datetime) -> dict[int, int]:
    levels: Counter[int] = Counter()
    for row in timeline:
        if row.kind == TimelineKind.ESCALATION.value and row.at <= as_of and "level" in row.details:
            levels[int(row.details["level"])] += 1
    return dict(sorted(levels.items()))


def _disputes(timeline: list[TimelineRow], as_of: datetime, invoices: set[str]) -> DisputeFigures:
    """What the invoices' timelines say of disputes up to as_of."""
    opened: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    for row in timeline:
        if row.kind != TimelineKind.DISPUTE.value or row.at > as_of:
            continue
        if row.workflow_id not in invoices:
            continue
        if row.details.get("event") == "opened":
            opened[row.workflow_id] += 1
        elif row.details.get("event") == "resolved":
            resolved[str(row.details.get("outcome"))] += 1
    return DisputeFigures(
        opened=sum(opened.values()),
        invoices=len(opened),
        resolved_for_customer=resolved[DisputeOutcome.CUSTOMER.value],
        resolved_for_creditor=resolved[DisputeOutcome.CREDITOR.value],
    )


def build_report(store: Store, as_of: datetime, tenant: str | None = None) -> CollectionReport:
    """The collection report of one tenant (or all) from the latest snapshot of each invoice.

    `as_of` (aware) is the instant the report speaks for: invoices issued after its date are
    left out, aging counts days past due at its calendar date, and messages and escalations
    after it are not counted. Amounts are summed in integer minor units and only then written
    as decimal strings, so they reconcile to the last cent, yen or fils.
    """
    if as_of.tzinfo is None:
        raise ValueError(f"as_of {as_of.isoformat()} must carry a UTC offset")
    invoices = [s for s in store.invoices(tenant=tenant) if s.issued_on <= as_of.date()]
    sums: dict[str, dict[str, int]] = {
        field: defaultdict(int)
        for field in ("invoiced", "collected", "credited", "outstanding", "written_off", "overpaid")
    }
    outcomes: Counter[str] = Counter()
    timeline = store.timeline(tenant=tenant)  # read once: messages, escalations, disputes
    for snap in invoices:
        split = split_amount(snap)
        sums["invoiced"][snap.currency] += snap.amount_minor
        for field in ("collected", "credited", "outstanding", "written_off", "overpaid"):
            sums[field][snap.currency] += getattr(split, field)
        outcomes[classify(snap)] += 1
    return CollectionReport(
        as_of=as_of,
        tenant=tenant,
        invoices_total=len(invoices),
        currencies=sorted(sums["invoiced"]),
        amount_invoiced=_texts(sums["invoiced"]),
        amount_collected=_texts(sums["collected"]),
        amount_credited=_texts(sums["credited"]),
        amount_outstanding=_texts(sums["outstanding"]),
        amount_written_off=_texts(sums["written_off"]),
        amount_overpaid=_texts(sums["overpaid"]),
        outcomes=Outcomes(**outcomes),
        disputes=_disputes(timeline, as_of, {s.workflow_id for s in invoices}),
        reminders_by_step_and_channel=_reminders(store, as_of, tenant),
        escalations_by_level=_escalations(timeline, as_of),
        dso_days=dso_by_currency(invoices),
        average_days_late=average_days_late(invoices),
        aging=_aging(invoices, as_of),
        by_country=_with_contacts(_country_figures(invoices), invoices, timeline, as_of),
        autopay=autopay_recovery(store, as_of, tenant),
        money_in=money_in_report(store, as_of, tenant),
    )


def autopay_recovery(
    store: Store, as_of: datetime, tenant: str | None = None
) -> AutopayRecovery | None:
    """Money autopay recovered, by charge number and by the category of the decline before it.

    Read from the evidence log's charge_attempt entries (one per gateway answer); a settled
    charge that was first `processing` counts once, when it succeeded.
    """
    rows = [
        r
        for r in store.timeline(tenant=tenant)
        if r.kind == TimelineKind.CHARGE_ATTEMPT.value and r.at <= as_of and "attempt" in r.details
    ]
    if not rows:
        return None
    by_attempt: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    declines: Counter[str] = Counter()
    last_decline: dict[str, str] = {}
    succeeded = 0
    for row in sorted(rows, key=lambda r: (r.workflow_id, r.seq)):
        d = row.details
        if d.get("result") == "succeeded":
            succeeded += 1
            minor = Money.parse(str(d["amount"]), str(d["currency"])).minor
            by_attempt[str(d["attempt"])][str(d["currency"])] += minor
            after = last_decline.get(row.workflow_id, "none")
            by_category[after][str(d["currency"])] += minor
        elif d.get("category") and d.get("result") != "processing":
            declines[str(d["category"])] += 1
            last_decline[row.workflow_id] = str(d["category"])
    return AutopayRecovery(
        charges=len({(r.workflow_id, r.details["attempt"]) for r in rows}),
        succeeded=succeeded,
        declines_by_category=dict(sorted(declines.items())),
        recovered_by_attempt={
            k: _texts(v) for k, v in sorted(by_attempt.items(), key=lambda kv: int(kv[0]))
        },
        recovered_by_decline_category={k: _texts(v) for k, v in sorted(by_category.items())},
    )
