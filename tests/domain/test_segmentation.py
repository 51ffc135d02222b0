"""Segmentation: each condition, first match wins, the default, file errors by line and field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cobranza.domain.invoice import Customer, Invoice
from cobranza.domain.money import Money
from cobranza.domain.segmentation import (
    NaiveInstant,
    PolicyChoice,
    SegmentRules,
    choose_policy,
    explain,
)
from cobranza.domain.segmentation_file import SegmentsFileError, parse_segments

SHIPPED = Path(__file__).resolve().parents[2] / "cobranza" / "policies" / "segments.yaml"
KNOWN = {"standard", "gentle", "firm"}
DUE = date(2026, 3, 31)
AT = datetime(2026, 4, 10, 17, 0, tzinfo=UTC)  # 10 days overdue in Mexico City


def invoice(
    amount: str = "1000.00",
    currency: str = "MXN",
    segment: str = "standard",
    country: str = "MX",
    risk_score: int | None = None,
) -> Invoice:
    customer = Customer(
        customer_id="C1",
        country=country,
        timezone="America/Mexico_City",
        segment=segment,
        risk_score=risk_score,
    )
    return Invoice(
        invoice_id="INV-1",
        customer=customer,
        amount=Money.parse(amount, currency),
        issued_on=date(2026, 3, 1),
        due_on=DUE,
    )


def rules(text: str) -> SegmentRules:
    return parse_segments(text, "segments.yaml", policies=KNOWN)


def one_rule(when: str) -> SegmentRules:
    return rules(
        f"version: 1\nrules:\n  - id: r\n    when: {when}\n    policy: firm\ndefault: standard\n"
    )


def problems(text: str) -> list[str]:
    with pytest.raises(SegmentsFileError) as caught:
        rules(text)
    return caught.value.problems


# ---- each condition ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "inv", "at", "reason"),
    [
        ("{segment: vip}", invoice(segment="vip"), AT, "segment vip"),
        ("{segment: [vip, gold]}", invoice(segment="Gold"), AT, "segment Gold"),
        ("{segment: vip}", invoice(segment="standard"), AT, None),
        ("{country: mx}", invoice(country="MX"), AT, "country MX"),
        ("{country: [CO, PE]}", invoice(country="MX"), AT, None),
        (
            '{amount: {MXN: {at_least: "5000.00"}}}',
            invoice("5000.00"),
            AT,
            "amount >= 5,000.00 MXN",
        ),
        ('{amount: {MXN: {at_least: "5000.00"}}}', invoice("4999.99"), AT, None),
        ('{amount: {MXN: {below: "5000.00"}}}', invoice("5000.00"), AT, None),
        (
            '{amount: {MXN: {at_least: "1000", below: "5000.00"}}}',
            invoice("4999.99"),
            AT,
            "1,000.00 MXN <= amount < 5,000.00 MXN",
        ),
        ('{amount: {USD: {at_least: "1.00"}}}', invoice("9000.00", "MXN"), AT, None),
        (
            '{amount: {JPY: {at_least: "1000000"}}}',
            invoice("1000000", "JPY"),
            AT,
            "amount >= 1,000,000 JPY",
        ),
        ('{amount: {JPY: {at_least: "1000000"}}}', invoice("999999", "JPY"), AT, None),
        ("{days_overdue: {at_least: 10}}", invoice(), AT, "days overdue >= 10"),
        ("{days_overdue: {at_least: 11}}", invoice(), AT, None),
        (
            "{days_overdue: {below: 1}}",
            invoice(),
            datetime(2026, 3, 31, 23, tzinfo=UTC),
            "days overdue < 1",
        ),
        ("{risk_score: {at_least: 700}}", invoice(risk_score=700), AT, "risk score >= 700"),
        ("{risk_score: {at_least: 700}}", invoice(risk_score=699), AT, None),
        ("{risk_score: {below: 300}}", invoice(risk_score=None), AT, None),
        (
            '{country: MX, amount: {MXN: {at_least: "5000.00"}}}',
            invoice("7500.00"),
            AT,
            "country MX and amount >= 5,000.00 MXN",
        ),
        ('{country: MX, amount: {MXN: {at_least: "5000.00"}}}', invoice("100.00"), AT, None),
    ],
)
def test_each_condition(when: str, inv: Invoice, at: datetime, reason: str | None) -> None:
    choice = choose_policy(one_rule(when), inv, at)
    if reason is None:
        assert (choice.policy_id, choice.rule_id) == ("standard", None)
    else:
        assert choice == PolicyChoice(policy_id="firm", rule_id="r", reason=f"rule 'r': {reason}")


def test_days_overdue_count_in_the_customers_zone() -> None:
    # 05:59 UTC on 1 April is still 31 March (the due date) in Mexico City: not overdue yet.
    late = one_rule("{days_overdue: {at_least: 1}}")
    assert choose_policy(late, invoice(), datetime(2026, 4, 1, 5, 59, tzinfo=UTC)).rule_id is None
    assert choose_policy(late, invoice(), datetime(2026, 4, 1, 6, 0, tzinfo=UTC)).rule_id == "r"


def test_first_match_wins_and_the_default_takes_the_rest() -> None:
    segs = rules(
        """
version: 1
rules:
  - id: vip
    when: {segment: vip}
    policy: gentle
  - id: big-mx
    when: {country: MX, amount: {MXN: {at_least: "5000.00"}}}
    policy: firm
default: standard
"""
    )
    assert choose_policy(segs, invoice("9000.00", segment="vip"), AT).rule_id == "vip"
    big = choose_policy(segs, invoice("9000.00"), AT)
    assert big == PolicyChoice(
        policy_id="firm",
        rule_id="big-mx",
        reason="rule 'big-mx': country MX and amount >= 5,000.00 MXN",
    )
    small = choose_policy(segs, invoice("10.00", risk_score=5), AT)
    assert small.by_default
    assert small == PolicyChoice(
        policy_id="standard",
        reason="no rule matched (segment standard, country MX, amount 10.00 MXN, "
        "10 days overdue, risk score 5): default policy 'standard'",
    )


def test_a_choice_survives_the_workflow_payload_round_trip() -> None:
    choice = choose_policy(one_rule("{segment: vip}"), invoice(segment="vip"), AT)
    assert PolicyChoice.model_validate_json(choice.model_dump_json()) == choice


def test_the_selection_instant_needs_an_offset() -> None:
    with pytest.raises(NaiveInstant):
        choose_policy(one_rule("{segment: vip}"), invoice(), datetime(2026, 4, 10, 12))


def test_old_customer_inputs_load_without_a_risk_score() -> None:
    customer = Customer.model_validate(
        {"customer_id": "C", "country": "CO", "timezone": "America/Bogota"}
    )
    assert customer.risk_score is None


def test_shipped_rules_load_and_read_in_plain_words() -> None:
    shipped = parse_segments(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED), policies=KNOWN)
    assert shipped.policy_ids == KNOWN
    lines = explain(shipped)
    assert lines[1].startswith("1. vip: if segment vip, policy 'gentle'.")
    assert lines[-1] == "Otherwise: policy 'standard'."
    assert choose_policy(shipped, invoice("1500000", "JPY"), AT).policy_id == "firm"


# ---- errors -----------------------------------------------------------------------------------

HEADER = "version: 1\nrules:\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "  - id: r\n    when: {segment: vip}\n    policy: gentel\ndefault: standard\n",
            "segments.yaml:5: rules.0.policy: unknown policy 'gentel': "
            "expected one of firm, gentle, standard",
        ),
        (
            "  - id: r\n    when: {segment: vip}\n    policy: firm\ndefault: lenient\n",
            "segments.yaml:6: default: unknown policy 'lenient'",
        ),
        (
            "  - id: r\n    when: {segment: vip}\n    policy: firm\n",
            "segments.yaml:1: default: Field required",
        ),
        (
            "  - id: r\n    when:\n      segmnet: vip\n    policy: firm\ndefault: standard\n",
            "segments.yaml:5: rules.0.when.segmnet: unknown field 'segmnet': "
            "expected one of segment, country, amount, days_overdue, risk_score",
        ),
        (
            '  - id: r\n    when:\n      amount:\n        JPY: {at_least: "1000.5"}\n'
            "    policy: firm\ndefault: standard\n",
            "segments.yaml:6: rules.0.when.amount.JPY.at_least: amount 1000.5 has more "
            "decimals than JPY allows (ISO 4217 exponent 0)",
        ),
        (
            "  - id: r\n    when:\n      amount:\n        MXN: {at_least: 5000.00}\n"
            "    policy: firm\ndefault: standard\n",
            "segments.yaml:6: rules.0.when.amount.MXN.at_least: write the amount in quotes",
        ),
        (
            '  - id: r\n    when:\n      amount:\n        XXY: {at_least: "1"}\n'
            "    policy: firm\ndefault: standard\n",
            "segments.yaml:6: rules.0.when.amount.XXY: unknown currency 'XXY'",
        ),
        (
            '  - id: r\n    when:\n      amount:\n        DEM: {at_least: "1"}\n'
            "    policy: firm\ndefault: standard\n",
            "segments.yaml:6: rules.0.when.amount.DEM: currency 'DEM' was withdrawn from "
            "ISO 4217 (last in use 2002-05-15)",
        ),
        (
            "  - id: r\n    when:\n      days_overdue: {at_least: 30, below: 10}\n"
            "    policy: firm\ndefault: standard\n",
            "segments.yaml:5: rules.0.when.days_overdue: empty range: below (10) must be "
            "above at_least (30)",
        ),
        (
            "  - id: r\n    when:\n      risk_score: {}\n    policy: firm\ndefault: standard\n",
            "segments.yaml:5: rules.0.when.risk_score: give at_least, below or both",
        ),
        (
            "  - id: r\n    when:\n      country: MEX\n    policy: firm\ndefault: standard\n",
            "segments.yaml:5: rules.0.when.country.0: country 'MEX' is not an ISO 3166",
        ),
        (
            "  - id: r\n    when: {segment: a}\n    policy: firm\n"
            "  - id: r\n    when: {segment: b}\n    policy: firm\ndefault: standard\n",
            "segments.yaml:6: rules.1.id: rule id 'r' is already used by rules.0",
        ),
    ],
)
def test_errors_name_line_field_and_reason(body: str, expected: str) -> None:
    found = problems(HEADER + body)
    assert any(p.startswith(expected) for p in found), found


def test_a_rule_after_an_unconditional_one_is_rejected_by_name() -> None:
    found = problems(
        HEADER
        + "  - id: everyone\n    policy: firm\n"
        + "  - id: vip\n    when: {segment: vip}\n    policy: gentle\n"
        + "default: standard\n"
    )
    assert found == [
        "segments.yaml:5: rules.1: rule 'vip' can never match: rule 'everyone' (rules.0) comes "
        "first and has no conditions, so it takes every invoice",
        "segments.yaml:8: default: default 'standard' is never used: rule 'everyone' has no "
        "conditions and takes every invoice; drop that rule and make 'firm' the default",
    ]


def test_a_rule_narrower_than_an_earlier_one_is_rejected() -> None:
    found = problems(
        HEADER
        + "  - id: mexico\n    when: {country: [MX, CO]}\n    policy: firm\n"
        + "  - id: big-mx\n"
        + '    when: {country: MX, amount: {MXN: {at_least: "5000.00"}}}\n'
        + "    policy: gentle\n"
        + "default: standard\n"
    )
    assert len(found) == 1
    assert found[0].startswith(
        "segments.yaml:6: rules.1: rule 'big-mx' can never match: rule 'mexico' (rules.0)"
    )


@pytest.mark.parametrize(
    "later",
    [
        "{country: [MX, PE]}",
        '{country: MX, amount: {USD: {at_least: "1.00"}}}',
        "{country: MX, risk_score: {at_least: 1}}",
    ],
)
def test_a_rule_that_only_overlaps_an_earlier_one_is_kept(later: str) -> None:
    segs = rules(
        HEADER
        + '  - id: first\n    when: {country: MX, amount: {MXN: {at_least: "1.00"}}}\n'
        + "    policy: firm\n"
        + f"  - id: later\n    when: {later}\n    policy: gentle\n"
        + "default: standard\n"
    )
    assert [r.id for r in segs.rules] == ["first", "later"]


def test_not_a_mapping_and_not_yaml() -> None:
    assert problems("- a\n- b\n") == [
        "segments.yaml:1: segmentation rules are a mapping with version, rules, default"
    ]
    assert problems("version: [1\n")[0].startswith("segments.yaml:2: not valid YAML")
