"""Billing periods: anchor days, end of month, leap years, yearly and every-N-month intervals."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cobranza.domain.billing import (
    InvoiceProgress,
    ServiceState,
    SubscriptionState,
    WatchedInvoice,
    anchored,
    apply_change,
    first_check_at,
    has_period,
    invoice_id,
    issue_instant,
    observe,
    period,
    period_invoice,
)
from cobranza.domain.invoice import InvoiceStatus

from .factories import policy, subscription, subscription_input

MEXICO = ZoneInfo("America/Mexico_City")


def test_the_31st_bills_on_the_last_day_of_short_months_and_back_on_the_31st() -> None:
    sub = subscription(start_date=date(2024, 1, 31), anchor_day=31)
    issues = [period(sub, n).issue_on for n in range(1, 8)]
    assert issues == [
        date(2024, 1, 31),
        date(2024, 2, 29),  # leap year
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
        date(2024, 6, 30),
        date(2024, 7, 31),
    ]
    assert period(sub, 13).issue_on == date(2025, 1, 31)
    assert period(sub, 14).issue_on == date(2025, 2, 28)
    assert period(sub, 2).end == date(2024, 3, 30)
    assert period(sub, 2).due_on == date(2024, 3, 10)


def test_yearly_on_february_29_bills_on_the_28th_in_common_years() -> None:
    sub = subscription(start_date=date(2024, 2, 29), anchor_day=29, interval="yearly")
    assert [period(sub, n).issue_on for n in range(1, 6)] == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]
    assert period(sub, 1).end == date(2025, 2, 27)


def test_every_three_months_and_a_fixed_number_of_periods() -> None:
    sub = subscription(start_date=date(2025, 11, 30), anchor_day=30, every=3, periods=4)
    assert [period(sub, n).issue_on for n in range(1, 5)] == [
        date(2025, 11, 30),
        date(2026, 2, 28),
        date(2026, 5, 30),
        date(2026, 8, 30),
    ]
    assert has_period(sub, 4) and not has_period(sub, 5) and not has_period(sub, 0)


def test_invoice_ids_are_stable_and_distinct_per_period() -> None:
    sub = subscription()
    assert invoice_id(sub, 7) == invoice_id(sub, 7) == "SUB-1-0007"
    assert len({invoice_id(sub, n) for n in range(1, 400)}) == 399
    inv = period_invoice(sub, 2)
    assert inv.workflow_id == "invoice-subs-SUB-1-0002"
    assert (inv.issued_on, inv.due_on, inv.amount) == (
        date(2024, 2, 29),
        date(2024, 3, 10),
        sub.amount,
    )


def test_issue_and_first_check_instants_are_local_send_time() -> None:
    sub = subscription()
    assert issue_instant(sub, 2, policy().send_time) == datetime(2024, 2, 29, 10, 0, tzinfo=MEXICO)
    # due 2024-03-10, level 1 on day 25, looked at an hour after the escalation is due
    assert first_check_at(sub, policy(), 2) == datetime(2024, 4, 4, 11, 0, tzinfo=MEXICO)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"start_date": date(2024, 2, 28), "anchor_day": 31}, "start_date", "2024-02-29"),
        ({"amount": {"minor": 0, "currency": "MXN"}}, "amount", "must be positive"),
        ({"every": 0}, "every", "greater than or equal to 1"),
        ({"anchor_day": 32}, "anchor_day", "less than or equal to 31"),
        ({"interval": "weekly"}, "interval", "'monthly' or 'yearly'"),
    ],
)
def test_bad_subscriptions_are_refused_naming_the_field(
    changes: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        subscription(**changes)
    assert field in str(exc.value) and reason in str(exc.value)


def test_suspend_level_must_be_on_the_policy_ladder() -> None:
    with pytest.raises(ValidationError, match=r"suspend_at_level 3 is not a level .* \[1, 2\]"):
        subscription_input(subscription(suspend_at_level=3))
    with pytest.raises(ValidationError, match="names policy 'gold'"):
        subscription_input(subscription(policy="gold"))


@settings(max_examples=300, deadline=None)
@given(
    start=st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 1)),
    anchor=st.integers(min_value=1, max_value=31),
    every=st.integers(min_value=1, max_value=18),
    yearly=st.booleans(),
    n=st.integers(min_value=1, max_value=120),
)
def test_periods_tile_the_calendar_on_the_anchor_or_the_month_end(
    start: date, anchor: int, every: int, yearly: bool, n: int
) -> None:
    first = anchored(start.year, start.month, anchor)
    sub = subscription(
        start_date=first, anchor_day=anchor, every=every, interval="yearly" if yearly else "monthly"
    )
    p, nxt = period(sub, n), period(sub, n + 1)
    # Consecutive periods touch: no day billed twice, none left out.
    assert nxt.start == p.end + timedelta(days=1)
    assert p.start <= p.end
    months = every * (12 if yearly else 1)
    assert (p.start.year * 12 + p.start.month) - (first.year * 12 + first.month) == (n - 1) * months
    last_day = calendar.monthrange(p.start.year, p.start.month)[1]
    # On the anchor, or on the month's last day when the month has no such day (Feb 29/30/31).
    assert p.start.day == min(anchor, last_day)
    assert p.due_on - p.issue_on == timedelta(days=sub.net_days)


@settings(max_examples=200, deadline=None)
@given(year=st.integers(min_value=1901, max_value=2399))
def test_february_gets_its_29th_exactly_in_leap_years(year: int) -> None:
    sub = subscription(start_date=date(year, 1, 31), anchor_day=31)
    assert period(sub, 2).issue_on.day == (29 if calendar.isleap(year) else 28)
    assert period(sub, 3).issue_on == date(year, 3, 31)


def watched(n: int, level: int = 0) -> WatchedInvoice:
    return WatchedInvoice(
        period=n,
        invoice_id=f"SUB-1-{n:04d}",
        workflow_id=f"invoice-subs-SUB-1-{n:04d}",
        check_at=datetime(2024, 3, 1, tzinfo=MEXICO),
        dunning_level=level,
    )


def progress(n: int, status: InvoiceStatus, level: int, running: bool = True) -> InvoiceProgress:
    return InvoiceProgress(
        workflow_id=f"invoice-subs-SUB-1-{n:04d}",
        running=running,
        status=status,
        dunning_level=level,
    )


def test_suspended_while_an_invoice_at_the_level_is_unpaid_and_restored_when_paid() -> None:
    now = datetime(2024, 3, 2, tzinfo=MEXICO)
    state = SubscriptionState(watched=[watched(1), watched(2)])
    assert observe(state, [progress(1, InvoiceStatus.PAID, 0, running=False)], now, 1) is None
    assert [w.period for w in state.watched] == [2]  # paid: forgotten
    change = observe(state, [progress(2, InvoiceStatus.OVERDUE, 1)], now, 1)
    assert change is not None and (change.action, change.period) == ("suspend", 2)
    apply_change(state, change, now)
    assert state.service is ServiceState.SUSPENDED
    # Still overdue a day later: nothing new to do, looked at again the day after.
    later = now + timedelta(days=1)
    assert observe(state, [progress(2, InvoiceStatus.OVERDUE, 1)], later, 1) is None
    assert state.watched[0].check_at == later + timedelta(days=1)
    change = observe(state, [progress(2, InvoiceStatus.PAID, 1, running=False)], later, 1)
    assert change is not None and (change.action, change.period) == ("restore", 2)
    apply_change(state, change, later)
    assert state.service is ServiceState.ACTIVE and state.watched == []


def test_a_written_off_invoice_keeps_the_service_suspended() -> None:
    now = datetime(2024, 3, 2, tzinfo=MEXICO)
    state = SubscriptionState(watched=[watched(1)])
    change = observe(state, [progress(1, InvoiceStatus.WRITTEN_OFF, 2, running=False)], now, 1)
    assert change is not None and change.action == "suspend"
    apply_change(state, change, now)
    assert state.watched[0].blocking and state.watched[0].check_at is None
