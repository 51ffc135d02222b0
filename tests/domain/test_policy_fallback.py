"""Channel fallback of a policy step: validated at load time, planned, and explained."""

from __future__ import annotations

from datetime import date

import pytest

from cobranza.domain.invoice import Channel, Customer, Invoice
from cobranza.domain.money import Money
from cobranza.domain.policy import Policy, explain, plan
from cobranza.domain.policy_file import PolicyFileError, parse_policy

WITH_FALLBACK = """\
id: multichannel
version: 1
reminders:
  - day: 3
    channel: whatsapp
    fallback: [sms, email]
    template: overdue
  - day: 10
    template: overdue_firm
escalation:
  - level: 1
    day: 30
    action: final_notice
    channel: sms
    fallback: [email]
    template: final_notice
"""


def load(text: str) -> Policy:
    return parse_policy(text, "p.yaml")


def test_fallback_is_loaded_in_order_and_defaults_to_none() -> None:
    policy = load(WITH_FALLBACK)
    first, second = policy.reminders
    assert (first.channel, first.fallback) == (Channel.WHATSAPP, (Channel.SMS, Channel.EMAIL))
    assert (second.channel, second.fallback) == (Channel.EMAIL, ())
    assert policy.escalation[0].fallback == (Channel.EMAIL,)


def test_plan_carries_each_steps_fallback() -> None:
    customer = Customer(customer_id="C-1", country="MX", timezone="America/Mexico_City")
    invoice = Invoice(
        invoice_id="INV-1",
        customer=customer,
        amount=Money.parse("10.00", "MXN"),
        issued_on=date(2026, 3, 1),
        due_on=date(2026, 4, 1),
    )
    steps = plan(load(WITH_FALLBACK), invoice)
    assert [(s.channel, s.fallback) for s in steps] == [
        (Channel.WHATSAPP, (Channel.SMS, Channel.EMAIL)),
        (Channel.EMAIL, ()),
        (Channel.SMS, (Channel.EMAIL,)),
    ]


def test_explain_shows_the_order_of_channels() -> None:
    lines = explain(load(WITH_FALLBACK))
    assert (
        "- 3 days after the due date, at 10:00 customer's time: whatsapp reminder "
        "(template 'overdue'), else by sms, else by email, if anything is still owed."
    ) in lines
    assert (
        "- 30 days after the due date: dunning level 1, send a final notice by sms, "
        "else by email (template 'final_notice')."
    ) in lines


@pytest.mark.parametrize(
    ("step", "where", "reason"),
    [
        (
            "reminders:\n  - {day: 3, channel: sms, fallback: [email, sms], template: overdue}",
            "p.yaml:6: reminders.0.fallback",
            "repeats the step's channel 'sms'",
        ),
        (
            "reminders:\n  - {day: 3, fallback: [sms, sms], template: overdue}",
            "p.yaml:6: reminders.0.fallback",
            "names sms more than once",
        ),
        (
            "reminders:\n  - {day: 3, fallback: [fax], template: overdue}",
            "p.yaml:6: reminders.0.fallback.0",
            "'email', 'sms' or 'whatsapp'",
        ),
        (
            "escalation:\n  - {level: 1, day: 20, action: collector_task, fallback: [sms]}",
            "p.yaml:6: escalation.0.fallback",
            "fallback applies to messages only",
        ),
    ],
)
def test_a_contradictory_fallback_is_refused_with_file_line_and_field(
    step: str, where: str, reason: str
) -> None:
    with pytest.raises(PolicyFileError) as caught:
        load(f"id: p\nversion: 1\n\n\n{step}\n")
    (problem,) = caught.value.problems
    assert problem.startswith(where + ":")
    assert reason in problem
