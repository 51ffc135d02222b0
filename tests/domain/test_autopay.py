"""The autopay book: numbering, answers, settlements, new methods, and network limits held."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cobranza.domain.autopay import AutopayBook, AutopaySetup, Move
from cobranza.domain.charges import (
    ChargeOutcome,
    ChargeStatus,
    PaymentMethod,
    PaymentMethodAdded,
    PaymentSettled,
)
from cobranza.domain.declines import (
    CardNetwork,
    Decline,
    RetryRules,
    RetrySchedule,
    Schedules,
    classify,
)
from cobranza.domain.declines_file import load_retry_rules
from cobranza.domain.money import Money

T0 = datetime(2026, 4, 10, 16, 0, tzinfo=UTC)
ZONE = "America/Mexico_City"
VISA = PaymentMethod(method_id="pm_v", fingerprint="fp-v", network=CardNetwork.VISA)
MC = PaymentMethod(method_id="pm_m", fingerprint="fp-m", network=CardNetwork.MASTERCARD)
OTHER = PaymentMethod(method_id="pm_o", fingerprint="fp-o", network=CardNetwork.AMEX)


def setup(method: PaymentMethod | None = VISA, rules: RetryRules | None = None) -> AutopaySetup:
    return AutopaySetup(method=method, rules=rules or load_retry_rules())


def outcome(n: int, status: ChargeStatus, decline: Decline | None = None) -> ChargeOutcome:
    has_intent = status in (ChargeStatus.SUCCEEDED, ChargeStatus.PROCESSING)
    return ChargeOutcome(
        attempt=n,
        idempotency_key=f"wf/charge/{n}",
        status=status,
        payment_id=f"pi_{n}" if has_intent else None,
        decline=decline,
        at=T0,
    )


def test_first_charge_at_the_due_instant_numbered_one() -> None:
    book = AutopayBook.opened(setup(), T0, ZONE)
    assert book.due_at() == T0
    record = book.begin(T0, 100_00)
    assert (record.number, record.method) == (1, VISA)
    assert book.due_at() is None  # nothing planned while the charge is out


def test_soft_decline_plans_a_retry_hard_decline_asks_for_a_method() -> None:
    book = AutopayBook.opened(setup(), T0, ZONE)
    soft = book.answered(
        book.begin(T0, 1), outcome(1, ChargeStatus.DECLINED, Decline(code="insufficient_funds")), T0
    )
    assert soft.move is Move.RETRY and soft.retry_at == book.due_at()
    assert soft.retry_at is not None and soft.retry_at >= T0 + timedelta(hours=24)
    at = soft.retry_at
    hard = book.answered(
        book.begin(at, 1), outcome(2, ChargeStatus.DECLINED, Decline(network_code="46")), at
    )
    assert hard.move is Move.ASK_FOR_METHOD
    assert book.state.method is None and book.state.ask_pending
    assert book.state.never_again == ["fp-v"]
    assert book.method_added(PaymentMethodAdded(method=VISA, added_at=at), at, T0) is not None
    assert book.due_at() is None


def test_no_method_is_no_decline_and_a_new_method_charges_at_once() -> None:
    book = AutopayBook.opened(setup(method=None), T0, ZONE)
    verdict = book.no_method()
    assert verdict.move is Move.ASK_FOR_METHOD and verdict.charge is None
    assert book.state.history == [] and book.state.charges == []
    later = T0 + timedelta(days=2)
    assert book.method_added(PaymentMethodAdded(method=MC, added_at=later), later, T0) is None
    assert book.due_at() == later
    assert book.begin(later, 1).by_method_added


def test_processing_waits_then_settlement_closes_or_retries() -> None:
    book = AutopayBook.opened(setup(), T0, ZONE)
    wait = book.answered(book.begin(T0, 1), outcome(1, ChargeStatus.PROCESSING), T0)
    assert wait.move is Move.WAIT_FOR_SETTLEMENT and book.due_at() is None
    later = T0 + timedelta(days=3)
    failed = PaymentSettled(
        payment_id="pi_1",
        succeeded=False,
        settled_at=later,
        decline=Decline(code="insufficient_funds"),
    )
    verdict = book.settled(failed, later)
    assert verdict.move is Move.RETRY and verdict.retry_at is not None
    assert verdict.retry_at >= later
    # The same event again, or any event about it, is stale.
    assert book.settled(failed, later).move is Move.IGNORE
    assert book.settled(failed.model_copy(update={"succeeded": True}), later).move is Move.IGNORE


def test_a_card_added_again_waits_out_its_mastercard_advice() -> None:
    book = AutopayBook.opened(setup(method=MC), T0, ZONE)
    book.answered(
        book.begin(T0, 1),
        outcome(1, ChargeStatus.DECLINED, Decline(code="try_again_later", advice_code="25")),
        T0,
    )
    soon = T0 + timedelta(hours=2)
    book.method_added(PaymentMethodAdded(method=MC, added_at=soon), soon, T0)
    assert book.due_at() == T0 + timedelta(hours=24)


# ---- the property: random decline sequences never break the network limits -----------------

DECLINES = [
    Decline(code="insufficient_funds"),
    Decline(code="insufficient_funds", network_code="51"),
    Decline(code="card_declined", network_code="46"),
    Decline(code="do_not_honor", network_code="05"),
    Decline(code="try_again_later", advice_code="25"),
    Decline(code="try_again_later", advice_code="24"),
    Decline(code="card_declined", advice_code="03"),
    Decline(code="card_declined", advice_code="21"),
    Decline(code="processing_error"),
    Decline(code="expired_card"),
    Decline(code="generic_decline"),
]


@dataclass(frozen=True)
class Step:
    """One thing that happens next: the gateway's answer to the due charge, or a new method."""

    kind: str  # "decline", "processing", "settle_fail", "add", "success"
    decline: int = 0
    card: int = 0
    hours: int = 0


steps = st.one_of(
    st.builds(Step, kind=st.just("decline"), decline=st.integers(0, len(DECLINES) - 1)),
    st.builds(Step, kind=st.just("processing")),
    st.builds(
        Step,
        kind=st.just("settle_fail"),
        decline=st.integers(0, len(DECLINES) - 1),
        hours=st.integers(1, 96),
    ),
    st.builds(Step, kind=st.just("add"), card=st.integers(0, 2), hours=st.integers(0, 72)),
)


def dense_rules(max_attempts: int) -> RetryRules:
    """Schedules long and tight enough to run into the network limits."""
    return load_retry_rules().model_copy(
        update={
            "max_attempts": max_attempts,
            "schedules": Schedules(
                soft=RetrySchedule(delays_hours=(1, 6, 12, 24) * 8),
                gateway_error=RetrySchedule(delays_hours=(1, 1, 2) * 8),
            ),
        }
    )


@dataclass
class Made:
    number: int
    at: datetime
    card: PaymentMethod
    by_method_added: bool


def drive(script: list[Step], rules: RetryRules) -> tuple[AutopayBook, list[Made]]:
    """Runs the book the way the workflow does: charge when due, apply each answer."""
    cards = [VISA, MC, OTHER]
    book = AutopayBook.opened(setup(VISA, rules), T0, ZONE)
    made: list[Made] = []
    now = T0
    settled = 0
    for step in script:
        if step.kind == "add":
            now += timedelta(hours=step.hours)
            card = cards[step.card]
            book.method_added(PaymentMethodAdded(method=card, added_at=now), now, T0)
            continue
        if step.kind == "settle_fail":
            if book.state.processing is None:
                continue
            now += timedelta(hours=step.hours)
            event = PaymentSettled(
                payment_id=book.state.processing,
                succeeded=False,
                settled_at=now,
                decline=DECLINES[step.decline],
            )
            book.settled(event, now)
            settled += 1
            continue
        due = book.due_at()
        if due is None:
            continue
        now = max(now, due)
        if book.state.method is None:
            book.no_method()
            continue
        record = book.begin(now, 1)
        made.append(Made(record.number, now, record.method, record.by_method_added))
        if step.kind == "processing":
            book.answered(record, outcome(record.number, ChargeStatus.PROCESSING), now)
        else:
            decline = DECLINES[step.decline]
            book.answered(record, outcome(record.number, ChargeStatus.DECLINED, decline), now)
    return book, made


@settings(max_examples=300, deadline=None)
@given(script=st.lists(steps, min_size=1, max_size=80), max_attempts=st.integers(3, 40))
def test_random_declines_never_break_network_limits(script: list[Step], max_attempts: int) -> None:
    rules = dense_rules(max_attempts)
    book, made = drive(script, rules)

    # Attempts are numbered 1, 2, 3...: one idempotency key per charge, never reused.
    assert [m.number for m in made] == list(range(1, len(made) + 1))
    assert [c.number for c in book.state.charges] == [m.number for m in made]

    for card in (VISA, MC, OTHER):
        on_card = [m for m in made if m.card.fingerprint == card.fingerprint]
        reattempts = [m.at for m in on_card[1:]]
        # At most 15 reattempts of a card in any 30 days (Visa, applied to every network).
        for t in reattempts:
            window = [r for r in reattempts if t - timedelta(days=30) < r <= t]
            assert len(window) <= 15, (card.network, len(window))

    charges = book.state.charges
    for i, charge in enumerate(charges):
        if charge.decline is None:
            continue
        found = classify(charge.decline, rules)
        later = [c for c in charges[i + 1 :] if c.method.fingerprint == charge.method.fingerprint]
        if found.never_again_on_card:
            # Visa category 1, Mastercard 03/21, hard declines: that card is never charged again.
            assert later == [], (charge.decline, [c.number for c in later])
        elif later and found.earliest_retry is not None:
            # Mastercard 24-30: the next charge on the card waits as coded, from the answer.
            assert later[0].at >= charge.at + found.earliest_retry

    # The global maximum binds every retry; only a method the customer adds goes beyond it.
    for m in made:
        if m.number > 1 and not m.by_method_added:
            assert m.number <= max_attempts


def test_an_amount_no_card_can_charge_exactly_stops_autopay_without_a_charge() -> None:
    book = AutopayBook.opened(setup(), T0, ZONE)
    assert book.cannot_charge(Money.parse("12.340", "KWD")) is None
    assert book.cannot_charge(Money.parse("12.34", "USD")) is None
    assert book.cannot_charge(Money.parse("1935", "JPY")) is None
    reason = book.cannot_charge(Money.parse("12.345", "KWD"))
    assert reason is not None and "12.345 KWD cannot be charged exactly" in reason
    verdict = book.refuse(reason)
    assert verdict.move is Move.STOP and verdict.charge is None
    # No charge numbered, nothing for the retry rules or the network limits, nothing planned.
    assert book.state.charges == [] and book.state.history == []
    assert book.due_at() is None
    assert book.describe() == f"no more charges: {reason}"
