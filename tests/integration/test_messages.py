"""Customer-facing message rendering: money and dates per locale, several invoices, strictness."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cobranza.domain.effects import LineItem
from cobranza.domain.invoice import Channel, Customer
from cobranza.domain.money import Money
from cobranza.integrations.errors import MessageTemplateError
from cobranza.integrations.messages import (
    MessageCatalog,
    has_template,
    render_message,
    template_names,
)

POLICY_TEMPLATES = [
    "invoice_issued",
    "upcoming",
    "due_today",
    "overdue",
    "overdue_firm",
    "final_notice",
    "promise_reminder",
    "payment_method_needed",
    "payment_method_declined",
]


def customer(locale: str = "en_US", name: str = "Ana Gómez") -> Customer:
    return Customer(
        customer_id="C-1", name=name, country="CO", timezone="America/Bogota", locale=locale
    )


def item(
    invoice_id: str = "INV-1",
    amount: Money | None = None,
    paid_minor: int = 0,
    due_on: date = date(2026, 3, 10),
    days_overdue: int = 0,
    payment_link: str | None = None,
) -> LineItem:
    amount = amount or Money(minor=100_000, currency="MXN")
    paid = Money(minor=paid_minor, currency=amount.currency)
    return LineItem(
        invoice_id=invoice_id,
        amount=amount,
        paid=paid,
        outstanding=amount - paid,
        due_on=due_on,
        days_overdue=days_overdue,
        payment_link=payment_link,
    )


@pytest.mark.parametrize("name", POLICY_TEMPLATES)
@pytest.mark.parametrize("locale", ["es_CO", "en_GB", "pt_BR"])
def test_every_policy_template_renders_in_every_language(name: str, locale: str) -> None:
    message = render_message(name, locale, customer(locale), [item(days_overdue=2)])

    assert message.language == locale[:2]
    assert message.subject and "\n" not in message.subject
    assert "INV-1" in message.text and "INV-1" in message.html
    assert "cobranza demo creditor" in message.text


def test_l02_zero_and_three_decimal_currencies_keep_their_exponent() -> None:
    items = [
        item("INV-JPY", Money(minor=1935, currency="JPY")),
        item("INV-KWD", Money(minor=1_935_500, currency="KWD")),
    ]

    message = render_message("overdue", "en_US", customer(), items)

    assert "¥1,935 outstanding" in message.text
    assert "1,935.500 outstanding" in message.text
    for wrong in ("193,548", "19.35", "1,935.5 ", "1,935,500"):
        assert wrong not in message.text
    assert "¥1,935" in message.html and "1,935.500" in message.html


def test_l03_partial_payment_states_what_is_left_and_what_was_received() -> None:
    partial = item(amount=Money.parse("1000.00", "MXN"), paid_minor=40_000, days_overdue=3)

    english = render_message("overdue", "en_US", customer(), [partial])
    spanish = render_message("overdue", "es_MX", customer("es_MX"), [partial])

    assert "600.00 outstanding, MX$400.00 received of MX$1,000.00" in english.text
    assert "Total outstanding: MX$600.00" in english.text
    assert "$600.00 pendiente, $400.00 recibido de $1,000.00" in spanish.text
    assert "400.00" in english.html and "600.00" in english.html


@pytest.mark.parametrize(
    ("locale", "printed"),
    [
        ("es_CO", "10 de marzo de 2026"),
        ("en_GB", "10 March 2026"),
        ("en_US", "March 10, 2026"),
        ("pt_BR", "10 de março de 2026"),
    ],
)
def test_l04_due_date_is_the_local_calendar_date(locale: str, printed: str) -> None:
    # Due 2026-03-10 in Bogota is already 2026-03-11 in UTC from 19:00; the message must
    # still print the 10th, the date the customer agreed to.
    message = render_message("due_today", locale, customer(locale), [item()])

    assert printed in message.text
    assert printed in message.html
    assert printed.replace("10", "11") not in message.text


def test_one_message_lists_three_invoices_with_their_own_balances() -> None:
    items = [
        item("INV-1", Money.parse("1000.00", "MXN"), paid_minor=40_000, days_overdue=12),
        item("INV-2", Money.parse("250.50", "MXN"), days_overdue=5),
        item("INV-3", Money.parse("75.00", "MXN"), days_overdue=1, payment_link="https://p/3"),
    ]

    message = render_message("overdue", "en_US", customer(), items)

    assert message.subject == "3 invoices are overdue"
    lines = [line for line in message.text.splitlines() if line.startswith("- Invoice")]
    assert lines == [
        "- Invoice INV-1 (due March 10, 2026, 12 days overdue): MX$600.00 outstanding, "
        "MX$400.00 received of MX$1,000.00.",
        "- Invoice INV-2 (due March 10, 2026, 5 days overdue): MX$250.50 outstanding.",
        "- Invoice INV-3 (due March 10, 2026, 1 day overdue): MX$75.00 outstanding.",
    ]
    assert "Pay online: https://p/3" in message.text
    assert "Total outstanding: MX$925.50" in message.text
    assert message.html.count("<td>INV-") == 3
    for outstanding in ("MX$600.00", "MX$250.50", "MX$75.00"):
        assert f"<strong>{outstanding}</strong>" in message.html


def test_totals_in_different_currencies_are_not_added_together() -> None:
    items = [item("INV-1"), item("INV-2", Money(minor=1935, currency="JPY"))]

    message = render_message("overdue", "en_US", customer(), items)

    assert "Total outstanding: MX$1,000.00 + ¥1,935" in message.text


def test_html_escapes_customer_data_and_text_keeps_it_verbatim() -> None:
    sneaky = customer(name="<script>alert(1)</script>")

    message = render_message("overdue", "en_US", sneaky, [item(payment_link="https://p/1?a=1&b=2")])

    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert 'href="https://p/1?a=1&amp;b=2"' in message.html
    assert "Dear <script>alert(1)</script>," in message.text


@pytest.mark.parametrize(
    ("locale", "language"),
    [("es_CO", "es"), ("es-MX", "es"), ("pt_PT", "pt"), ("fr_FR", "en"), ("xx", "en"), ("", "en")],
)
def test_language_is_the_locale_language_or_english(locale: str, language: str) -> None:
    assert render_message("upcoming", locale, customer(), [item()]).language == language


def test_digest_changes_with_the_content_and_only_then() -> None:
    one = render_message("overdue", "en_US", customer(), [item()])
    same = render_message("overdue", "en_US", customer(), [item()])
    other = render_message("overdue", "en_US", customer(), [item(paid_minor=1)])

    assert one.content_sha256 == same.content_sha256 != other.content_sha256


def test_policy_check_can_see_which_templates_exist() -> None:
    assert set(POLICY_TEMPLATES) <= set(template_names())
    assert has_template("final_notice", Channel.EMAIL)
    assert has_template("overdue", Channel.SMS)
    assert not has_template("not_a_template")
    assert not has_template("../en/overdue")


def test_unknown_template_is_a_clear_error() -> None:
    with pytest.raises(MessageTemplateError, match="known: due_today"):
        render_message("overdeu", "en_US", customer(), [item()])


def test_a_message_without_invoices_is_refused() -> None:
    with pytest.raises(MessageTemplateError, match="at least one invoice"):
        render_message("overdue", "en_US", customer(), [])


def test_strict_undefined_catches_a_missing_variable(tmp_path: Path) -> None:
    folder = tmp_path / "en"
    folder.mkdir()
    (folder / "broken.subject.j2").write_text("Invoice {{ items[0].invoice_id }}")
    (folder / "broken.txt.j2").write_text("Hello {{ customer_nickname }}")
    (folder / "broken.html.j2").write_text("<p>{{ total }}</p>")
    catalog = MessageCatalog(tmp_path)

    with pytest.raises(MessageTemplateError, match="customer_nickname"):
        catalog.render("broken", "en_US", customer(), [item()])


def test_templates_cannot_reach_python_internals(tmp_path: Path) -> None:
    folder = tmp_path / "en"
    folder.mkdir()
    for part in ("subject", "txt", "html"):
        (folder / f"evil.{part}.j2").write_text("{{ items.__class__.__mro__ }}")

    with pytest.raises(MessageTemplateError):
        MessageCatalog(tmp_path).render("evil", "en_US", customer(), [item()])
