"""Currencies: current ISO 4217 codes everywhere, withdrawn ones only in money already received."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from cobranza.domain.billing import Subscription
from cobranza.domain.errors import UnknownCurrency, WithdrawnCurrency
from cobranza.domain.invoice import Customer, Invoice
from cobranza.domain.money import (
    Money,
    currency_exponent,
    normalise_currency,
    withdrawn_currencies,
)


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("EUR", 2),
        ("JPY", 0),
        ("KWD", 3),
        ("DEM", 2),
        ("FRF", 2),
        ("NLG", 2),
        ("ESP", 0),
        ("ITL", 0),
    ],
)
def test_minor_units_of_current_and_withdrawn_codes(code: str, exponent: int) -> None:
    assert currency_exponent(code) == exponent


def test_withdrawn_codes_come_from_cldr_and_exclude_every_current_one() -> None:
    withdrawn = withdrawn_currencies()
    assert {"DEM", "FRF", "ESP", "ITL", "NLG", "ATS", "XEU"} <= set(withdrawn)
    assert withdrawn["FRF"] == date(2002, 2, 17)
    assert not {"EUR", "USD", "MXN", "BRL", "XTS"} & set(withdrawn)
    assert "CNH" not in withdrawn  # offshore yuan: CLDR knows it, ISO 4217 never listed it


def test_money_received_in_a_withdrawn_currency_keeps_its_minor_units() -> None:
    assert str(Money.parse("84349.74", "dem")) == "84349.74 DEM"
    assert Money.parse("1500", "ITL").minor == 1500
    with pytest.raises(ValueError, match="more decimals than ITL allows"):
        Money.parse("1500.5", "ITL")


def test_a_code_iso_never_had_is_unknown() -> None:
    with pytest.raises(UnknownCurrency, match="unknown currency 'XYZ'"):
        Money.parse("1", "XYZ")


def test_what_is_declared_from_now_on_takes_a_current_code_only() -> None:
    assert normalise_currency("eur") == "EUR"
    with pytest.raises(WithdrawnCurrency) as refused:
        normalise_currency("DEM")
    assert str(refused.value) == (
        "currency 'DEM' was withdrawn from ISO 4217 (last in use 2002-05-15): "
        "expected a current code such as EUR, USD, MXN"
    )


def customer() -> Customer:
    return Customer(customer_id="C-1", country="DE", timezone="Europe/Berlin")


def test_an_invoice_in_a_withdrawn_currency_is_refused_naming_its_amount() -> None:
    with pytest.raises(ValidationError) as refused:
        Invoice(
            invoice_id="INV-1",
            customer=customer(),
            amount=Money.parse("100.00", "DEM"),
            issued_on=date(2026, 1, 1),
            due_on=date(2026, 1, 31),
        )
    (error,) = refused.value.errors()
    assert error["loc"] == ("amount",)
    assert "currency 'DEM' was withdrawn from ISO 4217" in error["msg"]


def test_a_subscription_in_a_withdrawn_currency_is_refused_naming_its_amount() -> None:
    with pytest.raises(ValidationError) as refused:
        Subscription(
            subscription_id="SUB-1",
            customer=customer(),
            amount=Money.parse("9.90", "FRF"),
            start_date=date(2026, 1, 1),
            policy="standard",
            suspend_at_level=2,
        )
    (error,) = refused.value.errors()
    assert error["loc"] == ("amount",)
    assert "currency 'FRF' was withdrawn from ISO 4217" in error["msg"]
