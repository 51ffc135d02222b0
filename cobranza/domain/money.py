"""Money as integer minor units with the ISO 4217 exponent of its currency; never a float.

Money knows current codes (ISO 4217 list one, from the iso4217 package) and withdrawn ones
(list three: DEM, FRF, ESP, ITL ...), because old bank statements still carry them and their
money must reach matching. ISO publishes no minor units for withdrawn codes, so theirs come
from CLDR (babel): a code counts as withdrawn when list one no longer has it and CLDR records
every territory's use of it as ended. What a person declares (an invoice, a subscription, a
segment's amounts) takes a current code only: `normalise_currency` and `require_current`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated

import iso4217
from babel import Locale
from babel.core import get_global
from babel.numbers import get_currency_precision, parse_pattern
from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator

from cobranza.domain.errors import (
    AmountPrecisionError,
    CurrencyMismatch,
    UnknownCurrency,
    WithdrawnCurrency,
)

# Three-decimal currencies that card gateways (Stripe among them) charge only in whole tens of
# the minor unit: 12.345 KWD cannot be charged exactly, 12.340 KWD can.
CHARGED_IN_TENS = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


@lru_cache(maxsize=1)
def withdrawn_currencies() -> dict[str, date]:
    """Each withdrawn ISO 4217 code with the last day CLDR records it as in use anywhere."""
    current = {currency.code for currency in iso4217.Currency}
    ended: dict[str, date] = {}
    ongoing: set[str] = set()
    for entries in get_global("territory_currencies").values():
        for code, _start, end, _tender in entries:
            if end is None:
                ongoing.add(code)
            else:
                ended[code] = max(ended.get(code, date.min), date(*end))
    return {code: day for code, day in ended.items() if code not in current | ongoing}


@lru_cache(maxsize=256)
def currency_exponent(code: str) -> int:
    """Digits after the decimal point for a currency, as ISO 4217 defines them (JPY 0, KWD 3);
    for a withdrawn code, as CLDR records it (DEM 2, ITL 0)."""
    upper = code.upper()
    try:
        currency = iso4217.Currency(upper)
    except ValueError as exc:
        if upper in withdrawn_currencies():
            return int(get_currency_precision(upper))
        raise UnknownCurrency(code) from exc
    exponent = currency.exponent
    return 0 if exponent is None else int(exponent)


def money_text(minor: int, currency: str) -> str:
    """How Money prints ("1234.50 MXN"), from minor units and a known currency; for callers
    that word many amounts and need no Money object for it."""
    exponent = currency_exponent(currency)
    major = Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))
    return f"{major} {currency}"


def known_currency(code: str) -> str:
    """Upper-case a currency code after checking that ISO 4217 knows it, current or withdrawn."""
    currency_exponent(code)
    return code.upper()


def normalise_currency(code: str) -> str:
    """Upper-case a currency code after checking that it is a current ISO 4217 code."""
    upper = known_currency(code)
    try:
        iso4217.Currency(upper)
    except ValueError:
        raise WithdrawnCurrency(upper, withdrawn_currencies()[upper]) from None
    return upper


def require_current(amount: Money) -> Money:
    """The amount, if its currency is current; what is owed today cannot be in DEM."""
    normalise_currency(amount.currency)
    return amount


class Money(BaseModel):
    """An amount in integer minor units of one currency."""

    model_config = ConfigDict(frozen=True)

    minor: int
    currency: str

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        return known_currency(value)

    @classmethod
    def parse(cls, amount: str | Decimal | int, currency: str) -> Money:
        """Build from a decimal amount in major units, refusing more decimals than allowed."""
        code = known_currency(currency)
        exponent = currency_exponent(code)
        try:
            value = Decimal(str(amount).strip())
        except InvalidOperation as exc:
            raise ValueError(f"amount {amount!r} is not a decimal number") from exc
        if not value.is_finite():
            raise ValueError(f"amount {amount!r} is not a finite number")
        scaled = value.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise AmountPrecisionError(str(amount), code, exponent)
        return cls(minor=int(scaled), currency=code)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(minor=0, currency=currency)

    @property
    def exponent(self) -> int:
        return currency_exponent(self.currency)

    def to_decimal(self) -> Decimal:
        """The amount in major units with exactly the currency's exponent of decimals."""
        return (
            Decimal(self.minor).scaleb(-self.exponent).quantize(Decimal(1).scaleb(-self.exponent))
        )

    def __str__(self) -> str:
        return money_text(self.minor, self.currency)

    def _check(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(minor=self.minor + other.minor, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(minor=self.minor - other.minor, currency=self.currency)

    def __lt__(self, other: Money) -> bool:
        self._check(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._check(other)
        return self.minor <= other.minor

    def is_zero(self) -> bool:
        return self.minor == 0

    def is_positive(self) -> bool:
        return self.minor > 0

    def format(self, locale: str) -> str:
        """Localised text such as "¥1,935", "$ 600,00" or "KWD 1,935.500"."""
        loc = Locale.parse(locale)
        pattern = parse_pattern(loc.currency_formats["standard"].pattern)
        pattern.frac_prec = (self.exponent, self.exponent)
        text: str = pattern.apply(
            self.to_decimal(), loc, currency=self.currency, currency_digits=False
        )
        return text


# What is owed or billed from now on: Money whose currency ISO 4217 still lists.
CurrentMoney = Annotated[Money, AfterValidator(require_current)]


def chargeable_exactly(amount: Money) -> bool:
    """Whether a card gateway can charge `amount` to the minor unit, without rounding it."""
    return amount.currency not in CHARGED_IN_TENS or amount.minor % 10 == 0


def inexact_charge_reason(amount: Money) -> str:
    """Why `amount` cannot be charged exactly: the words for the timeline, ops and errors."""
    return (
        f"{amount} cannot be charged exactly: card gateways take {amount.currency} amounts in "
        "tens of the minor unit (the third decimal must be 0)"
    )
