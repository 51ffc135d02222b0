"""`cobranza policy segments` and `choose` as a user runs them, and the policy catalog behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cobranza.domain.policy_file import PolicyFileError
from cobranza.starter.cli import app
from cobranza.starter.policy_catalog import POLICIES_DIR, SEGMENTS_FILE, policy_catalog

runner = CliRunner()


def invoice_json(
    segment: str = "standard", amount_minor: int = 100_000, currency: str = "MXN"
) -> str:
    return json.dumps(
        {
            "invoice_id": "A-1",
            "customer": {
                "customer_id": "C-1",
                "country": "MX",
                "timezone": "America/Mexico_City",
                "segment": segment,
            },
            "amount": {"minor": amount_minor, "currency": currency},
            "issued_on": "2026-03-01",
            "due_on": "2026-03-31",
        }
    )


def policies_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, folder)
    return folder


def test_the_shipped_folder_holds_three_policies_and_skips_the_rules() -> None:
    catalog = policy_catalog(POLICIES_DIR)
    assert sorted(catalog) == ["firm", "gentle", "standard"]
    assert all(p.id == key for key, p in catalog.items())


@pytest.mark.parametrize("name", ["standard", "gentle", "firm"])
def test_each_shipped_policy_passes_policy_check(name: str) -> None:
    result = runner.invoke(app, ["policy", "check", str(POLICIES_DIR / f"{name}.yaml")])
    assert result.exit_code == 0, result.output


def test_segments_prints_the_rules_in_plain_words() -> None:
    result = runner.invoke(app, ["policy", "segments", str(SEGMENTS_FILE)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].startswith(
        "1. vip: if segment vip, policy gentle@v1 (Gentle, for key accounts)."
    )
    assert "4. backlog: if days overdue >= 30, policy firm@v1" in result.stdout
    assert lines[-1] == "Otherwise: policy standard@v1 (Standard net-30)."


def test_segments_names_file_line_and_field_of_an_unknown_policy(tmp_path: Path) -> None:
    folder = policies_copy(tmp_path)
    rules = folder / "segments.yaml"
    text = rules.read_text(encoding="utf-8").replace("policy: gentle", "policy: lenient")
    rules.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["policy", "segments", str(rules)])
    assert result.exit_code == 1
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "policy: lenient" in t)
    assert (
        f"{rules}:{line}: rules.0.policy: unknown policy 'lenient': "
        "expected one of firm, gentle, standard"
    ) in result.stderr


def test_segments_rejects_a_rule_nobody_can_reach(tmp_path: Path) -> None:
    rules = tmp_path / "segments.yaml"
    rules.write_text(
        "version: 1\nrules:\n"
        "  - id: all-mx\n    when: {country: MX}\n    policy: firm\n"
        "  - id: vip-mx\n    when: {country: MX, segment: vip}\n    policy: gentle\n"
        "default: standard\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["policy", "segments", str(rules), "--policies", str(POLICIES_DIR)])
    assert result.exit_code == 1
    assert f"{rules}:6: rules.1: rule 'vip-mx' can never match: rule 'all-mx'" in result.stderr


def test_segments_reports_broken_and_duplicate_policies_in_the_folder(tmp_path: Path) -> None:
    folder = policies_copy(tmp_path)
    (folder / "copy.yaml").write_text("id: gentle\nversion: 2\n", encoding="utf-8")
    (folder / "broken.yaml").write_text(
        "id: broken\nversion: 1\nreminders:\n  - {day: 3, channel: fax, template: overdue}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["policy", "segments", str(folder / "segments.yaml")])
    assert result.exit_code == 1
    assert f"{folder / 'broken.yaml'}:4: reminders.0.channel: Input should be" in result.stderr
    assert "id: policy 'gentle' is also declared in" in result.stderr
    with pytest.raises(PolicyFileError) as caught:
        policy_catalog(folder)
    assert len(caught.value.problems) == 2


def test_segments_of_a_missing_file() -> None:
    result = runner.invoke(
        app, ["policy", "segments", "nope/segments.yaml", "--policies", str(POLICIES_DIR)]
    )
    assert result.exit_code == 2
    assert "nope/segments.yaml: no such file" in result.stderr


@pytest.mark.parametrize(
    ("invoice", "policy_id", "rule_id", "reason"),
    [
        (invoice_json(segment="vip"), "gentle", "vip", "rule 'vip': segment vip"),
        (
            invoice_json(amount_minor=25_000_000),
            "firm",
            "big-amount",
            "rule 'big-amount': amount >= 200,000.00 MXN",
        ),
        (
            invoice_json(amount_minor=2_000_000, currency="JPY"),
            "firm",
            "big-amount",
            "rule 'big-amount': amount >= 1,500,000 JPY",
        ),
        (
            invoice_json(),
            "standard",
            None,
            "no rule matched (segment standard, country MX, amount 1,000.00 MXN, "
            "3 days overdue, no risk score): default policy 'standard'",
        ),
    ],
)
def test_choose_prints_the_policy_and_why(
    invoice: str, policy_id: str, rule_id: str | None, reason: str
) -> None:
    result = runner.invoke(
        app,
        ["policy", "choose", "--invoice-json", invoice, "--at", "2026-04-03T12:00:00-06:00"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "policy_id": policy_id,
        "rule_id": rule_id,
        "reason": reason,
    }


def test_choose_refuses_a_bad_invoice_and_a_naive_instant() -> None:
    bad = runner.invoke(app, ["policy", "choose", "--invoice-json", '{"invoice_id": "A"}'])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("--invoice-json: customer: Field required")
    naive = runner.invoke(
        app, ["policy", "choose", "--invoice-json", invoice_json(), "--at", "2026-04-03T12:00"]
    )
    assert naive.exit_code == 2
    assert "must carry a UTC offset" in naive.stderr
