"""When to charge a card again after a decline, within the card networks' reattempt rules."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cobranza.domain.declines import (
    CardNetwork,
    Classification,
    Decline,
    DeclineCategory,
    RetryRules,
    RetrySchedule,
    classify,
)


class AttemptResult(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    PROCESSING = "processing"
    ERROR = "error"


class Attempt(BaseModel):
    """One charge made on a card, and what came of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: AwareDatetime
    card_id: str = Field(min_length=1, description="card fingerprint")
    network: CardNetwork
    result: AttemptResult
    decline: Decline | None = Field(default=None, description="the codes when not succeeded")

    @model_validator(mode="after")
    def _decline_is_of_this_card(self) -> Attempt:
        if self.decline is not None and self.decline.card_id not in (None, self.card_id):
            raise ValueError(
                f"decline.card_id {self.decline.card_id!r} is not the attempt's card "
                f"{self.card_id!r}"
            )
        return self


class StopAction(StrEnum):
    ASK_FOR_NEW_METHOD = "ask_for_new_method"
    WAIT_FOR_SETTLEMENT = "wait_for_settlement"
    GIVE_UP = "give_up"


class RetryDecision(BaseModel):
    """Either charge again at `retry_at`, or stop: why, and what to do instead."""

    model_config = ConfigDict(frozen=True)

    category: DeclineCategory
    retry_at: AwareDatetime | None = None
    stop: StopAction | None = None
    reason: str

    @model_validator(mode="after")
    def _one_outcome(self) -> RetryDecision:
        if (self.retry_at is None) == (self.stop is None):
            raise ValueError("a decision is either retry_at or stop, exactly one")
        return self


_STOPS = {
    DeclineCategory.NO_PAYMENT_METHOD: StopAction.ASK_FOR_NEW_METHOD,
    DeclineCategory.HARD: StopAction.ASK_FOR_NEW_METHOD,
    DeclineCategory.NEEDS_CUSTOMER_ACTION: StopAction.ASK_FOR_NEW_METHOD,
    DeclineCategory.PROCESSING: StopAction.WAIT_FOR_SETTLEMENT,
}


def next_attempt(
    history: list[Attempt], decline: Decline, policy: RetryRules, now: datetime
) -> RetryDecision:
    """The decision after `decline`, the answer to the latest attempt in `history`.

    `now` is aware; its time zone is the customer's for payday hours. retry_at is in UTC.
    """
    found = classify(decline, policy)
    category = found.category
    if category in _STOPS:
        return _stop(category, _STOPS[category], found.explain())
    assert decline.card_id is not None  # only no_payment_method has no card
    card = decline.card_id
    blocked = _blocking_decline(history, card, policy)
    if blocked is not None:
        return _stop(category, StopAction.ASK_FOR_NEW_METHOD, f"never again on {card}: {blocked}")
    if len(history) >= policy.max_attempts:
        return _stop(category, StopAction.GIVE_UP, f"{policy.max_attempts} charges made")
    schedule = getattr(policy.schedules, category.value)
    assert isinstance(schedule, RetrySchedule)
    on_card = sorted((a for a in history if a.card_id == card), key=lambda a: a.at)
    retry = _retries_in_a_row(on_card, category, policy)
    if retry >= len(schedule.delays_hours):
        return _stop(category, StopAction.GIVE_UP, f"{category.value} schedule used up")
    after = on_card[-1].at if on_card else now
    retry_at = _scheduled(schedule, retry, after, now, found)
    over = _over_limit(on_card, decline.network, retry_at, policy)
    if over is not None:
        return _stop(category, StopAction.GIVE_UP, over)
    return RetryDecision(
        category=category, retry_at=retry_at, reason=f"retry {retry + 1}: {found.explain()}"
    )


def _stop(category: DeclineCategory, action: StopAction, reason: str) -> RetryDecision:
    return RetryDecision(category=category, stop=action, reason=reason)


def _blocking_decline(history: list[Attempt], card: str, policy: RetryRules) -> str | None:
    """Why an earlier hard decline on this card (Visa category 1, MAC 03/21) forbids it."""
    for attempt in history:
        if attempt.card_id != card or attempt.decline is None:
            continue
        earlier = classify(_on_card(attempt), policy)
        if earlier.never_again_on_card:
            return earlier.explain()
    return None


def _on_card(attempt: Attempt) -> Decline:
    assert attempt.decline is not None
    return attempt.decline.model_copy(
        update={"card_id": attempt.card_id, "network": attempt.network}
    )


def _retries_in_a_row(on_card: list[Attempt], category: DeclineCategory, policy: RetryRules) -> int:
    """Retries already made for this run of declines: a run ends at a different category."""
    run = 0
    for attempt in reversed(on_card):
        if attempt.decline is None or classify(_on_card(attempt), policy).category != category:
            break
        run += 1
    return max(run - 1, 0)


def _scheduled(
    schedule: RetrySchedule, retry: int, after: datetime, now: datetime, found: Classification
) -> datetime:
    # Real elapsed time, in UTC: wall-clock arithmetic would make 24 h across DST 23 or 25.
    after_utc = after.astimezone(UTC)
    at = _payday_on_or_after(
        schedule, after_utc + timedelta(hours=schedule.delays_hours[retry]), now
    )
    earliest = found.earliest_retry
    if earliest is not None:
        at = max(at, after_utc + earliest)
    return max(at, now.astimezone(UTC))


def _payday_on_or_after(schedule: RetrySchedule, at: datetime, now: datetime) -> datetime:
    """Pay lands on paydays: a retry a few days before one waits for it."""
    zone = now.tzinfo
    local = at.astimezone(zone)
    for ahead in range(schedule.payday_reach_days + 1):
        day = local.date() + timedelta(days=ahead)
        if not _is_payday(day, schedule.paydays):
            continue
        payday = datetime.combine(day, time(schedule.payday_hour), tzinfo=zone).astimezone(UTC)
        if payday >= at:
            return payday
    return at


def _is_payday(day: date, paydays: tuple[int, ...]) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    return any(min(p, last) == day.day for p in paydays)


def _over_limit(
    on_card: list[Attempt], network: CardNetwork, at: datetime, policy: RetryRules
) -> str | None:
    """The network limit a charge at `at` would break; the card's first charge is no reattempt."""
    reattempts = [a.at for a in on_card[1:]]
    for limit in policy.limits_for(network):
        in_window = sum(1 for t in reattempts if t > at - limit.window)
        if in_window + 1 > limit.max_reattempts:
            return (
                f"{limit.max_reattempts} reattempts in {limit.window_days} days reached on "
                f"this card ({limit.source})"
            )
    return None
