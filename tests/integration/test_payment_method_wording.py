"""The two messages asking for a payment method each say their own reason, and only it.

Autopay sends payment_method_needed when no method is on file (L-06) and
payment_method_declined when the one on file was declined for good (C-06: a hard decline, or
one only the customer can fix); both carry the payment link.
"""

from __future__ import annotations

from datetime import date

import pytest

from cobranza.domain.effects import LineItem
from cobranza.domain.invoice import Channel, Customer
from cobranza.domain.money import Money
from cobranza.integrations.messages import render_message

# locale -> (words for "none on file", words for "the one on file was declined")
REASONS = {
    "en_US": ("no payment method on file", "was declined"),
    "es_MX": ("no tenemos un medio de pago registrado", "fue rechazado"),
    "pt_BR": ("não há forma de pagamento cadastrada", "foi recusada"),
}
LINK = "https://pay.example.com/INV-PMN"
ZONE = "America/Mexico_City"


def rendered(template: str, locale: str, channel: Channel) -> str:
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
    return render_message(template, locale, customer, [item], channel=channel).text


@pytest.mark.parametrize("locale", sorted(REASONS))
def test_each_email_says_its_own_reason_and_carries_the_link(locale: str) -> None:
    none_on_file, declined = REASONS[locale]
    needed = rendered("payment_method_needed", locale, Channel.EMAIL)
    refused = rendered("payment_method_declined", locale, Channel.EMAIL)

    assert none_on_file in needed and declined not in needed
    assert declined in refused and none_on_file not in refused
    assert LINK in needed and LINK in refused


@pytest.mark.parametrize("channel", [Channel.SMS, Channel.WHATSAPP])
@pytest.mark.parametrize("locale", sorted(REASONS))
def test_the_declined_text_message_does_not_claim_there_is_no_method(
    locale: str, channel: Channel
) -> None:
    text = rendered("payment_method_declined", locale, channel)

    assert REASONS[locale][0] not in text.lower()
    assert LINK in text
