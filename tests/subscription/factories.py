"""Small builders for subscriptions, their policy and their workflow input."""

from __future__ import annotations

from datetime import date, time
from typing import Any

from cobranza.domain.billing import Subscription, SubscriptionInput
from cobranza.domain.invoice import Customer
from cobranza.domain.money import Money
from cobranza.domain.policy import Escalation, EscalationAction, Policy, Reminder


def customer(tenant: str = "subs", customer_id: str = "C-1") -> Customer:
    return Customer(
        tenant=tenant,
        customer_id=customer_id,
        name="Ana Pérez",
        email=f"{customer_id.lower()}@customers.example.com",
        country="MX",
        timezone="America/Mexico_City",
        locale="es_MX",
    )


def policy() -> Policy:
    """Due-day email, a collector call on day 25 (level 1), write-off on day 60 (level 2).

    With ten days to pay, level 1 comes after the next monthly invoice is issued.
    """
    return Policy(
        id="subscriptions",
        version=1,
        send_time=time(10, 0),
        issue_template=None,
        reminders=(Reminder(day=0, template="due_today"),),
        escalation=(
            Escalation(level=1, day=25, action=EscalationAction.COLLECTOR_TASK, note="Call"),
            Escalation(level=2, day=60, action=EscalationAction.WRITE_OFF),
        ),
    )


def subscription(**changes: Any) -> Subscription:
    fields: dict[str, Any] = dict(
        subscription_id="SUB-1",
        customer=customer(),
        amount=Money.parse("499.00", "MXN"),
        start_date=date(2024, 1, 31),
        anchor_day=31,
        net_days=10,
        policy="subscriptions",
        suspend_at_level=1,
    )
    fields.update(changes)
    return Subscription(**fields)


def subscription_input(sub: Subscription, **changes: Any) -> SubscriptionInput:
    fields: dict[str, Any] = dict(subscription=sub, policy=policy(), contact_gate=False)
    fields.update(changes)
    return SubscriptionInput(**fields)
