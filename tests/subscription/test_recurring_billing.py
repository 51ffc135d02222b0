"""RecurringBillingWorkflow end to end: 36 months, one invoice paid late, pause, cancel, yearly.

Dev server with per-workflow virtual time, the real InvoiceCollectionWorkflow as each period's
child, the sandbox ERP over HTTP and a SQLite store.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from cobranza.domain.billing import (
    CancelSubscription,
    PauseSubscription,
    ResumeSubscription,
    ServiceState,
    SubscriptionStatus,
    first_check_at,
    issue_instant,
    period,
    period_invoice,
)
from cobranza.domain.invoice import InvoiceStatus, PaymentReceived
from cobranza.starter.subscription_sim import SubscriptionDriver, publishes_level, runs_of
from cobranza.workflows import search_attributes as sa
from cobranza.workflows.invoice import InvoiceCollectionWorkflow
from cobranza.workflows.subscription import RecurringBillingWorkflow

from .factories import customer, subscription, subscription_input

MONTHS = 36
LATE = 14  # the period whose invoice is paid after the service was suspended
EVENTS_PER_RUN_LIMIT = 1_000
UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES


def payment(n: int, amount: Any, at: Any) -> PaymentReceived:
    return PaymentReceived(payment_id=f"pay-{n}", amount=amount, received_at=at)


async def test_36_months_with_one_invoice_paid_late(driver: SubscriptionDriver) -> None:
    sub = subscription(subscription_id="SUB-36", periods=MONTHS)
    input = subscription_input(sub)
    handle = await driver.start(input)
    send = input.policy.send_time
    late = first_check_at(sub, input.policy, LATE)  # an hour after period LATE reaches level 1
    for n in range(1, MONTHS + 1):
        await driver.advance(handle, issue_instant(sub, n, send) + timedelta(minutes=1))
        await driver.issued(handle)
        actions = [(a["action"], a["period"]) for a in driver.service_actions(sub.subscription_id)]
        if n == LATE + 1:
            # Issuing this period, the subscription looked at every open invoice: period LATE
            # is at level 1 and unpaid, so the service was suspended. It is paid now, late.
            assert actions == [("suspend", LATE)]
            await driver.pay(period_invoice(sub, LATE).workflow_id, payment(LATE, sub.amount, late))
        elif n == LATE + 2:
            assert actions == [("suspend", LATE), ("restore", LATE)]  # found paid: restored
        invoice = period_invoice(sub, n)
        if n != LATE:
            on_time = issue_instant(sub, n, send) + timedelta(minutes=1)
            await driver.pay(invoice.workflow_id, payment(n, sub.amount, on_time))
            continue
        # Left unpaid: its ladder reaches level 1 (a collector call) 25 days after the due date.
        child = driver.invoice(invoice.workflow_id)
        await driver.advance(child, late - timedelta(minutes=30))
        await driver.until(child, publishes_level(1))
        assert (await child.query(InvoiceCollectionWorkflow.status)).dunning_level == 1
    # The last invoice is looked at once more, then the subscription ends.
    await driver.advance(handle, first_check_at(sub, input.policy, MONTHS) + timedelta(minutes=1))
    final = await handle.result()

    assert final.status is SubscriptionStatus.ENDED and final.issued == MONTHS
    assert final.service is ServiceState.ACTIVE and final.open_invoices == []
    actions = driver.service_actions(sub.subscription_id)
    assert [(a["action"], a["period"]) for a in actions] == [("suspend", LATE), ("restore", LATE)]
    assert actions[0]["invoice_id"] == period_invoice(sub, LATE).invoice_id

    runs = await runs_of(driver, handle.id)
    started = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for run in runs
        for e in run
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    assert len(started) == MONTHS and len(set(started)) == MONTHS
    assert started == [period_invoice(sub, n).workflow_id for n in range(1, MONTHS + 1)]
    # One run per period plus the last one that watched the final invoice close.
    assert len(runs) == MONTHS + 1
    lengths = [len(run) for run in runs]
    assert max(lengths) < EVENTS_PER_RUN_LIMIT, lengths

    for n in (1, 2, 3, 14, 36):
        desc = await driver.invoice(period_invoice(sub, n).workflow_id).describe()
        attrs = desc.typed_search_attributes
        assert attrs.get(sa.INVOICE_STATUS) == InvoiceStatus.PAID.value
        due = attrs.get(sa.DUE_DATE)
        assert due is not None and due.date() == period(sub, n).due_on
    # The anchor on the 31st: February 2024 is billed on the 29th, 2025 on the 28th.
    assert period(sub, 2).issue_on == date(2024, 2, 29)
    assert period(sub, 14).issue_on == date(2025, 2, 28)


async def rejection(call: Any) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as exc:
        await call
    cause = exc.value.cause
    assert cause is not None
    return str(cause.message)  # type: ignore[attr-defined]


async def test_pause_skips_periods_and_cancel_is_refused_twice(driver: SubscriptionDriver) -> None:
    # Suspension at level 2 (day 60): nothing is looked at while this test pauses and cancels.
    sub = subscription(
        subscription_id="SUB-PAUSE",
        customer=customer(customer_id="C-2"),
        start_date=date(2025, 3, 15),
        anchor_day=None,
        suspend_at_level=2,
    )
    input = subscription_input(sub)
    handle = await driver.start(input)
    send = input.policy.send_time
    await driver.advance(handle, issue_instant(sub, 1, send) + timedelta(minutes=1))
    await driver.issued(handle)
    agent = {"actor": "agent-7", "reason": "customer called"}
    pause, resume, cancel = (
        RecurringBillingWorkflow.pause,
        RecurringBillingWorkflow.resume,
        RecurringBillingWorkflow.cancel,
    )

    refused = await rejection(handle.execute_update(resume, ResumeSubscription(**agent)))
    assert refused == "subscription SUB-PAUSE is not paused (it is active)"
    too_soon = PauseSubscription(**agent, until=date(2025, 3, 15))
    refused = await rejection(handle.execute_update(pause, too_soon))
    assert refused == "pause end 2025-03-15 is not after today (2025-03-15)"

    view = await handle.execute_update(pause, PauseSubscription(**agent))
    assert view.status is SubscriptionStatus.PAUSED and view.next_issue_at is None
    refused = await rejection(handle.execute_update(pause, PauseSubscription(**agent)))
    assert refused == (
        "subscription SUB-PAUSE is already paused (by agent-7: customer called on 2025-03-15)"
    )

    # Period 2's issue date passes while paused: nothing is issued for it.
    await driver.advance(handle, issue_instant(sub, 2, send) + timedelta(days=1))
    with pytest.raises(RPCError, match="not found"):
        await driver.invoice(period_invoice(sub, 2).workflow_id).describe()
    view = await handle.execute_update(resume, ResumeSubscription(**agent))
    assert view.status is SubscriptionStatus.ACTIVE and view.skipped == [2]
    assert view.next_issue_at == issue_instant(sub, 3, send)

    # Cancelled with period 1 unpaid: no more invoices; the open one is still watched.
    view = await handle.execute_update(cancel, CancelSubscription(**agent))
    assert view.status is SubscriptionStatus.CANCELLED and view.next_issue_at is None
    assert [w.period for w in view.open_invoices] == [1]
    again = CancelSubscription(actor="agent-9", reason="again")
    refused = await rejection(handle.execute_update(cancel, again))
    assert refused == (
        "subscription SUB-PAUSE is already cancelled (by agent-7: customer called on 2025-04-16)"
    )
    # The same refusal as a signal (Web UI, CLI) is kept among the events, not applied.
    await handle.signal(RecurringBillingWorkflow.cancel_signal, again)
    events = (await handle.query(RecurringBillingWorkflow.status)).events
    assert events[-1].kind == "rejected" and "already cancelled" in events[-1].detail

    on_time = issue_instant(sub, 1, send)
    await driver.pay(period_invoice(sub, 1).workflow_id, payment(1, sub.amount, on_time))
    await driver.advance(handle, first_check_at(sub, input.policy, 1) + timedelta(minutes=1))
    final = await handle.result()
    assert final.status is SubscriptionStatus.CANCELLED and final.issued == 1
    assert final.open_invoices == [] and final.service is ServiceState.ACTIVE
    assert driver.service_actions(sub.subscription_id) == []


async def test_yearly_on_february_29(driver: SubscriptionDriver) -> None:
    sub = subscription(
        subscription_id="SUB-YEARLY",
        customer=customer(customer_id="C-3"),
        interval="yearly",
        start_date=date(2024, 2, 29),
        anchor_day=29,
        periods=3,
    )
    input = subscription_input(sub)
    handle = await driver.start(input)
    send = input.policy.send_time
    for n in (1, 2, 3):
        at = issue_instant(sub, n, send) + timedelta(minutes=1)
        await driver.advance(handle, at)
        await driver.issued(handle)
        await driver.pay(period_invoice(sub, n).workflow_id, payment(n, sub.amount, at))
    await driver.advance(handle, first_check_at(sub, input.policy, 3) + timedelta(minutes=1))
    final = await handle.result()
    assert final.status is SubscriptionStatus.ENDED and final.issued == 3
    dues = []
    for n in (1, 2, 3):
        desc = await driver.invoice(period_invoice(sub, n).workflow_id).describe()
        due = desc.typed_search_attributes.get(sa.DUE_DATE)
        assert due is not None
        dues.append(due.date())
    # Issued on Feb 29, 2024, then Feb 28 in 2025 and 2026; due ten days later.
    assert dues == [date(2024, 3, 10), date(2025, 3, 10), date(2026, 3, 10)]
