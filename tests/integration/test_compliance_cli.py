"""`cobranza compliance check` and `show` as a user runs them, for cases C-01 to C-05."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cobranza.starter.cli import app

runner = CliRunner()


def check(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["compliance", "check", *args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize(
    ("case", "args", "allowed_at"),
    [
        (
            "C-01",
            "--country CO --channel sms --at 2025-03-23T10:00:00-05:00",
            "2025-03-25T07:00:00-05:00",
        ),
        (
            "C-02",
            "--country PE --channel call --at 2025-07-26T10:00:00-05:00",
            "2025-07-30T07:00:00-05:00",
        ),
        (
            "C-02 20:00",
            "--country PE --channel sms --at 2025-07-24T20:00:00-05:00",
            "2025-07-25T07:00:00-05:00",
        ),
        (
            "C-03",
            "--country US --tz America/Los_Angeles --channel email --at 2025-11-04T09:00:00-05:00",
            "2025-11-04T08:00:00-08:00",
        ),
        (
            "C-04 Tijuana",
            "--country MX --tz America/Tijuana --channel sms --at 2026-01-15T23:00:00-06:00",
            "2026-01-15T21:00:00-08:00",
        ),
        (
            "C-04 Cancun",
            "--country MX --tz America/Cancun --channel sms --at 2026-01-15T23:00:00-06:00",
            "2026-01-16T07:00:00-05:00",
        ),
        (
            "C-05 spring",
            "--country US --channel sms --at 2026-03-08T11:30:00Z",
            "2026-03-08T08:00:00-04:00",
        ),
        (
            "C-05 autumn",
            "--country US --channel sms --at 2026-11-01T07:30:00-05:00",
            "2026-11-01T08:00:00-05:00",
        ),
    ],
)
def test_check_gives_the_expected_instant(case: str, args: str, allowed_at: str) -> None:
    assert check(*args.split())["allowed_at"] == allowed_at, case


def test_C01_check_lists_each_rule_that_moved_it() -> None:
    data = check("--country", "CO", "--channel", "sms", "--at", "2025-03-23T10:00:00-05:00")
    assert data["deferred"] is True
    assert data["timezone"] == "America/Bogota"
    assert data["rules"] == [
        {
            "id": "co-contact-hours",
            "source": "Ley 2300 de 2023, art. 3 (horarios)",
            "from": "2025-03-23T10:00:00-05:00",
            "to": "2025-03-24T07:00:00-05:00",
            "why": "Sunday is not a contact day",
        },
        {
            "id": "co-holidays",
            "source": (
                "Ley 2300 de 2023, art. 3: no contact on Sundays or public holidays (festivos)"
            ),
            "from": "2025-03-24T07:00:00-05:00",
            "to": "2025-03-25T07:00:00-05:00",
            "why": "2025-03-24 is a public holiday (Saint Joseph's Day (observed))",
        },
    ]


def test_C01_check_in_plain_words() -> None:
    args = "compliance check --country CO --channel sms --at 2025-03-23T10:00:00-05:00"
    result = runner.invoke(app, args.split())
    assert result.exit_code == 0, result.output
    assert "allowed at: Tuesday 2025-03-25 07:00 (2025-03-25T07:00:00-05:00)  (deferred)" in (
        result.stdout
    )
    assert "co-holidays: Mon 2025-03-24 07:00 -> Tue 2025-03-25 07:00" in result.stdout


def test_C05_check_daylight_saving_in_utc() -> None:
    spring = check("--country", "US", "--channel", "call", "--at", "2026-03-08T07:30:00-04:00")
    assert spring["allowed_at"] == "2026-03-08T08:00:00-04:00"  # 12:00 UTC
    autumn = check("--country", "US", "--channel", "call", "--at", "2026-11-01T12:30:00+00:00")
    assert autumn["allowed_at"] == "2026-11-01T08:00:00-05:00"  # 13:00 UTC


def test_check_reads_a_history_file(tmp_path: Path) -> None:
    history = tmp_path / "history.yaml"
    history.write_text(
        "- {at: '2025-06-02T10:00:00-04:00', channel: call, direct: true}\n", encoding="utf-8"
    )
    data = check(
        "--country", "US", "--channel", "call", "--at", "2025-06-03T10:00:00-04:00",
        "--history", str(history),
    )  # fmt: skip
    assert data["allowed_at"] == "2025-06-09T10:00:00-04:00"
    rules = data["rules"]
    assert isinstance(rules, list) and rules[0]["id"] == "us-no-call-after-conversation"
    json_history = tmp_path / "history.json"
    json_history.write_text('[{"at": "2025-06-02T10:00:00-04:00", "channel": "call"}]')
    plain = check(
        "--country", "US", "--channel", "call", "--at", "2025-06-03T10:00:00-04:00",
        "--history", str(json_history),
    )  # fmt: skip
    assert plain["deferred"] is False


def test_check_brazil_subdivision_and_required_content() -> None:
    data = check(
        "--country", "BR", "--subdivision", "SP", "--channel", "whatsapp",
        "--at", "2025-07-09T10:00:00-03:00",
    )  # fmt: skip
    assert data["profile"] == "BR-SP@v1"
    assert data["allowed_at"] == "2025-07-10T08:00:00-03:00"
    assert data["required_content"] == ["creditor_name", "creditor_tax_id"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            "--country AR --channel sms --at 2025-03-23T10:00:00-03:00",
            "no compliance profile for country 'AR': expected one of BR, CL, CO, MX, PE, US",
        ),
        (
            "--country CO --channel sms --at 2025-03-23T10:00:00",
            "--at '2025-03-23T10:00:00' has no UTC offset",
        ),
        (
            "--country CO --channel sms --at next-sunday",
            "is not an ISO 8601 instant",
        ),
        (
            "--country CO --tz Bogota --channel sms --at 2025-03-23T10:00:00-05:00",
            "unknown time zone 'Bogota'",
        ),
        (
            "--country BR --subdivision XX --channel sms --at 2025-03-23T10:00:00-03:00",
            "unknown subdivision 'XX' of BR",
        ),
    ],
)
def test_bad_input_exits_non_zero_with_a_clear_message(args: str, message: str) -> None:
    result = runner.invoke(app, ["compliance", "check", *args.split()])
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_bad_history_file_names_line_and_field(tmp_path: Path) -> None:
    history = tmp_path / "history.yaml"
    history.write_text("- {at: '2025-06-02T10:00:00-04:00', channel: fax}\n", encoding="utf-8")
    args = "compliance check --country US --channel call --at 2025-06-03T10:00:00-04:00"
    result = runner.invoke(app, [*args.split(), "--history", str(history)])
    assert result.exit_code == 2
    assert f"{history}:1: 0.channel: Input should be 'email', 'sms', 'whatsapp' or 'call'" in (
        result.stderr
    )


def test_show_explains_a_profile_with_its_sources() -> None:
    result = runner.invoke(app, ["compliance", "show", "CL"])
    assert result.exit_code == 0, result.output
    assert "- cl-messages-two-days-apart: at least 48 h after the previous contact" in result.stdout
    assert "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday 08:00-20:00" in result.stdout
    assert "source: Ley 19.496, art. 37" in result.stdout


def test_show_refuses_a_contradictory_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "country: PE\nversion: 1\ntimezone: America/Lima\nchannels: [sms]\nhours:\n"
        "  - id: h\n    source: Ley 29571, art. 62\n"
        '    windows: [{days: [mon], start: "20:00", end: "07:00"}]\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["compliance", "show", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:8: hours.0.windows.0: the window ends (07:00) before it starts (20:00)" in (
        result.stderr
    )
