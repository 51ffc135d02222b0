"""Which dunning policy an invoice follows: ordered rules over customer and invoice attributes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from cobranza.domain.errors import AmountPrecisionError, DomainError
from cobranza.domain.invoice import Invoice
from cobranza.domain.money import Money, normalise_currency
from cobranza.domain.policy import Policy

Loc = tuple[str | int, ...]
KNOWN_POLICIES = "known_policies"
"""Validation-context key: the policy ids a rule may name (unchecked when absent)."""

_N = TypeVar("_N", int, Decimal)
_T = TypeVar("_T")


class SegmentContradictions(ValueError):
    """Faults found across fields of one model; each names the field it is about."""

    def __init__(self, found: list[tuple[Loc, str]]) -> None:
        self.found = found
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in found))


class NaiveInstant(DomainError):
    def __init__(self, at: datetime) -> None:
        super().__init__(f"selection instant {at.isoformat()} must carry a UTC offset")


def _known_policy(value: str, info: ValidationInfo) -> str:
    known = (info.context or {}).get(KNOWN_POLICIES)
    if known is not None and value not in known:
        accepted = ", ".join(sorted(known)) or "(none loaded)"
        raise ValueError(f"unknown policy {value!r}: expected one of {accepted}")
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _lower(value: str) -> str:
    return value.lower()


def _country(value: str) -> str:
    if len(value) != 2 or not value.isalpha():
        raise ValueError(f"country {value!r} is not an ISO 3166 alpha-2 code such as MX, CO, BR")
    return value.upper()


def _decimal_text(value: Any) -> Decimal:
    # A YAML number with a point is a float; 0.1-style amounts would already be inexact.
    if isinstance(value, float):
        raise ValueError(f'write the amount in quotes, e.g. "{value}": unquoted it is a float')
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f'expected a decimal amount in quotes such as "5000.00", got {value!r}')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f'{value!r} is not a decimal amount such as "5000.00"') from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{value!r} is not a finite amount of zero or more")
    return amount


PolicyRef = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$"), AfterValidator(_known_policy)]
Segments = Annotated[
    tuple[Annotated[str, Field(min_length=1), AfterValidator(_lower)], ...],
    BeforeValidator(_one_or_many),
    Field(min_length=1),
]
Countries = Annotated[
    tuple[Annotated[str, AfterValidator(_country)], ...],
    BeforeValidator(_one_or_many),
    Field(min_length=1),
]
Currency = Annotated[str, AfterValidator(normalise_currency)]
DecimalText = Annotated[Decimal, BeforeValidator(_decimal_text)]


def _check_bounds(at_least: _N | None, below: _N | None) -> None:
    if at_least is None and below is None:
        raise ValueError("give at_least, below or both")
    if at_least is not None and below is not None and below <= at_least:
        raise ValueError(f"empty range: below ({below}) must be above at_least ({at_least})")


class IntRange(BaseModel):
    """From `at_least` (included) up to `below` (excluded); either bound may be left open."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at_least: int | None = Field(default=None, ge=0)
    below: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _not_empty(self) -> IntRange:
        _check_bounds(self.at_least, self.below)
        return self


class AmountRange(BaseModel):
    """Amount bounds in one currency, as quoted decimal strings in major units."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at_least: DecimalText | None = None
    below: DecimalText | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> AmountRange:
        _check_bounds(self.at_least, self.below)
        return self

    def money(self, currency: str) -> tuple[Money | None, Money | None]:
        return (
            None if self.at_least is None else Money.parse(self.at_least, currency),
            None if self.below is None else Money.parse(self.below, currency),
        )


class Conditions(BaseModel):
    """What an invoice must have for a rule to take it; every condition given must hold.

    A list (segment, country) holds when the value is any of its items. An amount holds only
    for the currencies it names. A risk score condition never holds for an unscored customer.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    segment: Segments | None = None
    country: Countries | None = None
    amount: dict[Currency, AmountRange] | None = Field(default=None, min_length=1)
    days_overdue: IntRange | None = None
    risk_score: IntRange | None = None

    @model_validator(mode="after")
    def _amounts_fit_their_currency(self) -> Conditions:
        found: list[tuple[Loc, str]] = []
        for currency, bounds in (self.amount or {}).items():
            for name in ("at_least", "below"):
                value = getattr(bounds, name)
                if value is None:
                    continue
                try:
                    Money.parse(value, currency)
                except AmountPrecisionError as exc:
                    found.append((("amount", currency, name), str(exc)))
        if found:
            raise SegmentContradictions(found)
        return self

    @property
    def unconditional(self) -> bool:
        return not any(
            (self.segment, self.country, self.amount, self.days_overdue, self.risk_score)
        )

    def check(self, invoice: Invoice, at: datetime) -> list[str] | None:
        """Each condition in words when all hold for the invoice at `at`; None when one fails."""
        customer, amount = invoice.customer, invoice.amount
        words: list[str] = []
        if self.segment is not None:
            if customer.segment.lower() not in self.segment:
                return None
            words.append(f"segment {customer.segment}")
        if self.country is not None:
            if customer.country.upper() not in self.country:
                return None
            words.append(f"country {customer.country.upper()}")
        if self.amount is not None:
            bounds = self.amount.get(amount.currency)
            if bounds is None:
                return None
            low, high = bounds.money(amount.currency)
            if not _inside(low, high, amount):
                return None
            words.append(_range_words("amount", low, high, money_words))
        if self.days_overdue is not None:
            days = invoice.days_overdue_at(at)
            if not _inside(self.days_overdue.at_least, self.days_overdue.below, days):
                return None
            words.append(_range_words("days overdue", *_bounds(self.days_overdue), str))
        if self.risk_score is not None:
            score = customer.risk_score
            if score is None or not _inside(self.risk_score.at_least, self.risk_score.below, score):
                return None
            words.append(_range_words("risk score", *_bounds(self.risk_score), str))
        return words

    def describe(self) -> list[str]:
        """Every condition in words, for reading the rules rather than one invoice."""
        words = []
        if self.segment is not None:
            words.append(f"segment {' or '.join(self.segment)}")
        if self.country is not None:
            words.append(f"country {' or '.join(self.country)}")
        if self.amount is not None:
            each = [
                _range_words("amount", *bounds.money(currency), money_words)
                for currency, bounds in self.amount.items()
            ]
            words.append(each[0] if len(each) == 1 else f"({' or '.join(each)})")
        if self.days_overdue is not None:
            words.append(_range_words("days overdue", *_bounds(self.days_overdue), str))
        if self.risk_score is not None:
            words.append(_range_words("risk score", *_bounds(self.risk_score), str))
        return words

    def covers(self, other: Conditions) -> bool:
        """True when every invoice `other` takes, this takes too: a later `other` is dead."""
        return (
            _wider_set(self.segment, other.segment)
            and _wider_set(self.country, other.country)
            and _wider_amounts(self.amount, other.amount)
            and _wider_range(self.days_overdue, other.days_overdue)
            and _wider_range(self.risk_score, other.risk_score)
        )


class SegmentRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    when: Conditions = Conditions()
    policy: PolicyRef
    note: str = ""


class SegmentRules(BaseModel):
    """Rules tried in order; the first whose conditions all hold names the policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    rules: tuple[SegmentRule, ...] = ()
    default: PolicyRef

    @model_validator(mode="after")
    def _every_rule_reachable(self) -> SegmentRules:
        found = list(_contradictions(self))
        if found:
            raise SegmentContradictions(found)
        return self

    @property
    def policy_ids(self) -> frozenset[str]:
        return frozenset({self.default, *(r.policy for r in self.rules)})


class PolicyChoice(BaseModel):
    """The policy chosen for one invoice, by which rule (None: the default) and why."""

    model_config = ConfigDict(frozen=True)

    policy_id: str
    rule_id: str | None = None
    reason: str

    @property
    def by_default(self) -> bool:
        return self.rule_id is None


def choose_policy(rules: SegmentRules, invoice: Invoice, at: datetime) -> PolicyChoice:
    """The first rule that takes the invoice at `at` (days overdue count then), else the default."""
    if at.tzinfo is None:
        raise NaiveInstant(at)
    for rule in rules.rules:
        words = rule.when.check(invoice, at)
        if words is not None:
            return PolicyChoice(
                policy_id=rule.policy,
                rule_id=rule.id,
                reason=f"rule {rule.id!r}: {' and '.join(words)}",
            )
    return PolicyChoice(
        policy_id=rules.default,
        reason=f"no rule matched ({_facts(invoice, at)}): default policy {rules.default!r}",
    )


def explain(rules: SegmentRules, policies: Mapping[str, Policy] | None = None) -> list[str]:
    """The rules in plain words, one line each, for `cobranza policy segments`."""
    lines = [
        f"Segmentation rules v{rules.version}: the first rule whose conditions all hold "
        "chooses the invoice's policy."
    ]
    for n, rule in enumerate(rules.rules, 1):
        why = f" Why: {rule.note}." if rule.note else ""
        lines.append(
            f"{n}. {rule.id}: if {' and '.join(rule.when.describe())}, "
            f"{_policy_words(rule.policy, policies)}.{why}"
        )
    lines.append(f"Otherwise: {_policy_words(rules.default, policies)}.")
    return lines


def money_words(money: Money) -> str:
    """'5,000.00 MXN', '1,000,000 JPY': the currency's own decimals, thousands marked."""
    return f"{money.to_decimal():,} {money.currency}"


def _policy_words(policy_id: str, policies: Mapping[str, Policy] | None) -> str:
    policy = (policies or {}).get(policy_id)
    if policy is None:
        return f"policy {policy_id!r}"
    return f"policy {policy.ref}" + (f" ({policy.name})" if policy.name else "")


def _facts(invoice: Invoice, at: datetime) -> str:
    c = invoice.customer
    risk = "no risk score" if c.risk_score is None else f"risk score {c.risk_score}"
    return (
        f"segment {c.segment}, country {c.country.upper()}, amount {money_words(invoice.amount)}, "
        f"{invoice.days_overdue_at(at)} days overdue, {risk}"
    )


def _contradictions(rules: SegmentRules) -> Iterator[tuple[Loc, str]]:
    first_use: dict[str, int] = {}
    for i, rule in enumerate(rules.rules):
        if rule.id in first_use:
            yield (
                ("rules", i, "id"),
                f"rule id {rule.id!r} is already used by rules.{first_use[rule.id]}",
            )
        first_use.setdefault(rule.id, i)
        earlier = next((j for j in range(i) if rules.rules[j].when.covers(rule.when)), None)
        if earlier is not None:
            by = rules.rules[earlier]
            how = (
                "has no conditions, so it takes every invoice"
                if by.when.unconditional
                else "its conditions include all of this one's, so it takes every invoice "
                "this one would"
            )
            yield (
                ("rules", i),
                f"rule {rule.id!r} can never match: rule {by.id!r} (rules.{earlier}) comes "
                f"first and {how}",
            )
    catch_all = next((r for r in rules.rules if r.when.unconditional), None)
    if catch_all is not None:
        yield (
            ("default",),
            f"default {rules.default!r} is never used: rule {catch_all.id!r} has no conditions "
            f"and takes every invoice; drop that rule and make {catch_all.policy!r} the default",
        )


def _inside(low: Any, high: Any, value: Any) -> bool:
    return (low is None or low <= value) and (high is None or value < high)


def _bounds(r: IntRange) -> tuple[int | None, int | None]:
    return r.at_least, r.below


def _range_words(name: str, low: _T | None, high: _T | None, say: Callable[[_T], str]) -> str:
    if low is not None and high is not None:
        return f"{say(low)} <= {name} < {say(high)}"
    if low is not None:
        return f"{name} >= {say(low)}"
    assert high is not None
    return f"{name} < {say(high)}"


def _wider_set(outer: tuple[str, ...] | None, inner: tuple[str, ...] | None) -> bool:
    return outer is None or (inner is not None and set(inner) <= set(outer))


def _wider_range(outer: IntRange | None, inner: IntRange | None) -> bool:
    if outer is None:
        return True
    return inner is not None and _contains(outer.at_least, outer.below, inner.at_least, inner.below)


def _wider_amounts(
    outer: dict[str, AmountRange] | None, inner: dict[str, AmountRange] | None
) -> bool:
    if outer is None:
        return True
    return inner is not None and all(
        currency in outer
        and _contains(outer[currency].at_least, outer[currency].below, b.at_least, b.below)
        for currency, b in inner.items()
    )


def _contains(low: _N | None, high: _N | None, inner_low: _N | None, inner_high: _N | None) -> bool:
    """Is [inner_low, inner_high) inside [low, high)? An open bound is infinite."""
    low_ok = low is None or (inner_low is not None and low <= inner_low)
    high_ok = high is None or (inner_high is not None and inner_high <= high)
    return low_ok and high_ok
