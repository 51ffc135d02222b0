"""The message asking for a payment method fits both reasons autopay sends it.

The workflow sends payment_method_needed with no reason in its context (workflows/autopay.py:
the same template, whether no method was ever on file (L-06) or a hard decline means the one
on file must never be charged again (C-06)), so its words must be true in both cases.
"""

from __future__ import annotations

from datetime import date

import pytest

from cobranza.domain.effects import LineItem
from cobranza.domain.invoice import Channel, Customer
from cobranza.domain.money import Money
from cobranza.integrations.messages import render_message

# locale -> (words for "none on file", words for "the one on file can no longer be used")
BOTH_CASES = {
    "en_US": ("no payment method on file", "can no longer be charged"),
    "es_MX": ("no tenemos un medio de pago registrado", "ya no puede usarse"),
    "pt_BR": ("não há forma de pagamento cadastrada", "não pode mais ser usada"),
}
LINK = "https://pay.example.com/INV-PMN"
ZONE = "America/Mexico_City"


def rendered(locale: str, channel: Channel) -> str:
    customer = Customer(
        customer_id="C-PMN", name="Ana Gómez", country="MX", timezone=ZONE, locale=locale
    )
    amount = Money(minor=75_000, currency="MXN")
    item = LineItem(
        invoice_id="INV-PMN",
        amount=amount,
        paid=Money(minor=0, currency="MXN"),
        outstanding=amount,
        due_on=date(2026, 4, 10),
        days_overdue=3,
        payment_link=LINK,
    )
    message = render_message("payment_method_needed", locale, customer, [item], channel=channel)
    return message.text


@pytest.mark.parametrize("locale", sorted(BOTH_CASES))
def test_the_email_names_both_reasons_and_carries_the_link(locale: str) -> None:
    text = rendered(locale, Channel.EMAIL)

    none_on_file, unusable = BOTH_CASES[locale]
    assert none_on_file in text and unusable in text
    assert LINK in text


@pytest.mark.parametrize("locale", sorted(BOTH_CASES))
def test_the_sms_does_not_claim_there_is_no_method(locale: str) -> None:
    text = rendered(locale, Channel.SMS)

    assert BOTH_CASES[locale][0] not in text.lower()
    assert LINK in text
