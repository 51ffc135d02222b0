"""Drives a subscription and its invoices through virtual time: `cobranza subscription simulate`.

Each workflow has its own clock on the dev server (per-workflow time skipping). Invoices are
children, and children normally inherit their parent's time skipping: they would race through
their whole ladder while the parent skips a month. Here they do not (`disable_propagation`), so
each invoice stays at its own moment until it is paid or moved forward on purpose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowContinuedAsNewError, WorkflowHandle
from temporalio.testing import TimeSkipper, TimeSkippingConfig

from cobranza.domain.billing import (
    Subscription,
    SubscriptionInput,
    SubscriptionView,
    first_check_at,
    issue_instant,
    period_invoice,
)
from cobranza.domain.invoice import Customer, PaymentReceived
from cobranza.domain.money import Money
from cobranza.domain.policy import Policy
from cobranza.starter.stack import Stack
from cobranza.workflows.invoice import InvoiceCollectionWorkflow
from cobranza.workflows.subscription import (
    RecurringBillingWorkflow,
    subscription_search_attributes,
)

UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
CAN = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
CHILD_STARTED = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED


# A wait on the server that takes longer than this is a bug, not a slow machine.
WAIT_LIMIT_S = 60


class SubscriptionDriver:
    """Starts subscriptions and moves each workflow's clock to a business instant.

    Invoices are children, and children normally inherit their parent's time skipping: they would
    race through their whole ladder while the parent skips a month. Here they do not
    (`disable_propagation`), so each invoice stays at its own moment until the test moves it.
    """

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.skipper = TimeSkipper(
            stack.env.client, config=TimeSkippingConfig(enabled=False, disable_propagation=True)
        )
        self.client = stack.env.client

    def offset_for(self, input: SubscriptionInput) -> timedelta:
        """Business time starts an hour before the first invoice is due to go out."""
        first = issue_instant(input.subscription, 1, input.policy.send_time)
        return datetime.now(UTC) - (first.astimezone(UTC) - timedelta(hours=1))

    async def start(self, input: SubscriptionInput) -> WorkflowHandle[Any, Any]:
        input = input.model_copy(
            update={"clock_offset": self.offset_for(input), "task_queue": self.stack.task_queue}
        )
        self.offset = input.clock_offset
        handle = await self.skipper.client.start_workflow(
            RecurringBillingWorkflow.run,
            input,
            id=input.subscription.workflow_id,
            task_queue=self.stack.task_queue,
            search_attributes=subscription_search_attributes(input),
        )
        self.run_ids = [handle.result_run_id or ""]
        return handle

    async def issued(self, handle: WorkflowHandle[Any, Any]) -> None:
        """Wait until the current run has issued its period and continued as new."""
        run = self.client.get_workflow_handle(handle.id, run_id=self.run_ids[-1])
        try:
            async with asyncio.timeout(WAIT_LIMIT_S):
                await run.result(follow_runs=False)
        except WorkflowContinuedAsNewError as exc:
            self.run_ids.append(exc.new_execution_run_id)
            return
        raise RuntimeError(f"run {self.run_ids[-1]} of {handle.id} ended without issuing")

    async def until(
        self, handle: WorkflowHandle[Any, Any], what: Callable[[HistoryEvent], bool]
    ) -> None:
        """Wait for an event in a workflow's current run (a long poll on its history)."""
        run_id = self.run_ids[-1] if handle.id.startswith("subscription-") else None
        run = self.client.get_workflow_handle(handle.id, run_id=run_id)
        async with asyncio.timeout(WAIT_LIMIT_S):
            async for event in run.fetch_history_events(wait_new_event=True):
                if what(event):
                    return

    async def activity_done(self, handle: WorkflowHandle[Any, Any], name: str) -> None:
        """Wait until the current run has completed an activity of this name."""
        scheduled: set[int] = set()

        def done(event: HistoryEvent) -> bool:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                if event.activity_task_scheduled_event_attributes.activity_type.name == name:
                    scheduled.add(event.event_id)
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                attrs = event.activity_task_completed_event_attributes
                return attrs.scheduled_event_id in scheduled
            return False

        await self.until(handle, done)

    async def business_now(self, handle: WorkflowHandle[Any, Any]) -> datetime:
        return await self.skipper.get_current_time(handle) - self.offset

    async def advance(self, handle: WorkflowHandle[Any, Any], to: datetime) -> None:
        """Move one workflow's clock to a business instant (never backwards)."""
        step = to.astimezone(UTC) - await self.business_now(handle)
        if step > timedelta(0):
            await self.skipper.fast_forward(handle, step)

    def invoice(self, workflow_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle_for(InvoiceCollectionWorkflow.run, workflow_id)

    async def pay(self, workflow_id: str, payment: PaymentReceived) -> None:
        """Pay an invoice and wait until its lifecycle has closed."""
        handle = self.invoice(workflow_id)
        await handle.signal(InvoiceCollectionWorkflow.payment_received, payment)
        await handle.result()

    def service_actions(self, service_id: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.stack.sandbox.http_url}/erp/v1/services/{service_id}")
        answer.raise_for_status()
        actions: list[dict[str, Any]] = answer.json()["actions"]
        return actions


def publishes_level(level: int) -> Callable[[HistoryEvent], bool]:
    """The invoice told the server (search attribute DunningLevel) it reached `level`."""

    def published(event: HistoryEvent) -> bool:
        if event.event_type != UPSERT:
            return False
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        found = fields.indexed_fields.get("DunningLevel")
        return found is not None and found.data == str(level).encode()

    return published


async def runs_of(driver: SubscriptionDriver, workflow_id: str) -> list[list[HistoryEvent]]:
    """Every run of the chain, in order, as its list of history events."""
    runs: list[list[HistoryEvent]] = []
    for run_id in driver.run_ids:
        run = driver.client.get_workflow_handle(workflow_id, run_id=run_id)
        runs.append([e async for e in run.fetch_history_events()])
    return runs


class MonthsRun(BaseModel):
    """What `cobranza subscription simulate` saw."""

    subscription_id: str
    months: int
    late_period: int | None
    invoices_issued: int
    distinct_invoice_workflows: int
    runs: int
    events_per_run_max: int
    service_actions: list[dict[str, Any]]
    final: SubscriptionView


def demo_subscription(months: int, policy: Policy, suspend_at_level: int) -> Subscription:
    customer = Customer(
        tenant="demo",
        customer_id="C-SUBS-1",
        name="Ana Pérez",
        email="ana@customers.example.com",
        country="MX",
        timezone="America/Mexico_City",
        locale="es_MX",
    )
    return Subscription(
        subscription_id="SUB-DEMO",
        customer=customer,
        amount=Money.parse("499.00", "MXN"),
        start_date=date(2024, 1, 31),
        anchor_day=31,
        periods=months,
        net_days=10,
        policy=policy.id,
        suspend_at_level=suspend_at_level,
    )


async def simulate_months(
    stack: Stack,
    input: SubscriptionInput,
    late: int | None,
    on_period: Callable[[int, list[dict[str, Any]]], None] | None = None,
) -> MonthsRun:
    """Issue every period; pay each invoice at once except `late`, paid after it suspended."""
    driver = SubscriptionDriver(stack)
    sub, send = input.subscription, input.policy.send_time
    handle = await driver.start(input)
    paid_late = False
    for n in range(1, (sub.periods or 0) + 1):
        await driver.advance(handle, issue_instant(sub, n, send) + timedelta(minutes=1))
        await driver.issued(handle)
        actions = driver.service_actions(sub.subscription_id)
        if late is not None and not paid_late and actions:
            # Suspended: now the late invoice is paid, and a later look restores the service.
            moment = await driver.business_now(
                driver.invoice(period_invoice(sub, late).workflow_id)
            )
            await driver.pay(period_invoice(sub, late).workflow_id, _payment(sub, late, moment))
            paid_late = True
        if n == late:
            child = driver.invoice(period_invoice(sub, n).workflow_id)
            level_at = first_check_at(sub, input.policy, n) - timedelta(minutes=30)
            await driver.advance(child, level_at)
            await driver.until(child, publishes_level(sub.suspend_at_level))
        else:
            moment = issue_instant(sub, n, send) + timedelta(minutes=1)
            await driver.pay(period_invoice(sub, n).workflow_id, _payment(sub, n, moment))
        if on_period is not None:
            on_period(n, actions)
    last = max(first_check_at(sub, input.policy, n) for n in range(1, (sub.periods or 0) + 1))
    await driver.advance(handle, last + timedelta(days=2))
    final: SubscriptionView = await handle.result()
    runs = await runs_of(driver, handle.id)
    children = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for run in runs
        for e in run
        if e.event_type == CHILD_STARTED
    ]
    return MonthsRun(
        subscription_id=sub.subscription_id,
        months=sub.periods or 0,
        late_period=late,
        invoices_issued=final.issued,
        distinct_invoice_workflows=len(set(children)),
        runs=len(runs),
        events_per_run_max=max(len(r) for r in runs),
        service_actions=driver.service_actions(sub.subscription_id),
        final=final,
    )


def _payment(sub: Subscription, n: int, at: datetime) -> PaymentReceived:
    return PaymentReceived(
        payment_id=f"{sub.subscription_id}-pay-{n}", amount=sub.amount, received_at=at
    )
