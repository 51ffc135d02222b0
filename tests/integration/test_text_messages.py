"""SMS and WhatsApp text per locale: short, one balance per invoice, the US opt-out line."""

from __future__ import annotations

from datetime import date

import pytest

from cobranza.domain.creditor import DEMO_CREDITOR
from cobranza.domain.effects import LineItem
from cobranza.domain.invoice import Channel, Customer
from cobranza.domain.local_methods import customer_clabe
from cobranza.domain.money import Money
from cobranza.integrations.messages import has_template, render_message, template_names

TEXT_CHANNELS = [Channel.SMS, Channel.WHATSAPP]


def customer(country: str = "MX", locale: str = "es_MX") -> Customer:
    return Customer(
        customer_id="C-1", country=country, timezone="America/Mexico_City", locale=locale
    )


def item(invoice_id: str = "INV-1", link: str | None = None) -> LineItem:
    amount = Money.parse("600.00", "MXN")
    return LineItem(
        invoice_id=invoice_id,
        amount=amount,
        outstanding=amount,
        paid=Money.zero("MXN"),
        due_on=date(2026, 3, 10),
        days_overdue=3,
        payment_link=link,
    )


@pytest.mark.parametrize("channel", TEXT_CHANNELS)
@pytest.mark.parametrize("locale", ["es_CO", "en_US", "pt_BR"])
def test_every_template_has_a_short_text_in_every_language(channel: Channel, locale: str) -> None:
    for name in template_names():
        assert has_template(name, channel), name
        message = render_message(name, locale, customer(locale=locale), [item()], channel=channel)
        assert message.subject == "" and message.html == ""
        assert "\n" not in message.text and "INV-1" in message.text
        assert message.text.startswith("cobranza demo creditor: ")
        assert len(message.text) <= 160, message.text


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "en_US",
            "cobranza demo creditor: Overdue: INV-1 MX$600.00; INV-2 MX$600.00. "
            "Total MX$1,200.00. Pay INV-2: https://p/2",
        ),
        (
            "es_MX",
            "cobranza demo creditor: Vencido: INV-1 $600.00; INV-2 $600.00. "
            "Total $1,200.00. Pague INV-2: https://p/2",
        ),
        (
            "pt_BR",
            "cobranza demo creditor: Em atraso: INV-1 MX$ 600,00; INV-2 MX$ 600,00. "
            "Total MX$ 1.200,00. Pague INV-2: https://p/2",
        ),
    ],
)
def test_a_consolidated_text_lists_each_invoice_and_the_links(locale: str, expected: str) -> None:
    items = [item("INV-1"), item("INV-2", link="https://p/2")]
    message = render_message("overdue", locale, customer(locale=locale), items, channel=Channel.SMS)
    # The customer's own CLABE pays any of its invoices: it is given once, not per invoice.
    assert DEMO_CREDITOR.accounts is not None
    clabe = customer_clabe(DEMO_CREDITOR.accounts, "default", "C-1")
    assert message.text == f"{expected} CLABE (SPEI): {clabe}"


@pytest.mark.parametrize(
    ("country", "locale", "line"),
    [
        ("US", "en_US", "Reply STOP to opt out."),
        ("US", "es_US", "Responda STOP para no recibir más mensajes."),
    ],
)
def test_us_sms_carry_the_opt_out_line(country: str, locale: str, line: str) -> None:
    who = customer(country, locale)
    sms = render_message("overdue", locale, who, [item()], channel=Channel.SMS)
    whatsapp = render_message("overdue", locale, who, [item()], channel=Channel.WHATSAPP)
    assert sms.text.endswith(" " + line)
    assert "STOP" not in whatsapp.text


def test_no_opt_out_line_where_the_law_does_not_ask_for_it() -> None:
    assert (
        "STOP"
        not in render_message("overdue", "es_MX", customer(), [item()], channel=Channel.SMS).text
    )


def test_email_rendering_is_unchanged_by_default() -> None:
    email = render_message("overdue", "es_MX", customer(), [item()])
    assert email.subject and email.html and email.text.endswith("\n")
    assert email == render_message("overdue", "es_MX", customer(), [item()], channel=Channel.EMAIL)


def test_the_digest_tells_a_text_from_an_email() -> None:
    sms = render_message("overdue", "es_MX", customer(), [item()], channel=Channel.SMS)
    email = render_message("overdue", "es_MX", customer(), [item()])
    assert sms.content_sha256 != email.content_sha256
