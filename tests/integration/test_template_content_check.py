"""Templates are checked against the law at load time, naming file, field and reason.

The US asks every email and text to carry an opt-out line (Reg F 12 CFR 1006.6(e)); Brazil
asks every collection message to name the creditor and its CNPJ (CDC art. 42-A). A copy of
the shipped templates with one of those lines removed must be refused, and must stop a worker.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cobranza.domain.creditor import DEMO_CREDITOR, Creditor
from cobranza.domain.effects import LineItem
from cobranza.domain.invoice import Channel, Customer
from cobranza.domain.money import Money
from cobranza.integrations.errors import MessageTemplateError
from cobranza.integrations.messages import TEMPLATES_DIR, MessageCatalog, render_message
from cobranza.integrations.template_check import (
    TemplateContentError,
    check_templates,
    templates_dir_problems,
)
from cobranza.starter.cli import app

US_OPT_OUT = "Reg F 12 CFR 1006.6(e)"
BR_CREDITOR = "CDC (Lei 8.078/1990), art. 42-A"


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, root)
    return root


def cut(path: Path, text: str) -> None:
    source = path.read_text(encoding="utf-8")
    assert text in source, f"{text!r} not in {path}"
    path.write_text(source.replace(text, ""), encoding="utf-8")


def test_the_shipped_templates_pass() -> None:
    assert templates_dir_problems(TEMPLATES_DIR) == []
    check_templates()


def test_an_email_layout_without_the_opt_out_line_is_refused(templates: Path) -> None:
    cut(
        templates / "es" / "_layout.txt.j2",
        "\n\nPara no recibir más correos sobre esta deuda, responda a este mensaje con la "
        "palabra STOP.",
    )

    problems = templates_dir_problems(templates)

    es_txt = [p for p in problems if "/es/" in p and p.split(":")[0].endswith(".txt.j2")]
    assert es_txt, problems
    assert all(": opt_out: US@v1 rule us-opt-out" in p for p in es_txt)
    assert all(US_OPT_OUT in p and "an opt-out line" in p for p in es_txt)
    overdue = str(templates / "es" / "overdue.txt.j2")
    assert any(p.startswith(f"{overdue}: opt_out:") for p in es_txt)
    # Only the part that lost the line is named: the HTML part and other languages still pass.
    assert not [p for p in problems if ".html.j2" in p or "/en/" in p or "/pt/" in p]


def test_a_text_layout_without_the_cnpj_is_refused(templates: Path) -> None:
    cut(
        templates / "pt" / "_layout.sms.j2",
        "{% if creditor_tax_id %} ({{ creditor_tax_id }}){% endif %}",
    )

    problems = templates_dir_problems(templates)

    assert problems
    for problem in problems:
        file, field, _ = problem.split(": ", 2)
        assert file.startswith(str(templates / "pt")) and file.endswith(".sms.j2")
        assert field == "creditor_tax_id"
        assert BR_CREDITOR in problem and "the creditor's tax id" in problem
    # Both the national profile and São Paulo's (which adds to it) ask for it.
    assert any("BR@v1 rule" in p for p in problems)
    assert any("BR-SP@v1 rule" in p for p in problems)
    channels = {p.rsplit(" on ", 1)[1] for p in problems}
    assert channels == {"sms", "whatsapp"}


def test_a_creditor_without_a_cnpj_is_refused_before_any_message() -> None:
    problems = templates_dir_problems(TEMPLATES_DIR, Creditor(name="ACME"))
    assert problems == [
        f"creditor: tax_ids.BR: {where}@v1 rule br-creditor-identification ({BR_CREDITOR}: "
        "every collection names the creditor and its CNPJ) requires the creditor's tax "
        "identification in every message; none is configured for BR"
        for where in ("BR", "BR-SP")
    ]
    with pytest.raises(TemplateContentError, match=r"tax_ids\.BR"):
        check_templates(creditor=Creditor(name="ACME"))


def test_cli_names_the_problems_and_fails(templates: Path) -> None:
    cut(
        templates / "en" / "_layout.html.j2",
        "{% if creditor_tax_id %}<br>{{ creditor_tax_id }}{% endif %}",
    )
    result = CliRunner().invoke(app, ["compliance", "templates", str(templates)])
    assert result.exit_code == 1
    assert f"{templates / 'en' / 'overdue.html.j2'}: creditor_tax_id:" in result.output
    ok = CliRunner().invoke(app, ["compliance", "templates"])
    assert ok.exit_code == 0, ok.output


def brazilian(subdivision: str | None = "SP") -> Customer:
    return Customer(
        customer_id="C-BR",
        country="BR",
        subdivision=subdivision,
        timezone="America/Sao_Paulo",
        locale="pt_BR",
        email="c-br@customers.example.com",
    )


ITEM = LineItem(
    invoice_id="INV-BR-1",
    amount=Money.parse("150.00", "BRL"),
    outstanding=Money.parse("150.00", "BRL"),
    paid=Money.zero("BRL"),
    due_on=date(2026, 3, 2),
    days_overdue=4,
)


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.SMS, Channel.WHATSAPP])
def test_every_brazilian_message_names_the_creditor_and_its_cnpj(channel: Channel) -> None:
    sent = render_message("overdue", "pt_BR", brazilian(), [ITEM], DEMO_CREDITOR, channel)
    for part in (sent.text, sent.html) if channel is Channel.EMAIL else (sent.text,):
        assert "cobranza demo creditor" in part
        assert "CNPJ 11.222.333/0001-81" in part


def test_a_message_is_refused_when_the_creditor_has_no_tax_id_for_the_country() -> None:
    catalog = MessageCatalog()
    with pytest.raises(MessageTemplateError, match=r"no tax id for BR.*tax_ids\.BR"):
        catalog.render("overdue", "pt_BR", brazilian(None), [ITEM], Creditor(name="ACME"))


def test_us_email_carries_the_opt_out_line_and_colombian_email_does_not() -> None:
    us = brazilian().model_copy(
        update={"country": "US", "subdivision": None, "timezone": "America/New_York"}
    )
    line = "reply to this message with the word STOP"
    assert line in render_message("overdue", "en_US", us, [ITEM]).text
    assert line in render_message("overdue", "en_US", us, [ITEM]).html
    co = us.model_copy(update={"country": "CO", "timezone": "America/Bogota"})
    assert line not in render_message("overdue", "en_US", co, [ITEM]).text


def test_a_folder_without_templates_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["compliance", "templates", str(tmp_path)])
    assert result.exit_code == 1
    assert "no templates" in result.output


def test_a_folder_one_level_too_deep_or_missing_a_template_is_refused(templates: Path) -> None:
    """A language folder given as the root, or a template removed: named, not passed."""
    deep = templates_dir_problems(templates / "en")
    assert deep and all("missing" in p or "no templates" in p for p in deep)
    for part in (templates / "es").glob("overdue.*.j2"):
        part.unlink()
    problems = templates_dir_problems(templates)
    # Each missing file is named, in the language it is missing from.
    gone = str(templates / "es" / "overdue.txt.j2")
    assert any(p.startswith(f"{gone}: missing: template 'overdue'") for p in problems)
    assert not any(str(templates / "en" / "overdue") in p for p in problems)
