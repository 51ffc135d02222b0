"""Compliance profile files: every shipped one loads, and contradictions name file, line, field."""

from __future__ import annotations

import pytest

from cobranza.domain.compliance_file import (
    PROFILES_DIR,
    ComplianceFileError,
    UnknownCountry,
    UnknownSubdivision,
    available_countries,
    load_profile,
    parse_history,
    parse_profile,
    profile_for,
)

VALID = """\
country: CO
version: 3
timezone: America/Bogota
channels: [email, sms]
hours:
  - id: hours
    source: "Ley 2300 de 2023, art. 3"
    windows:
      - {days: [mon, tue, wed, thu, fri], start: "07:00", end: "19:00"}
caps:
  - id: per-day
    kind: contacts
    max: 1
    per: day
    source: "Ley 2300 de 2023, art. 3"
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ComplianceFileError) as caught:
        parse_profile(text, "p.yaml")
    return caught.value.problems


def line_of(text: str, fragment: str) -> int:
    return next(i for i, t in enumerate(text.splitlines(), 1) if fragment in t)


def test_every_shipped_profile_loads_with_a_source_on_every_rule() -> None:
    assert available_countries() == ["BR", "CL", "CO", "MX", "PE", "US"]
    for country in [*available_countries(), "default"]:
        profile = load_profile(country)
        assert profile.version >= 1
        assert all(len(rule.source) > 10 for rule in profile.rules())
    assert (PROFILES_DIR / "default.yaml").is_file()


def test_a_valid_profile_parses() -> None:
    profile = parse_profile(VALID, "p.yaml")
    assert profile.ref == "CO@v3"


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    text = VALID.replace('end: "19:00"', 'end: "06:00"')
    assert problems_of(text) == [
        f"p.yaml:{line_of(text, 'end:')}: hours.0.windows.0: "
        "the window ends (06:00) before it starts (07:00)"
    ]


def test_a_cap_of_zero_is_refused() -> None:
    text = VALID.replace("max: 1", "max: 0")
    [problem] = problems_of(text)
    assert problem.startswith(f"p.yaml:{line_of(text, 'max: 0')}: caps.0.max: a cap of 0 forbids")


def test_an_unknown_weekday_names_the_accepted_values() -> None:
    text = VALID.replace("[mon, tue,", "[mon, tues,")
    [problem] = problems_of(text)
    assert problem.startswith(f"p.yaml:{line_of(text, 'tues')}: hours.0.windows.0.days.1: ")
    assert "'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'" in problem


def test_a_bare_clock_time_is_refused_with_how_to_write_it() -> None:
    text = VALID.replace('end: "19:00"', "end: 19:00")
    [problem] = problems_of(text)
    assert 'hours.0.windows.0.end: write times in quotes, e.g. "19:00"' in problem


def test_a_rule_without_a_source_is_refused() -> None:
    text = VALID.replace('    source: "Ley 2300 de 2023, art. 3"\n    windows', "    windows")
    [problem] = problems_of(text)
    assert ": hours.0.source: Field required" in problem


def test_contradictions_across_rules_name_each_field() -> None:
    text = (
        VALID.replace("channels: [email, sms]", "channels: [email, sms, call]")
        .replace("    per: day\n", "    per: day\n    channels: [whatsapp]\n")
        .replace("    windows:", "    channels: [email, sms]\n    windows:")
    )
    problems = problems_of(text)
    assert (
        f"p.yaml:{line_of(text, '[whatsapp]')}: caps.0.channels: channel whatsapp is not one"
        in (problems[0])
    )
    assert problems[1] == (
        f"p.yaml:{line_of(text, 'hours:')}: hours: "
        "channel call is allowed but no hours rule covers it"
    )


def test_a_subdivision_must_exist_and_its_hours_are_checked() -> None:
    text = VALID.replace("country: CO", "country: BR").replace(
        "caps:",
        "subdivisions:\n  SP:\n    hours:\n      - id: sp\n        source: Lei 15.426/2014\n"
        "        channels: [email]\n"
        '        windows: [{days: [mon], start: "08:00", end: "20:00"}]\ncaps:',
    )
    [problem] = problems_of(text)
    assert problem == (
        f"p.yaml:{line_of(text, '    hours:')}: subdivisions.SP.hours: "
        "channel sms is allowed but no hours rule covers it"
    )
    unknown = VALID.replace("country: CO", "country: BR").replace(
        "caps:", "subdivisions:\n  XX: {name: Nowhere}\ncaps:"
    )
    [problem] = problems_of(unknown)
    assert "subdivisions.XX: BR has no subdivision 'XX'" in problem


def test_unknown_country_and_subdivision_are_named() -> None:
    with pytest.raises(UnknownCountry, match="no compliance profile for country 'AR'"):
        load_profile("AR")
    with pytest.raises(UnknownSubdivision, match="unknown subdivision 'ZZ' of BR"):
        load_profile("BR", "ZZ")
    assert profile_for("AR").ref == "default@v1"
    assert profile_for("US", "CA").ref == "US-CA@v1"


def test_a_history_file_names_line_and_field() -> None:
    text = (
        "- {at: 2025-03-20T10:00:00-05:00, channel: sms, direct: true}\n"
        "- {at: 2025-03-21T10:00:00, channel: fax}\n"
    )
    with pytest.raises(ComplianceFileError) as caught:
        parse_history(text, "h.yaml")
    assert caught.value.problems == [
        "h.yaml:2: 1.at: the instant must carry a UTC offset, e.g. 2025-03-23T10:00:00-05:00",
        "h.yaml:2: 1.channel: Input should be 'email', 'sms', 'whatsapp' or 'call'",
    ]
    assert [c.direct for c in parse_history(text.splitlines()[0], "h.yaml")] == [True]
