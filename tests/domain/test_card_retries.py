"""Card retries by decline (C-06): the taxonomy, the network limits, the schedule, file errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.resources import files
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobranza.domain.card_retries import (
    Attempt,
    AttemptResult,
    RetryDecision,
    StopAction,
    next_attempt,
)
from cobranza.domain.declines import (
    CardNetwork,
    Decline,
    DeclineCategory,
    RetryRules,
    RetrySchedule,
    Schedules,
    classify,
)
from cobranza.domain.declines_file import DeclinesFileError, load_retry_rules, parse_retry_rules

VISA, MASTERCARD = CardNetwork.VISA, CardNetwork.MASTERCARD
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def shipped() -> RetryRules:
    return load_retry_rules()


def rules(
    soft_hours: tuple[int, ...] = (24,), max_attempts: int = 12, paydays: tuple[int, ...] = ()
) -> RetryRules:
    """The shipped taxonomy and limits with a schedule chosen by the test."""
    schedules = Schedules(
        soft=RetrySchedule(delays_hours=soft_hours, paydays=paydays, payday_reach_days=3),
        gateway_error=RetrySchedule(delays_hours=(1,) * len(soft_hours)),
    )
    return shipped().model_copy(update={"schedules": schedules, "max_attempts": max_attempts})


def decline(
    card_id: str | None = "card-1",
    network: CardNetwork = VISA,
    code: str | None = "card_declined",
    network_code: str | None = None,
    advice_code: str | None = None,
) -> Decline:
    return Decline(
        card_id=card_id,
        network=network,
        code=code,
        network_code=network_code,
        advice_code=advice_code,
    )


def declined(at: datetime, d: Decline) -> Attempt:
    assert d.card_id is not None
    return Attempt(
        at=at, card_id=d.card_id, network=d.network, result=AttemptResult.DECLINED, decline=d
    )


def decide(
    history: list[Attempt],
    d: Decline,
    policy: RetryRules | None = None,
    now: datetime | None = None,
) -> RetryDecision:
    now = now or (history[-1].at if history else T0)
    return next_attempt(history, d, policy or shipped(), now)


# ---- C-06 ------------------------------------------------------------------------------------


def test_C06_visa_46_never_retried_asks_for_new_method() -> None:
    closed = decline(network=VISA, code="card_declined", network_code="46")
    decision = decide([declined(T0, closed)], closed)
    assert decision.retry_at is None
    assert decision.stop is StopAction.ASK_FOR_NEW_METHOD
    assert decision.category is DeclineCategory.HARD
    assert "visa 46" in decision.reason and "category 1" in decision.reason

    # A later soft answer on that card (a charge made elsewhere) does not reopen it.
    later = decline(network=VISA, code="insufficient_funds", network_code="51")
    history = [declined(T0, closed), declined(T0 + timedelta(days=2), later)]
    assert decide(history, later).stop is StopAction.ASK_FOR_NEW_METHOD


@pytest.mark.parametrize("code", ["04", "07", "12", "14", "15", "41", "43", "46", "57"])
def test_C06_every_visa_category_1_code_is_never_retried(code: str) -> None:
    d = decline(network=VISA, code="insufficient_funds", network_code=code)
    assert decide([declined(T0, d)], d).stop is StopAction.ASK_FOR_NEW_METHOD


def test_C06_insufficient_funds_16th_reattempt_in_30_days_never_made() -> None:
    daily = rules(soft_hours=(24,) * 40, max_attempts=50)
    broke = decline(network=VISA, code="insufficient_funds", network_code="51")
    first_and_14 = [declined(T0 + timedelta(days=i), broke) for i in range(15)]
    fifteenth = decide(first_and_14, broke, daily)
    assert fifteenth.retry_at == T0 + timedelta(days=15)

    first_and_15 = [declined(T0 + timedelta(days=i), broke) for i in range(16)]
    sixteenth = decide(first_and_15, broke, daily)
    assert sixteenth.retry_at is None
    assert sixteenth.stop is StopAction.GIVE_UP
    assert "15 reattempts in 30 days" in sixteenth.reason


def test_C06_insufficient_funds_on_any_network_keeps_to_15_in_30_days() -> None:
    daily = rules(soft_hours=(24,) * 40, max_attempts=50)
    broke = decline(network=MASTERCARD, code="insufficient_funds")
    history = [declined(T0 + timedelta(days=i), broke) for i in range(16)]
    assert decide(history, broke, daily).stop is StopAction.GIVE_UP


def test_C06_reattempts_older_than_30_days_leave_the_window() -> None:
    every_3_days = rules(soft_hours=(72,) * 40, max_attempts=50)
    broke = decline(code="insufficient_funds")
    # 16 attempts 3 days apart: 45 days, so at most 10 reattempts in any 30 days.
    history = [declined(T0 + timedelta(days=3 * i), broke) for i in range(16)]
    assert decide(history, broke, every_3_days).retry_at == T0 + timedelta(days=48)


def test_C06_mastercard_mac_25_waits_24_hours() -> None:
    hourly = rules(soft_hours=(1,))
    d = decline(network=MASTERCARD, code="insufficient_funds", advice_code="25")
    decision = decide([declined(T0, d)], d, hourly)
    assert decision.retry_at == T0 + timedelta(hours=24)
    assert "mastercard_advice 25" in decision.reason


def test_C06_mastercard_mac_25_is_24_real_hours_across_a_dst_change() -> None:
    new_york = ZoneInfo("America/New_York")
    before_dst = datetime(2026, 3, 7, 12, 0, tzinfo=new_york)  # clocks move on 8 March
    d = decline(network=MASTERCARD, code="try_again_later", advice_code="25")
    decision = decide([declined(before_dst, d)], d, rules(soft_hours=(1,)))
    assert decision.retry_at is not None
    assert decision.retry_at - before_dst == timedelta(hours=24)


@pytest.mark.parametrize(
    ("mac", "hours"),
    [("24", 1), ("25", 24), ("26", 48), ("27", 96), ("28", 144), ("29", 192), ("30", 240)],
)
def test_C06_mastercard_mac_24_to_30_set_the_earliest_retry(mac: str, hours: int) -> None:
    d = decline(network=MASTERCARD, code="processing_error", advice_code=mac)
    decision = decide([declined(T0, d)], d, rules(soft_hours=(1,)))
    assert decision.retry_at == T0 + timedelta(hours=hours)


def test_C06_mastercard_mac_03_never_again_on_that_card() -> None:
    no = decline(network=MASTERCARD, code="generic_decline", advice_code="03")
    assert decide([declined(T0, no)], no).stop is StopAction.ASK_FOR_NEW_METHOD

    soft_later = decline(network=MASTERCARD, code="insufficient_funds")
    history = [declined(T0, no), declined(T0 + timedelta(days=5), soft_later)]
    again = decide(history, soft_later)
    assert again.stop is StopAction.ASK_FOR_NEW_METHOD
    assert "never again on card-1" in again.reason and "mastercard_advice 03" in again.reason

    other_card = decline(card_id="card-2", network=MASTERCARD, code="insufficient_funds")
    history.append(declined(T0 + timedelta(days=6), other_card))
    assert decide(history, other_card).retry_at is not None


def test_C06_mastercard_mac_21_never_again_on_that_card() -> None:
    cancelled = decline(network=MASTERCARD, code="insufficient_funds", advice_code="21")
    assert decide([declined(T0, cancelled)], cancelled).stop is StopAction.ASK_FOR_NEW_METHOD


# ---- the other categories --------------------------------------------------------------------


def test_processing_is_never_charged_again_it_waits_for_settlement() -> None:
    pending = decline(code="processing")
    decision = decide([declined(T0, pending)], pending)
    assert (decision.stop, decision.category) == (
        StopAction.WAIT_FOR_SETTLEMENT,
        DeclineCategory.PROCESSING,
    )


def test_no_payment_method_asks_for_one() -> None:
    decision = decide([], decline(card_id=None, code=None))
    assert (decision.stop, decision.category) == (
        StopAction.ASK_FOR_NEW_METHOD,
        DeclineCategory.NO_PAYMENT_METHOD,
    )


def test_gateway_error_retries_soon() -> None:
    d = decline(code="api_connection_error")
    assert decide([declined(T0, d)], d).retry_at == T0 + timedelta(hours=1)


def test_global_maximum_of_charges_per_invoice_across_cards() -> None:
    policy = rules(soft_hours=(24,) * 10, max_attempts=4)
    history = [
        declined(T0 + timedelta(days=i), decline(card_id=f"card-{i}", code="insufficient_funds"))
        for i in range(4)
    ]
    decision = decide(history, history[-1].decline or decline(), policy)
    assert decision.stop is StopAction.GIVE_UP
    assert "4 charges" in decision.reason


def test_soft_schedule_used_up_gives_up() -> None:
    policy = rules(soft_hours=(24, 48))
    broke = decline(code="insufficient_funds")
    history = [declined(T0, broke), declined(T0 + timedelta(days=1), broke)]
    assert decide(history, broke, policy).retry_at == T0 + timedelta(days=3)
    history.append(declined(T0 + timedelta(days=3), broke))
    assert decide(history, broke, policy).stop is StopAction.GIVE_UP


def test_soft_retry_waits_for_a_payday_within_reach_at_the_local_hour() -> None:
    mexico = ZoneInfo("America/Mexico_City")
    policy = rules(soft_hours=(24,), paydays=(15, 31))
    at = datetime(2026, 3, 12, 18, 0, tzinfo=mexico)  # +24 h is the 13th, payday the 15th
    broke = decline(code="insufficient_funds")
    decision = decide([declined(at, broke)], broke, policy, now=at)
    assert decision.retry_at == datetime(2026, 3, 15, 10, 0, tzinfo=mexico)

    far = datetime(2026, 3, 2, 18, 0, tzinfo=mexico)  # the 3rd: no payday in 3 days
    assert decide([declined(far, broke)], broke, policy, now=far).retry_at == far + timedelta(
        days=1
    )


def test_payday_31_is_the_last_day_of_a_short_month() -> None:
    policy = rules(soft_hours=(24,), paydays=(31,))
    at = datetime(2026, 2, 26, 12, 0, tzinfo=UTC)
    broke = decline(code="insufficient_funds")
    decision = decide([declined(at, broke)], broke, policy)
    assert decision.retry_at == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)


def test_retry_is_never_before_now() -> None:
    broke = decline(code="insufficient_funds")
    late = T0 + timedelta(days=9)
    assert decide([declined(T0, broke)], broke, now=late).retry_at == late


# ---- the taxonomy ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("network", "code", "network_code", "advice_code", "category"),
    [
        (VISA, "insufficient_funds", None, None, DeclineCategory.SOFT),
        (VISA, "card_declined", None, None, DeclineCategory.SOFT),
        (VISA, "do_not_honor", "05", None, DeclineCategory.SOFT),
        (VISA, "stolen_card", "43", None, DeclineCategory.HARD),
        (VISA, "lost_card", "41", None, DeclineCategory.HARD),
        (VISA, "pickup_card", "04", None, DeclineCategory.HARD),
        (VISA, "expired_card", "54", None, DeclineCategory.NEEDS_CUSTOMER_ACTION),
        (VISA, "incorrect_cvc", "N7", None, DeclineCategory.NEEDS_CUSTOMER_ACTION),
        (VISA, "processing_error", None, None, DeclineCategory.GATEWAY_ERROR),
        (VISA, "processing", None, None, DeclineCategory.PROCESSING),
        (VISA, "authentication_required", None, None, DeclineCategory.NEEDS_CUSTOMER_ACTION),
        # The strictest source wins: a soft gateway code with a category-1 Visa code is hard.
        (VISA, "insufficient_funds", "46", None, DeclineCategory.HARD),
        (VISA, "card_declined", "57", None, DeclineCategory.HARD),
        (VISA, "something_new", None, None, DeclineCategory.SOFT),
        (MASTERCARD, "card_declined", None, "03", DeclineCategory.HARD),
        (MASTERCARD, "card_declined", None, "21", DeclineCategory.HARD),
        (MASTERCARD, "card_declined", None, "01", DeclineCategory.NEEDS_CUSTOMER_ACTION),
        (MASTERCARD, "card_declined", None, "26", DeclineCategory.SOFT),
        # A network's codes count on its own cards only.
        (MASTERCARD, "card_declined", "46", None, DeclineCategory.SOFT),
        (VISA, "card_declined", None, "03", DeclineCategory.SOFT),
    ],
)
def test_taxonomy(
    network: CardNetwork,
    code: str,
    network_code: str | None,
    advice_code: str | None,
    category: DeclineCategory,
) -> None:
    d = decline(network=network, code=code, network_code=network_code, advice_code=advice_code)
    assert classify(d, shipped()).category is category


def test_every_shipped_rule_names_its_source_and_visa_category_1_is_hard() -> None:
    taxonomy = shipped()
    for rule in (*taxonomy.gateway, *taxonomy.visa, *taxonomy.mastercard_advice):
        assert rule.source.strip()
    category_1 = {r.code for r in taxonomy.visa if r.visa_category == 1}
    assert {"04", "07", "12", "14", "15", "41", "43", "46", "57"} <= category_1
    assert all(r.category is DeclineCategory.HARD for r in taxonomy.visa if r.visa_category == 1)


def test_declines_yaml_ships_inside_the_package() -> None:
    shipped_file = files("cobranza") / "payments" / "declines.yaml"
    assert parse_retry_rules(shipped_file.read_text(encoding="utf-8")) == shipped()


# ---- file errors -----------------------------------------------------------------------------

_VALID_TAIL = """\
max_attempts: 8
schedules:
  soft: {delays_hours: [24]}
  gateway_error: {delays_hours: [1]}
"""


def file_error(text: str) -> list[str]:
    with pytest.raises(DeclinesFileError) as caught:
        parse_retry_rules(text, "declines.yaml")
    return caught.value.problems


def test_unknown_category_names_file_line_and_field() -> None:
    problems = file_error(
        "version: 1\n"
        "gateway:\n"
        "  - {code: insufficient_funds, category: soft, source: Stripe}\n"
        "  - {code: stolen_card, category: never, source: Stripe}\n" + _VALID_TAIL
    )
    assert len(problems) == 1
    assert problems[0].startswith("declines.yaml:4: gateway.1.category: ")
    assert "'soft'" in problems[0] and "'hard'" in problems[0]


def test_visa_category_1_marked_soft_is_refused_at_its_line() -> None:
    problems = file_error(
        "version: 1\n"
        "visa:\n"
        '  - {code: "46", visa_category: 1, category: soft, source: Visa}\n' + _VALID_TAIL
    )
    assert problems == [
        "declines.yaml:3: visa.0: a Visa category-1 code is never retried: "
        "its category must be 'hard'"
    ]


def test_repeated_code_and_missing_schedule_are_both_reported() -> None:
    problems = file_error(
        "version: 1\n"
        "mastercard_advice:\n"
        '  - {code: "03", category: hard, source: Mastercard}\n'
        '  - {code: "03", category: soft, source: Mastercard}\n'
        "max_attempts: 8\n"
    )
    assert "declines.yaml:2: mastercard_advice: codes listed more than once: 03" in problems
    assert any(p.startswith("declines.yaml:1: schedules: Field required") for p in problems)


def test_not_yaml_names_the_line() -> None:
    (problem,) = file_error("version: 1\ngateway: [\n")
    assert problem.startswith("declines.yaml:3: not valid YAML")


# ---- property: random decline sequences ------------------------------------------------------

_SOFT = ["insufficient_funds", "card_declined", "try_again_later", "processing_error"]
_ANY = [*_SOFT, "api_connection_error", "stolen_card", "expired_card", "processing"]


def _steps(
    codes: list[str], visa: list[str | None], mac: list[str | None], min_size: int, late: int
) -> st.SearchStrategy[list[tuple[str, str | None, str | None, int, int, bool]]]:
    step = st.tuples(
        st.sampled_from(codes),
        st.sampled_from(visa),
        st.sampled_from(mac),
        st.integers(min_value=0, max_value=600),  # minutes before the decision is taken
        st.integers(min_value=0, max_value=late),  # minutes the charge runs late
        st.booleans(),  # asked for a new method, the customer adds back an old card
    )
    return st.lists(step, min_size=min_size, max_size=min_size + 40)


# Runs of soft answers only reach the 15-in-30-days limit; mixed runs switch cards often.
_SEQUENCES = st.one_of(
    _steps(_SOFT, [None, "51", "05", "91"], [None, "02", "24", "25"], min_size=14, late=180),
    _steps(
        _ANY,
        [None, None, "51", "46", "04", "54"],
        [None, None, "25", "30", "03", "21"],
        min_size=1,
        late=3 * 24 * 60,
    ),
)
_POLICIES = {
    "shipped": shipped(),
    "hourly": rules(soft_hours=(1,) * 60, max_attempts=90),
    "daily": rules(soft_hours=(20,) * 40),
}


@settings(max_examples=400, deadline=None)
@given(
    steps=_SEQUENCES,
    policy_name=st.sampled_from(sorted(_POLICIES)),
    networks=st.lists(st.sampled_from(list(CardNetwork))),
)
def test_network_limits_never_exceeded_and_retries_never_in_the_past(
    steps: list[tuple[str, str | None, str | None, int, int, bool]],
    policy_name: str,
    networks: list[CardNetwork],
) -> None:
    policy = _POLICIES[policy_name]
    cards = [(f"card-{i}", n) for i, n in enumerate([*networks, *[VISA, MASTERCARD] * 50])]
    card, used = cards[0], 1
    history: list[Attempt] = []
    retries: list[Attempt] = []  # the charges next_attempt asked for
    at = T0
    for code, visa_code, mac, think, late, old_card in steps:
        d = decline(card[0], card[1], code, visa_code, mac)
        history.append(declined(at, d))
        now = at + timedelta(minutes=think)
        decision = next_attempt(history, d, policy, now)
        if decision.retry_at is not None:
            assert decision.retry_at >= now
            assert len(history) < policy.max_attempts
            at = decision.retry_at + timedelta(minutes=late)
            retries.append(declined(at, d))
        elif decision.stop is StopAction.ASK_FOR_NEW_METHOD:
            # The customer's new card is charged at once; that charge is theirs, not a retry.
            card = cards[0] if old_card else cards[used]
            used += not old_card
            at = now + timedelta(minutes=late)
        else:
            break
    _assert_within_network_rules(history, retries, policy)


def _assert_within_network_rules(
    history: list[Attempt], retries: list[Attempt], policy: RetryRules
) -> None:
    for retry in retries:
        before = [a for a in history if a.card_id == retry.card_id and a.at < retry.at]
        for earlier in before:
            assert earlier.decline is not None
            found = classify(earlier.decline, policy)
            assert not found.never_again_on_card, f"{retry.card_id} retried after {found.explain()}"
        assert before[-1].decline is not None
        earliest = classify(before[-1].decline, policy).earliest_retry
        assert earliest is None or retry.at - before[-1].at >= earliest
        for limit in policy.limits_for(retry.network):
            in_window = [a for a in before[1:] if a.at > retry.at - limit.window]
            assert len(in_window) + 1 <= limit.max_reattempts
