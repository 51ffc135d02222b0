"""Dunning policies: the planned schedule, its local times across DST, file errors, explain()."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cobranza.domain.invoice import Customer, Invoice
from cobranza.domain.money import Money
from cobranza.domain.policy import (
    Escalation,
    EscalationAction,
    Policy,
    Reminder,
    StepKind,
    explain,
    plan,
)
from cobranza.domain.policy_file import PolicyFileError, parse_policy

STANDARD = Path(__file__).resolve().parents[2] / "cobranza" / "policies" / "standard.yaml"
NEW_YORK = ZoneInfo("America/New_York")


def invoice(
    due_on: date = date(2026, 4, 10),
    issued_on: date = date(2026, 3, 11),
    timezone: str = "America/Mexico_City",
) -> Invoice:
    customer = Customer(customer_id="C1", country="MX", timezone=timezone)
    return Invoice(
        invoice_id="INV-1",
        customer=customer,
        amount=Money.parse("1000.00", "MXN"),
        issued_on=issued_on,
        due_on=due_on,
    )


def policy(*reminder_days: int, send_time: time = time(10, 0), **fields: object) -> Policy:
    reminders = [Reminder(day=d, template=f"r{d}") for d in reminder_days]
    return Policy.model_validate(
        {"id": "p", "version": 1, "send_time": send_time, "reminders": reminders, **fields}
    )


def standard() -> Policy:
    return parse_policy(STANDARD.read_text(encoding="utf-8"), str(STANDARD))


# ---- plan ------------------------------------------------------------------------------------


def test_standard_plan_in_order_at_local_send_time() -> None:
    steps = plan(standard(), invoice())
    assert [(s.index, s.kind, s.day) for s in steps] == [
        (0, StepKind.REMINDER, -3),
        (1, StepKind.REMINDER, 0),
        (2, StepKind.REMINDER, 3),
        (3, StepKind.REMINDER, 10),
        (4, StepKind.ESCALATION, 15),
        (5, StepKind.ESCALATION, 30),
        (6, StepKind.ESCALATION, 60),
    ]
    zone = ZoneInfo("America/Mexico_City")
    assert steps[0].at == datetime(2026, 4, 7, 10, 0, tzinfo=zone)
    assert all(s.at.astimezone(zone).time() == time(10, 0) for s in steps)
    assert steps[0].label == "email reminder 'upcoming' (3 days before the due date)"
    assert steps[6].label == "escalation level 3: write_off (60 days after the due date)"


def test_reminders_are_sorted_whatever_the_file_order() -> None:
    steps = plan(policy(5, -2, 0), invoice())
    assert [s.day for s in steps] == [-2, 0, 5]
    assert [s.index for s in steps] == [0, 1, 2]


def test_reminders_before_the_issue_date_are_dropped() -> None:
    steps = plan(policy(-10, -3, 0), invoice(issued_on=date(2026, 4, 5)))
    assert [s.day for s in steps] == [-3, 0]


def test_same_day_reminder_comes_before_the_escalation() -> None:
    p = policy(
        15,
        escalation=[Escalation(level=1, day=15, action=EscalationAction.COLLECTOR_TASK)],
    )
    assert [s.kind for s in plan(p, invoice())] == [StepKind.REMINDER, StepKind.ESCALATION]


@pytest.mark.parametrize(
    ("due_on", "send_time", "utc", "local_time"),
    [
        # The day before clocks go forward in New York: EST, UTC-5.
        (date(2026, 3, 7), time(10, 0), datetime(2026, 3, 7, 15, 0, tzinfo=UTC), time(10, 0)),
        # The DST day itself: 10:00 is EDT, UTC-4, one hour earlier in UTC.
        (date(2026, 3, 8), time(10, 0), datetime(2026, 3, 8, 14, 0, tzinfo=UTC), time(10, 0)),
        # 02:30 does not exist that day; the step moves past the gap to 03:30 EDT.
        (date(2026, 3, 8), time(2, 30), datetime(2026, 3, 8, 7, 30, tzinfo=UTC), time(3, 30)),
        # 01:30 happens twice when clocks go back; the first one (EDT) is used.
        (date(2026, 11, 1), time(1, 30), datetime(2026, 11, 1, 5, 30, tzinfo=UTC), time(1, 30)),
    ],
    ids=["before-dst", "dst-day", "in-the-gap", "repeated-hour"],
)
def test_step_times_across_daylight_saving(
    due_on: date, send_time: time, utc: datetime, local_time: time
) -> None:
    inv = invoice(due_on=due_on, issued_on=date(2026, 3, 1), timezone="America/New_York")
    (step,) = plan(policy(0, send_time=send_time, issue_template=None), inv)
    # Compared in UTC: an aware time in the repeated hour never equals one in another zone.
    assert step.at.astimezone(UTC) == utc
    assert step.at.astimezone(NEW_YORK).time() == local_time
    assert step.at.astimezone(NEW_YORK).date() == due_on


# ---- policy files ----------------------------------------------------------------------------

VALID = """\
id: p
version: 1
reminders:
  - {day: -3, template: upcoming}
  - {day: 3, template: overdue}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyFileError) as caught:
        parse_policy(text, "p.yaml")
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def test_a_valid_file_parses() -> None:
    p = parse_policy(VALID, "p.yaml")
    assert p.ref == "p@v1"
    assert [r.day for r in p.reminders] == [-3, 3]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            VALID.replace("day: 3,", "day: 400,"),
            "p.yaml:5: reminders.1.day: Input should be less than or equal to 365",
        ),
        (
            VALID.replace("{day: -3, template: upcoming}", "{day: -3, templat: upcoming}"),
            "p.yaml:4: reminders.0.templat: Extra inputs are not permitted",
        ),
        (VALID.replace("version: 1", "version: 0"), "p.yaml:2: version: Input should be"),
        (VALID.replace("id: p", "id: Bad Id"), "p.yaml:1: id: String should match pattern"),
        (
            VALID.replace("day: 3,", "day: -3,"),
            "p.yaml:4: reminders: Value error, two reminders fall on the same day",
        ),
        (
            VALID + "escalation:\n  - {level: 1, day: 30, action: final_notice}\n",
            "p.yaml:7: escalation.0: Value error, a final_notice escalation needs a template",
        ),
        (
            VALID + "escalation:\n  - {level: 1, day: 30, action: shout}\n",
            "p.yaml:7: escalation.0.action: Input should be 'collector_task', 'final_notice'",
        ),
        (
            VALID + "escalation:\n"
            "  - {level: 1, day: 30, action: write_off}\n"
            "  - {level: 2, day: 60, action: collector_task}\n",
            "p.yaml:7: escalation: Value error, write_off closes the invoice",
        ),
    ],
    ids=[
        "day-out-of-range",
        "misspelt-field",
        "version",
        "id-pattern",
        "same-day",
        "notice-template",
        "unknown-action",
        "closing-not-last",
    ],
)
def test_file_errors_name_line_and_field(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_every_fault_is_reported_at_once() -> None:
    text = VALID.replace("version: 1", "version: 0").replace("day: 3,", "day: 400,")
    found = problems(text)
    assert [p.split(": ")[0:2] for p in found] == [
        ["p.yaml:2", "version"],
        ["p.yaml:5", "reminders.1.day"],
    ]


def test_not_yaml_or_not_a_mapping() -> None:
    (bad,) = problems("id: p\nreminders: [\n")
    assert bad.startswith("p.yaml:") and "not valid YAML" in bad
    (listed,) = problems("- just\n- a list\n")
    assert listed == "p.yaml:1: a policy is a mapping with id, version, reminders..."


# ---- explain ---------------------------------------------------------------------------------


def test_explain_the_standard_policy_in_plain_words() -> None:
    assert explain(standard()) == [
        "Policy standard@v1 (Standard net-30)",
        "- On the issue date: send the invoice by email (template 'invoice_issued').",
        "- 3 days before the due date, at 10:00 customer's time: email reminder "
        "(template 'upcoming'), if anything is still owed.",
        "- On the due date, at 10:00 customer's time: email reminder "
        "(template 'due_today'), if anything is still owed.",
        "- 3 days after the due date, at 10:00 customer's time: email reminder "
        "(template 'overdue'), if anything is still owed.",
        "- 10 days after the due date, at 10:00 customer's time: email reminder "
        "(template 'overdue_firm'), if anything is still owed.",
        "- 15 days after the due date: dunning level 1, open a CRM task for a collector. "
        "Note: Call the customer and agree a date",
        "- 30 days after the due date: dunning level 2, send a final notice by email "
        "(template 'final_notice').",
        "- 60 days after the due date: dunning level 3, write the remaining balance off "
        "and close the invoice.",
        "- Promises to pay: accepted up to 30 days ahead; reminders stop until the date, "
        "with one gentle reminder the day before.",
        "- Pauses: at most 90 days.",
    ]


def test_explain_a_minimal_policy() -> None:
    p = policy(
        -1,
        issue_template=None,
        escalation=[Escalation(level=1, day=20, action=EscalationAction.HANDOFF)],
        promise_to_pay={"max_days_ahead": 7, "reminder_day_before": False},
    )
    lines = explain(p)
    assert lines[0] == "Policy p@v1"
    assert lines[1].startswith("- 1 day before the due date, at 10:00")
    assert "hand the invoice to an external agency" in lines[2]
    assert (
        lines[3] == "- Promises to pay: accepted up to 7 days ahead; reminders stop until the date."
    )
    assert not any("issue date" in line for line in lines)
