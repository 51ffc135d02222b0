"""Decline taxonomy and card retry rules as data: what each gateway or network code means."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class DeclineCategory(StrEnum):
    """Ordered from the least to the most severe: when sources disagree, the strictest wins."""

    SOFT = "soft"
    GATEWAY_ERROR = "gateway_error"
    PROCESSING = "processing"
    NEEDS_CUSTOMER_ACTION = "needs_customer_action"
    HARD = "hard"
    NO_PAYMENT_METHOD = "no_payment_method"

    @property
    def severity(self) -> int:
        return list(DeclineCategory).index(self)

    @property
    def retried(self) -> bool:
        return self in (DeclineCategory.SOFT, DeclineCategory.GATEWAY_ERROR)


class CardNetwork(StrEnum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    DISCOVER = "discover"
    OTHER = "other"


class CodeSource(StrEnum):
    """Who gave the code: the gateway, Visa's response code, Mastercard's merchant advice code."""

    GATEWAY = "gateway"
    VISA = "visa"
    MASTERCARD_ADVICE = "mastercard_advice"


class Decline(BaseModel):
    """What the gateway answered for a charge, or that there was no card to charge."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    card_id: str | None = Field(
        default=None, min_length=1, description="card fingerprint; None: no payment method"
    )
    network: CardNetwork = CardNetwork.OTHER
    code: str | None = Field(default=None, description="gateway decline code or status")
    network_code: str | None = Field(default=None, description="issuer response code (Visa)")
    advice_code: str | None = Field(default=None, description="Mastercard merchant advice code")


class CodeRule(BaseModel):
    """One code's meaning, with the legal or network source it comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(min_length=1)
    category: DeclineCategory
    source: str = Field(min_length=3, description="the network rule or documentation it follows")
    visa_category: int | None = Field(default=None, ge=1, le=4)
    earliest_retry_hours: int | None = Field(default=None, ge=1, le=24 * 30)
    meaning: str = ""

    @model_validator(mode="after")
    def _visa_category_1_is_hard(self) -> CodeRule:
        if self.visa_category == 1 and self.category is not DeclineCategory.HARD:
            raise ValueError("a Visa category-1 code is never retried: its category must be 'hard'")
        if self.earliest_retry_hours is not None and not self.category.retried:
            raise ValueError(
                f"earliest_retry_hours applies to retried categories (soft, gateway_error), "
                f"not {self.category.value!r}"
            )
        return self


class ReattemptLimit(BaseModel):
    """A network's cap on reattempts of one card in any sliding window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    networks: tuple[CardNetwork, ...] = Field(
        default=(), description="the networks it binds; empty: every network"
    )
    max_reattempts: int = Field(ge=0, le=100)
    window_days: int = Field(ge=1, le=365)
    source: str = Field(min_length=3)

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    def binds(self, network: CardNetwork) -> bool:
        return not self.networks or network in self.networks


class RetrySchedule(BaseModel):
    """When the n-th retry of a category goes, after the attempt before it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delays_hours: tuple[int, ...] = Field(
        min_length=1, description="wait before the 1st, 2nd, ... retry; then stop retrying"
    )
    paydays: tuple[int, ...] = Field(
        default=(), description="days of the month pay lands (31: the month's last day)"
    )
    payday_reach_days: int = Field(
        default=0, ge=0, le=15, description="move a retry this many days at most to a payday"
    )
    payday_hour: int = Field(default=10, ge=0, le=23, description="local hour on a payday")

    @field_validator("delays_hours")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(h < 1 for h in value):
            raise ValueError("every delay is at least 1 hour")
        return value

    @field_validator("paydays")
    @classmethod
    def _days_of_month(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        wrong = [d for d in value if not 1 <= d <= 31]
        if wrong:
            raise ValueError(f"paydays are days of the month 1-31, not {wrong}")
        return tuple(sorted(set(value)))


class Schedules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    soft: RetrySchedule
    gateway_error: RetrySchedule


class RetryRules(BaseModel):
    """The whole decline file: code taxonomy, network limits, schedules and a global maximum."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    unknown_code: DeclineCategory = Field(
        default=DeclineCategory.SOFT, description="category of a code no table lists"
    )
    gateway: tuple[CodeRule, ...] = ()
    visa: tuple[CodeRule, ...] = ()
    mastercard_advice: tuple[CodeRule, ...] = ()
    limits: tuple[ReattemptLimit, ...] = ()
    max_attempts: int = Field(ge=1, le=100, description="charges per invoice, every card")
    schedules: Schedules

    @field_validator("gateway", "visa", "mastercard_advice")
    @classmethod
    def _codes_unique(cls, value: tuple[CodeRule, ...]) -> tuple[CodeRule, ...]:
        seen = [r.code for r in value]
        repeated = sorted({c for c in seen if seen.count(c) > 1})
        if repeated:
            raise ValueError(f"codes listed more than once: {', '.join(repeated)}")
        return value

    @field_validator("visa")
    @classmethod
    def _visa_categorised(cls, value: tuple[CodeRule, ...]) -> tuple[CodeRule, ...]:
        missing = [r.code for r in value if r.visa_category is None]
        if missing:
            raise ValueError(f"Visa codes need visa_category (1-4): missing on {missing}")
        return value

    def rule(self, source: CodeSource, code: str) -> CodeRule | None:
        table = {
            CodeSource.GATEWAY: self.gateway,
            CodeSource.VISA: self.visa,
            CodeSource.MASTERCARD_ADVICE: self.mastercard_advice,
        }[source]
        return next((r for r in table if r.code == code), None)

    def limits_for(self, network: CardNetwork) -> list[ReattemptLimit]:
        return [limit for limit in self.limits if limit.binds(network)]


class Classification(BaseModel):
    """A decline read against the tables: its category and every rule that matched."""

    model_config = ConfigDict(frozen=True)

    category: DeclineCategory
    matched: tuple[tuple[CodeSource, CodeRule], ...] = ()

    @property
    def earliest_retry(self) -> timedelta | None:
        hours = [r.earliest_retry_hours for _, r in self.matched if r.earliest_retry_hours]
        return timedelta(hours=max(hours)) if hours else None

    @property
    def never_again_on_card(self) -> bool:
        return self.category is DeclineCategory.HARD

    def explain(self) -> str:
        """`visa 46: hard (Visa ...)`: the rules that set the category, or the category alone."""
        deciding = [
            f"{source.value} {rule.code}: {rule.category.value} ({rule.source})"
            for source, rule in self.matched
            if rule.category is self.category
        ]
        return "; ".join(deciding) or self.category.value


def classify(decline: Decline, rules: RetryRules) -> Classification:
    """The category of a decline: the strictest of its gateway, Visa and Mastercard codes."""
    if decline.card_id is None:
        return Classification(category=DeclineCategory.NO_PAYMENT_METHOD)
    matched = tuple(_matches(decline, rules))
    categories = [r.category for _, r in matched] or [rules.unknown_code]
    return Classification(category=max(categories, key=lambda c: c.severity), matched=matched)


def _matches(decline: Decline, rules: RetryRules) -> Iterable[tuple[CodeSource, CodeRule]]:
    lookups = [(CodeSource.GATEWAY, decline.code)]
    # A network's codes mean something only on its own cards.
    if decline.network is CardNetwork.VISA:
        lookups.append((CodeSource.VISA, decline.network_code))
    if decline.network is CardNetwork.MASTERCARD:
        lookups.append((CodeSource.MASTERCARD_ADVICE, decline.advice_code))
    for source, code in lookups:
        rule = rules.rule(source, code) if code else None
        if rule is not None:
            yield source, rule
