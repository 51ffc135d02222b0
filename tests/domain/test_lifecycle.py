"""Lifecycle transitions, table-driven: payments, promises, disputes, pauses; no Temporal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cobranza.domain.invoice import (
    Customer,
    DisputeOutcome,
    DisputeResolution,
    Invoice,
    InvoiceStatus,
    PauseRequest,
    PaymentReceived,
    PromiseRequest,
    TimelineKind,
)
from cobranza.domain.lifecycle import ALREADY_PAUSED_REFUSAL, Lifecycle, PaymentOutcome
from cobranza.domain.money import Money
from cobranza.domain.policy import PauseRules, Policy, PromiseRules

ZONE = ZoneInfo("America/Mexico_City")
DUE = date(2026, 4, 10)


def mxn(amount: str) -> Money:
    return Money.parse(amount, "MXN")


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), ZONE)


def policy(max_promise_days: int = 30, max_pause_days: int = 90) -> Policy:
    return Policy(
        id="test",
        version=1,
        promise_to_pay=PromiseRules(max_days_ahead=max_promise_days),
        pause=PauseRules(max_days=max_pause_days),
    )


def lifecycle(amount: str = "1000.00", **policy_args: int) -> Lifecycle:
    """An issued invoice, overdue from 2026-04-11 00:00 in Mexico City."""
    customer = Customer(customer_id="C1", country="MX", timezone="America/Mexico_City")
    invoice = Invoice(
        invoice_id="INV-1",
        customer=customer,
        amount=mxn(amount),
        issued_on=date(2026, 3, 11),
        due_on=DUE,
    )
    life = Lifecycle(invoice, policy(**policy_args))
    life.issue(at(date(2026, 3, 11), 10), "https://pay.example/INV-1")
    return life


def status(life: Lifecycle) -> InvoiceStatus:
    """Read afresh, so a check after a transition is not narrowed by the one before it."""
    return life.state.status


def payment(amount: str, payment_id: str = "P1") -> PaymentReceived:
    return PaymentReceived(payment_id=payment_id, amount=mxn(amount), received_at=at(DUE))


def promise(promised_on: date, amount: str | None = None) -> PromiseRequest:
    return PromiseRequest(
        actor="agent-7",
        reason="called",
        promised_on=promised_on,
        amount=mxn(amount) if amount else None,
    )


def resolution(outcome: DisputeOutcome, credit: str | None = None) -> DisputeResolution:
    return DisputeResolution(
        actor="support-2",
        reason="checked",
        outcome=outcome,
        credit=mxn(credit) if credit else None,
    )


# ---- payments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amounts", "outcomes", "status", "outstanding", "paid"),
    [
        (["1000.00"], [PaymentOutcome.FULL], InvoiceStatus.PAID, "0.00", "1000.00"),
        (["400.00"], [PaymentOutcome.PARTIAL], InvoiceStatus.OPEN, "600.00", "400.00"),
        (
            ["400.00", "600.00"],
            [PaymentOutcome.PARTIAL, PaymentOutcome.FULL],
            InvoiceStatus.PAID,
            "0.00",
            "1000.00",
        ),
        (["1200.00"], [PaymentOutcome.OVER], InvoiceStatus.PAID, "0.00", "1200.00"),
        (
            ["999.99", "0.02"],
            [PaymentOutcome.PARTIAL, PaymentOutcome.OVER],
            InvoiceStatus.PAID,
            "0.00",
            "1000.01",
        ),
    ],
    ids=["full", "partial", "partial-then-rest", "over", "one-cent-over"],
)
def test_payments(
    amounts: list[str],
    outcomes: list[PaymentOutcome],
    status: InvoiceStatus,
    outstanding: str,
    paid: str,
) -> None:
    life = lifecycle()
    got = [life.apply_payment(payment(a, f"P{i}"), at(DUE)) for i, a in enumerate(amounts)]
    assert got == outcomes
    assert life.state.status is status
    assert str(life.outstanding.to_decimal()) == outstanding
    assert str(life.money(life.state.paid_minor).to_decimal()) == paid
    assert life.is_closed is (status is InvoiceStatus.PAID)


def test_overpayment_records_the_credit() -> None:
    life = lifecycle()
    life.apply_payment(payment("1200.00"), at(DUE))
    (entry,) = [e.entry for e in life.state.timeline if e.entry.kind is TimelineKind.PAYMENT]
    assert entry.details["outcome"] == "over"
    assert entry.details["credit"] == "200.00"


def test_duplicate_payment_changes_nothing() -> None:
    life = lifecycle()
    assert life.apply_payment(payment("400.00"), at(DUE)) is PaymentOutcome.PARTIAL
    entries = len(life.state.timeline)
    assert life.apply_payment(payment("400.00"), at(DUE, 13)) is PaymentOutcome.DUPLICATE
    assert life.state.paid_minor == 40_000
    assert life.state.payment_ids == ["P1"]
    assert len(life.state.timeline) == entries


def test_payment_after_close_is_ignored() -> None:
    life = lifecycle()
    life.apply_payment(payment("1000.00"), at(DUE))
    assert life.apply_payment(payment("5.00", "P2"), at(DUE, 13)) is PaymentOutcome.IGNORED_CLOSED
    assert life.state.paid_minor == 100_000


def test_full_payment_closes_once_with_one_state_change() -> None:
    life = lifecycle()
    life.apply_payment(payment("1000.00"), at(DUE))
    changes = [
        e.entry.details
        for e in life.state.timeline
        if e.entry.kind is TimelineKind.STATE_CHANGE and e.entry.details["to"] == "paid"
    ]
    assert len(changes) == 1
    assert life.state.closed_at == at(DUE)


# ---- due date --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "status"),
    [
        (at(DUE, 0), InvoiceStatus.OPEN),
        (datetime(2026, 4, 10, 23, 59, 59, tzinfo=ZONE), InvoiceStatus.OPEN),
        (datetime(2026, 4, 11, 5, 59, 59, tzinfo=ZoneInfo("UTC")), InvoiceStatus.OPEN),
        (at(date(2026, 4, 11), 0), InvoiceStatus.OVERDUE),
    ],
    ids=["due-day-start", "due-day-end", "next-day-in-utc", "midnight-after"],
)
def test_overdue_from_midnight_after_the_due_date_in_the_customer_zone(
    instant: datetime, status: InvoiceStatus
) -> None:
    life = lifecycle()
    life.refresh_due_status(instant)
    assert life.state.status is status


# ---- promises --------------------------------------------------------------------------------

TODAY = date(2026, 4, 15)


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (promise(TODAY), None),
        (promise(TODAY + timedelta(days=30)), None),
        (promise(TODAY - timedelta(days=1)), "promise date 2026-04-14 is in the past"),
        (
            promise(TODAY + timedelta(days=31)),
            "beyond the policy's maximum of 30 days ahead (latest 2026-05-15)",
        ),
        (promise(TODAY, "500.00"), None),
        (promise(TODAY, "1000.01"), "between 0 and the outstanding"),
        (promise(TODAY, "0.00"), "between 0 and the outstanding"),
        (
            PromiseRequest(
                actor="a", reason="r", promised_on=TODAY, amount=Money.parse("10", "USD")
            ),
            "promise is in USD but the invoice is in MXN",
        ),
    ],
    ids=["today", "at-limit", "past", "too-far", "partial", "over", "zero", "currency"],
)
def test_promise_validation(request_: PromiseRequest, reason: str | None) -> None:
    why = lifecycle().why_not_promise(request_, at(TODAY))
    if reason is None:
        assert why is None
    else:
        assert why is not None and reason in why


def test_promise_refused_while_disputed_or_closed() -> None:
    life = lifecycle()
    life.open_dispute("support", "damaged", at(TODAY))
    assert life.why_not_promise(promise(TODAY), at(TODAY)) == "invoice is disputed"
    paid = lifecycle()
    paid.apply_payment(payment("1000.00"), at(DUE))
    assert paid.why_not_promise(promise(TODAY), at(TODAY)) == "invoice is paid"


def test_promise_holds_then_partial_payment_keeps_it() -> None:
    life = lifecycle()
    life.refresh_due_status(at(TODAY))
    life.accept_promise(promise(date(2026, 4, 22), "300.00"), at(TODAY))
    assert life.state.status is InvoiceStatus.PROMISED
    assert life.promise_reminder_at() == at(date(2026, 4, 21), 10)
    assert life.promise_deadline() == at(date(2026, 4, 23), 0)

    life.apply_payment(payment("300.00"), at(date(2026, 4, 20)))
    assert life.state.promise is None
    assert status(life) is InvoiceStatus.OVERDUE
    kept = [e.entry.details["event"] for e in life.state.timeline if e.entry.kind == "promise"]
    assert kept == ["accepted", "kept"]


def test_broken_promise_resumes_dunning_and_moves_the_schedule() -> None:
    life = lifecycle()
    life.refresh_due_status(at(TODAY))
    life.accept_promise(promise(date(2026, 4, 22)), at(TODAY, 11))
    life.break_promise(at(date(2026, 4, 23), 0))
    assert life.state.status is InvoiceStatus.OVERDUE
    assert life.state.broken_promises == 1
    assert life.state.promise is None
    assert life.state.shift_days == 8


def test_no_gentle_reminder_when_the_policy_says_so() -> None:
    customer = Customer(customer_id="C1", country="MX", timezone="America/Mexico_City")
    invoice = Invoice(
        invoice_id="I", customer=customer, amount=mxn("10.00"), issued_on=DUE, due_on=DUE
    )
    quiet = Policy(id="q", version=1, promise_to_pay=PromiseRules(reminder_day_before=False))
    life = Lifecycle(invoice, quiet)
    life.accept_promise(promise(date(2026, 4, 22)), at(TODAY))
    assert life.promise_reminder_at() is None


# ---- disputes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolved", "status", "outstanding", "credited"),
    [
        (resolution(DisputeOutcome.CUSTOMER), InvoiceStatus.CANCELLED, "1000.00", "0.00"),
        (resolution(DisputeOutcome.CUSTOMER, "250.00"), InvoiceStatus.OVERDUE, "750.00", "250.00"),
        (resolution(DisputeOutcome.CUSTOMER, "1000.00"), InvoiceStatus.PAID, "0.00", "1000.00"),
        (resolution(DisputeOutcome.CREDITOR), InvoiceStatus.OVERDUE, "1000.00", "0.00"),
    ],
    ids=["customer-cancels", "credit-note-reduces", "credit-note-settles", "creditor-resumes"],
)
def test_dispute_resolution(
    resolved: DisputeResolution, status: InvoiceStatus, outstanding: str, credited: str
) -> None:
    life = lifecycle()
    life.refresh_due_status(at(TODAY))
    life.open_dispute("support", "damaged", at(TODAY))
    assert life.state.status is InvoiceStatus.DISPUTED
    assert life.why_not_resolve(resolved) is None
    life.resolve_dispute(resolved, at(date(2026, 4, 20)))
    assert life.state.status is status
    assert str(life.outstanding.to_decimal()) == outstanding
    assert str(life.money(life.state.credited_minor).to_decimal()) == credited


@pytest.mark.parametrize(
    ("resolved", "reason"),
    [
        (resolution(DisputeOutcome.CREDITOR, "10.00"), "only goes with a resolution in the"),
        (resolution(DisputeOutcome.CUSTOMER, "1000.01"), "credit must be between 0"),
        (
            DisputeResolution(
                actor="a",
                reason="r",
                outcome=DisputeOutcome.CUSTOMER,
                credit=Money.parse("1", "USD"),
            ),
            "credit is in USD but the invoice is in MXN",
        ),
    ],
    ids=["credit-for-creditor", "credit-too-large", "credit-currency"],
)
def test_dispute_resolution_rejected(resolved: DisputeResolution, reason: str) -> None:
    life = lifecycle()
    life.open_dispute("support", "damaged", at(TODAY))
    why = life.why_not_resolve(resolved)
    assert why is not None and reason in why


def test_dispute_rules() -> None:
    life = lifecycle()
    assert (
        life.why_not_resolve(resolution(DisputeOutcome.CREDITOR)) == "invoice is open, not disputed"
    )
    life.accept_promise(promise(date(2026, 4, 22)), at(TODAY))
    life.open_dispute("support", "damaged", at(TODAY))
    assert life.state.promise is None  # a dispute replaces the promise
    assert life.why_not_dispute() == "invoice is already disputed"
    assert life.why_not_pause(PauseRequest(actor="a", reason="r"), at(TODAY)) == (
        "invoice is disputed; resolve the dispute instead"
    )


# ---- pauses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "reason"),
    [
        (None, None),
        (TODAY + timedelta(days=1), None),
        (TODAY + timedelta(days=90), None),
        (TODAY + timedelta(days=91), "pause of 91 days exceeds the policy maximum of 90"),
        (TODAY, "resume date 2026-04-15 is not after today (2026-04-15)"),
        (TODAY - timedelta(days=3), "is not after today"),
    ],
    ids=["open-ended", "one-day", "at-limit", "over-limit", "today", "past"],
)
def test_pause_limits(until: date | None, reason: str | None) -> None:
    why = lifecycle().why_not_pause(PauseRequest(actor="a", reason="r", until=until), at(TODAY))
    if reason is None:
        assert why is None
    else:
        assert why is not None and reason in why


def paused_by_ana() -> Lifecycle:
    life = lifecycle()
    life.pause(PauseRequest(actor="ana", reason="r", until=TODAY + timedelta(days=5)), at(TODAY))
    return life


def written_off() -> Lifecycle:
    life = lifecycle()
    life.write_off(at(TODAY), "uncollectable")
    return life


def promised() -> Lifecycle:
    life = lifecycle()
    life.accept_promise(
        PromiseRequest(actor="a", reason="r", promised_on=TODAY + timedelta(days=5)), at(TODAY)
    )
    return life


@pytest.mark.parametrize(
    ("life", "only_if_not_paused", "reason"),
    [
        (lifecycle, False, None),
        (lifecycle, True, None),
        (paused_by_ana, False, None),
        (paused_by_ana, True, ALREADY_PAUSED_REFUSAL),
        (written_off, True, "invoice is written_off"),
        (promised, True, "invoice has a promise to pay by 2026-04-20"),
    ],
    ids=[
        "open",
        "open-only-if-not-paused",
        "pause-over-pause",
        "paused-only-if-not-paused",
        "closed-comes-first",
        "promised-comes-first",
    ],
)
def test_a_pause_only_if_not_paused_is_refused_over_someone_elses_pause(
    life: Callable[[], Lifecycle], only_if_not_paused: bool, reason: str | None
) -> None:
    before = life()
    request = PauseRequest(
        actor="reconciliation", reason="r", only_if_not_paused=only_if_not_paused
    )
    why = before.why_not_pause(request, at(TODAY))
    if reason is None:
        assert why is None
    else:
        assert why is not None and why.startswith(reason)


def test_paused_already_is_refused_with_the_first_pause_left_as_it_was() -> None:
    life = paused_by_ana()
    before = life.state.model_copy(deep=True)
    request = PauseRequest(actor="reconciliation", reason="money waits", only_if_not_paused=True)
    assert life.why_not_pause(request, at(TODAY)) == ALREADY_PAUSED_REFUSAL
    assert life.state == before and life.state.paused_until == TODAY + timedelta(days=5)


def test_pause_and_resume_move_the_remaining_steps_by_whole_local_days() -> None:
    life = lifecycle(max_pause_days=10)
    life.refresh_due_status(at(TODAY))
    assert life.why_not_resume() == "invoice is overdue, not paused"
    life.pause(PauseRequest(actor="a", reason="r", until=date(2026, 4, 20)), at(TODAY, 23))
    assert life.state.status is InvoiceStatus.PAUSED
    assert life.pause_expired(at(date(2026, 4, 19), 23)) is False
    assert life.pause_expired(at(date(2026, 4, 20), 0)) is True
    life.resume(at(date(2026, 4, 20), 0), "pause ended")
    assert status(life) is InvoiceStatus.OVERDUE
    assert life.state.shift_days == 5
    assert life.state.paused_until is None


def test_an_open_ended_pause_ends_at_the_policys_longest_pause() -> None:
    life = lifecycle(max_pause_days=10)
    life.pause(PauseRequest(actor="a", reason="r"), at(TODAY))
    assert life.state.paused_until == TODAY + timedelta(days=10)
    assert life.pause_expired(at(TODAY + timedelta(days=10), 0)) is True


def test_a_promised_invoice_cannot_be_paused() -> None:
    life = lifecycle()
    life.accept_promise(
        PromiseRequest(actor="a", reason="r", promised_on=TODAY + timedelta(days=5)), at(TODAY)
    )
    why = life.why_not_pause(PauseRequest(actor="a", reason="r"), at(TODAY))
    assert why is not None and "promise to pay by 2026-04-20" in why


def test_closing_twice_is_refused() -> None:
    life = lifecycle()
    assert life.why_not_close() is None
    life.write_off(at(TODAY), "uncollectable")
    assert life.state.status is InvoiceStatus.WRITTEN_OFF
    assert life.outstanding.is_zero()
    assert life.why_not_close() == "invoice is already written_off"


def test_a_payment_during_issue_is_not_undone_by_issuing() -> None:
    """A webhook can beat the issue step (its payment link activity) to the workflow."""
    customer = Customer(customer_id="C1", country="MX", timezone="America/Mexico_City")
    invoice = Invoice(
        invoice_id="INV-1",
        customer=customer,
        amount=mxn("1000.00"),
        issued_on=date(2026, 3, 11),
        due_on=DUE,
    )
    life = Lifecycle(invoice, policy())
    assert life.apply_payment(payment("1000.00"), at(date(2026, 3, 11), 9)) is PaymentOutcome.FULL
    life.issue(at(date(2026, 3, 11), 10), "https://pay.example/INV-1")
    assert status(life) is InvoiceStatus.PAID
    assert life.is_closed
