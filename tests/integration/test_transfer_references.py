"""Reminders in Mexico, Brazil and Colombia say how to pay by bank transfer, for what is owed."""

from __future__ import annotations

import re
from datetime import date

import pytest

from cobranza.domain.creditor import DEMO_CREDITOR
from cobranza.domain.effects import LineItem
from cobranza.domain.invoice import Channel, Customer
from cobranza.domain.local_methods import (
    check_pix,
    is_valid_clabe,
    is_valid_pix,
    is_valid_pse_reference,
)
from cobranza.domain.money import Money
from cobranza.integrations.messages import render_message

CUSTOMERS = {
    "MX": ("America/Mexico_City", "es_MX", "MXN"),
    "BR": ("America/Sao_Paulo", "pt_BR", "BRL"),
    "CO": ("America/Bogota", "es_CO", "COP"),
    "US": ("America/New_York", "en_US", "USD"),
}


def customer(country: str) -> Customer:
    zone, locale, _ = CUSTOMERS[country]
    return Customer(
        customer_id=f"C-{country}",
        country=country,
        timezone=zone,
        locale=locale,
        email=f"c-{country.lower()}@customers.example.com",
    )


def partly_paid(country: str) -> LineItem:
    currency = CUSTOMERS[country][2]
    return LineItem(
        invoice_id=f"INV-{country}-7",
        amount=Money.parse("1000.00", currency),
        outstanding=Money.parse("400.00", currency),
        paid=Money.parse("600.00", currency),
        due_on=date(2026, 2, 10),
        days_overdue=5,
    )


def email_text(country: str) -> str:
    who = customer(country)
    return render_message("overdue", who.locale, who, [partly_paid(country)]).text


def test_mexico_gives_the_customers_clabe() -> None:
    (clabe,) = re.findall(r"CLABE \(SPEI\): ((?:\d+ ?){4}) \(concepto INV-MX-7\)", email_text("MX"))
    assert is_valid_clabe(clabe.replace(" ", ""))


def test_brazil_gives_a_pix_code_for_what_is_still_owed() -> None:
    (code,) = re.findall(r"PIX copia e cola: (.+) \(referência INV-BR-7\)", email_text("BR"))
    assert is_valid_pix(code)
    assert check_pix(code)["54"] == "400.00"  # the outstanding amount, not the invoice's


def test_colombia_gives_a_pse_reference() -> None:
    (ref,) = re.findall(r"Referencia PSE \(convenio 12345\): ([\d ]+) \(concepto", email_text("CO"))
    assert is_valid_pse_reference(ref.replace(" ", ""))


def test_no_transfer_reference_where_there_is_no_local_method() -> None:
    text = email_text("US")
    assert "transfer" not in text.lower()


@pytest.mark.parametrize("channel", [Channel.SMS, Channel.WHATSAPP])
def test_texts_carry_the_reference_to_copy(channel: Channel) -> None:
    who = customer("BR")
    text = render_message("overdue", who.locale, who, [partly_paid("BR")], DEMO_CREDITOR, channel)
    (code,) = re.findall(r"PIX copia e cola INV-BR-7: (.+)$", text.text)
    assert is_valid_pix(code)


def test_a_paid_item_gets_no_reference() -> None:
    who = customer("MX")
    item = partly_paid("MX").model_copy(update={"outstanding": Money.zero("MXN")})
    assert "CLABE" not in render_message("overdue", who.locale, who, [item]).text
