"""Which amounts a card gateway can charge exactly: three-decimal currencies go in tens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cobranza.domain.money import (
    CHARGED_IN_TENS,
    Money,
    chargeable_exactly,
    inexact_charge_reason,
)


@pytest.mark.parametrize(
    ("amount", "currency", "chargeable"),
    [
        ("12.345", "KWD", False),
        ("12.340", "KWD", True),
        ("1935.500", "KWD", True),
        ("0.001", "BHD", False),
        ("7.125", "JOD", False),
        ("7.120", "OMR", True),
        ("3.333", "TND", False),
        ("12.34", "USD", True),
        ("12.35", "USD", True),
        ("1935", "JPY", True),
        ("1", "JPY", True),
        ("0.005", "KWD", False),
        ("0", "KWD", True),
    ],
)
def test_chargeable_exactly(amount: str, currency: str, chargeable: bool) -> None:
    assert chargeable_exactly(Money.parse(amount, currency)) is chargeable


def test_the_reason_names_the_amount_and_the_rule() -> None:
    reason = inexact_charge_reason(Money.parse("12.345", "KWD"))
    assert reason.startswith("12.345 KWD cannot be charged exactly")
    assert "tens of the minor unit" in reason


@given(minor=st.integers(min_value=0, max_value=10**9))
def test_only_three_decimal_currencies_in_the_set_refuse_a_last_digit(minor: int) -> None:
    for currency in ("USD", "JPY", "MXN", "CLP", "EUR"):
        assert chargeable_exactly(Money(minor=minor, currency=currency))
    for currency in CHARGED_IN_TENS:
        assert chargeable_exactly(Money(minor=minor, currency=currency)) is (minor % 10 == 0)
