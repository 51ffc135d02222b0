"""The `cobranza` command as a user runs it: policy checks and simulations with bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from cobranza.starter.cli import DEFAULT_POLICY, app

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "examples" / "ibm_accounts_receivable_late_payments.csv"
runner = CliRunner()


def test_policy_check_explains_the_schedule() -> None:
    result = runner.invoke(app, ["policy", "check", str(DEFAULT_POLICY)])
    assert result.exit_code == 0, result.output
    assert "3 days before the due date, at 10:00 customer's time: email reminder" in result.output
    assert (
        "60 days after the due date: dunning level 3, write the remaining balance off"
        in result.output
    )


def test_policy_check_names_line_field_and_accepted_values(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = DEFAULT_POLICY.read_text().replace("{day: 3, channel: email", "{day: 3, channel: fax")
    bad.write_text(text)
    result = runner.invoke(app, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "channel: fax" in t)
    assert f"{bad}:{line}: reminders.2.channel: Input should be 'email', 'sms' or 'whatsapp'" in (
        result.stderr if result.stderr_bytes is not None else result.output
    )


def test_policy_check_refuses_a_template_that_does_not_exist(tmp_path: Path) -> None:
    bad = tmp_path / "missing.yaml"
    bad.write_text(DEFAULT_POLICY.read_text().replace("template: overdue_firm", "template: nope"))
    result = runner.invoke(app, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    assert "reminders.3.template: template 'nope' does not exist for email" in result.output


def test_policy_check_refuses_a_closing_level_that_is_not_last(tmp_path: Path) -> None:
    bad = tmp_path / "order.yaml"
    bad.write_text(
        DEFAULT_POLICY.read_text().replace(
            "{level: 1, day: 15, action: collector_task", "{level: 1, day: 15, action: write_off"
        )
    )
    result = runner.invoke(app, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    assert "write_off closes the invoice, so it must be the last level" in result.output


def _small_dataset(tmp_path: Path, rows: list[str]) -> Path:
    lines = DATASET.read_text().splitlines()
    target = tmp_path / "ar.csv"
    target.write_text("\n".join([lines[0], *rows]) + "\n")
    shutil.copy(ROOT / "examples" / "ibm_countries.yaml", tmp_path / "ibm_countries.yaml")
    return target


def test_simulate_reports_bad_rows_runs_good_ones_and_never_starts_twice(tmp_path: Path) -> None:
    lines = DATASET.read_text().splitlines()
    good = lines[1:4]
    bad_amount = lines[4].replace(",61.74,", ",-61.74,") if ",61.74," in lines[4] else None
    rows = [
        *good,
        "999,XXXX-YYYY,1/1/2013,0000000001,1/2/2013,2/1/2013,10.00,No,1/15/2013,Paper,13,0",
    ]
    if bad_amount:
        rows.append(bad_amount)
    csv_path = _small_dataset(tmp_path, rows)
    args = [
        "simulate",
        str(csv_path),
        "--temporal-db",
        str(tmp_path / "temporal.db"),
        "--database-url",
        f"sqlite:///{tmp_path / 'store.db'}",
        "--report-json",
        str(tmp_path / "report.json"),
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 3, first.output
    assert f"{csv_path}:5: countryCode" in first.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["invoices_total"] == 3
    assert "…" not in first.output  # off a terminal the tables are wide enough for every cell
    collected_before = report["amount_collected"]

    second = runner.invoke(app, args)
    assert second.exit_code == 3, second.output
    assert "3 already collected by an earlier run" in second.output
    again = json.loads((tmp_path / "report.json").read_text())
    assert again["amount_collected"] == collected_before
    assert again["reminders_by_step_and_channel"] == report["reminders_by_step_and_channel"]
