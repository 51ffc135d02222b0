"""The money-in section of the report: matched by rule, unmatched amount and age, time to close."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import UTC, datetime, time

from sqlalchemy import inspect

from cobranza.domain.invoice import InvoiceStatus
from cobranza.domain.money import Money
from cobranza.store import money_in
from cobranza.store.money_in import MatchRow, MoneyInExceptionRow, StatementEntryRow
from cobranza.store.report_model import ClosingTime, MoneyInReport, RuleFigures, UnmatchedFigures
from cobranza.store.store import Store
from cobranza.store.tables import PaymentRow

# A payment signalled by the webhook ingress carries its provider as the payment id's prefix.
WEBHOOK_PAYMENT_PREFIXES = ("stripe:", "mercadopago:")
WEBHOOK_RULE = "webhook"
# (label, first day, last day or None) of the age buckets of unmatched money.
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-7 days", 0, 7),
    ("8-30 days", 8, 30),
    ("31-90 days", 31, 90),
    ("over 90 days", 91, None),
)


def _text(minor: int, currency: str) -> str:
    return str(Money(minor=minor, currency=currency).to_decimal())


def _texts(sums: dict[str, int]) -> dict[str, str]:
    return {currency: _text(minor, currency) for currency, minor in sorted(sums.items())}


def _booked_instant(row: StatementEntryRow) -> datetime:
    """A booking date as an instant: noon UTC, as the payment signalled for it carries."""
    return datetime.combine(row.booked_on, time(12, 0), UTC)


def is_webhook_payment(payment_id: str) -> bool:
    return payment_id.startswith(WEBHOOK_PAYMENT_PREFIXES)


def _age_bucket(days: int) -> str:
    for label, first, last in AGE_BUCKETS:
        if days >= first and (last is None or days <= last):
            return label
    return AGE_BUCKETS[0][0]  # money dated after as_of (a clock skew) counts as new


def _waiting_at(row: MoneyInExceptionRow, as_of: datetime) -> bool:
    """Open at the instant as_of: queued by then and not yet resolved by then."""
    if row.queued_at > as_of:
        return False
    return row.status == money_in.EXCEPTION_OPEN or (
        row.resolved_at is not None and row.resolved_at > as_of
    )


def _matched_by_rule(
    matches: list[MatchRow], webhook_payments: list[PaymentRow]
) -> dict[str, RuleFigures]:
    """Entries (a grouped transfer counts once) and money allocated, per rule."""
    entries: dict[str, set[str]] = defaultdict(set)
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for m in matches:
        entries[m.rule].add(m.entry_id)
        sums[m.rule][m.currency] += m.amount_minor
    for p in webhook_payments:
        entries[WEBHOOK_RULE].add(p.payment_id)
        sums[WEBHOOK_RULE][p.currency] += p.amount_minor
    return {
        rule: RuleFigures(entries=len(entries[rule]), amount=_texts(sums[rule]))
        for rule in sorted(entries)
    }


def _unmatched(
    rows: list[MoneyInExceptionRow], booked: dict[str, StatementEntryRow], as_of: datetime
) -> tuple[dict[str, UnmatchedFigures], int]:
    counts: dict[str, int] = defaultdict(int)
    sums: dict[str, int] = defaultdict(int)
    oldest: dict[str, int] = {}
    buckets: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    without_amount = 0
    for row in rows:
        if row.amount_minor is None or row.currency is None:
            without_amount += 1
            continue
        entry = booked.get(row.key) if row.source == money_in.STATEMENT_SOURCE else None
        arrived = _booked_instant(entry) if entry is not None else row.queued_at
        days = max(0, (as_of - arrived).days)
        counts[row.currency] += 1
        sums[row.currency] += row.amount_minor
        oldest[row.currency] = max(days, oldest.get(row.currency, 0))
        buckets[row.currency][_age_bucket(days)] += row.amount_minor
    figures = {
        currency: UnmatchedFigures(
            exceptions=counts[currency],
            amount=_text(sums[currency], currency),
            oldest_days=oldest[currency],
            by_age={
                label: _text(buckets[currency][label], currency)
                for label, _, _ in AGE_BUCKETS
                if label in buckets[currency]
            },
        )
        for currency in sorted(counts)
    }
    return figures, without_amount


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `share` of them at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _closing_time(hours: list[float]) -> ClosingTime:
    return ClosingTime(
        invoices=len(hours),
        median_hours=round(statistics.median(hours), 2),
        p90_hours=round(percentile(hours, 0.9), 2),
    )


def _money_in_to_closed(
    store: Store,
    as_of: datetime,
    tenant: str | None,
    payments: list[PaymentRow],
    statement_payments: set[str],
) -> dict[str, ClosingTime]:
    """For each invoice paid in full by money-in: hours from the last such payment to closing."""
    by_invoice: dict[str, list[PaymentRow]] = defaultdict(list)
    for p in payments:
        by_invoice[p.workflow_id].append(p)
    hours: dict[str, list[float]] = defaultdict(list)
    for snap in store.invoices(tenant=tenant):
        closed = snap.closed_at
        if snap.status is not InvoiceStatus.PAID or closed is None or closed > as_of:
            continue
        arrived = [p for p in by_invoice.get(snap.workflow_id, []) if p.received_at <= closed]
        if not arrived:
            continue
        last = max(arrived, key=lambda p: (p.received_at, p.payment_id))
        source = "statement" if last.payment_id in statement_payments else WEBHOOK_RULE
        waited = (closed - last.received_at).total_seconds() / 3600
        hours[source].append(waited)
        hours["all"].append(waited)
    return {source: _closing_time(values) for source, values in sorted(hours.items())}


def money_in_report(
    store: Store, as_of: datetime, tenant: str | None = None
) -> MoneyInReport | None:
    """The money-in figures as of an instant, or None when no money came in at all.

    Statement matches count under their rule, payments from gateway webhooks under "webhook";
    unmatched money is what waited in the exceptions queue at as_of, aged from its booking date
    (a statement entry) or from when it was queued (a webhook).
    """
    if as_of.tzinfo is None:
        raise ValueError(f"as_of {as_of.isoformat()} must carry a UTC offset")
    # A store that never reconciled has no money-in tables: read it, create nothing.
    reconciled = inspect(store.engine).has_table(StatementEntryRow.__tablename__)
    entries = [
        e
        for e in (money_in.entries(store) if reconciled else [])
        if e.imported_at <= as_of and (tenant is None or e.tenant == tenant)
    ]
    matches = [
        m
        for m in (money_in.all_matches(store) if reconciled else [])
        if m.matched_at <= as_of and (tenant is None or m.tenant == tenant)
    ]
    statement_payments = {m.payment_id for m in matches}
    money_payments = [
        p
        for p in store.payments(tenant=tenant)
        if p.received_at <= as_of
        and (p.payment_id in statement_payments or is_webhook_payment(p.payment_id))
    ]
    waiting = [
        row
        for row in (money_in.exceptions(store) if reconciled else [])
        if _waiting_at(row, as_of) and (tenant is None or row.tenant == tenant)
    ]
    if not (entries or matches or money_payments or waiting):
        return None
    statement_keys = [r.key for r in waiting if r.source == money_in.STATEMENT_SOURCE]
    booked = money_in.known_entries(store, statement_keys) if reconciled else {}
    unmatched, without_amount = _unmatched(waiting, booked, as_of)
    credit: dict[str, int] = defaultdict(int)
    for e in entries:
        if e.credit_minor:
            credit[e.currency] += e.credit_minor
    webhook_payments = [p for p in money_payments if is_webhook_payment(p.payment_id)]
    return MoneyInReport(
        statement_entries=len(entries),
        matched_by_rule=_matched_by_rule(matches, webhook_payments),
        credit=_texts(credit),
        unmatched=unmatched,
        unmatched_without_amount=without_amount,
        money_in_to_closed=_money_in_to_closed(
            store, as_of, tenant, money_payments, statement_payments
        ),
    )
