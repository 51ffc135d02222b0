"""The local stack (dev server with per-workflow time, sandbox, SQLite store, the worker) and a
driver that moves a subscription and its invoices, each on its own virtual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowContinuedAsNewError, WorkflowHandle
from temporalio.testing._timeskipping import TimeSkipper, TimeSkippingConfig

from cobranza.domain.billing import SubscriptionInput, issue_instant
from cobranza.domain.invoice import PaymentReceived
from cobranza.starter.stack import Stack, local_stack
from cobranza.workflows.invoice import InvoiceCollectionWorkflow
from cobranza.workflows.subscription import (
    RecurringBillingWorkflow,
    subscription_search_attributes,
)


@pytest_asyncio.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    db = tmp_path_factory.mktemp("subscriptions") / "store.db"
    async with local_stack(
        temporal_db=None, database_url=f"sqlite:///{db}", task_queue="subscriptions"
    ) as started:
        yield started


# A wait on the server that takes longer than this is a bug, not a slow machine.
WAIT_LIMIT_S = 60


class Driver:
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
        raise AssertionError(f"run {self.run_ids[-1]} of {handle.id} ended without issuing")

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


@pytest.fixture
def driver(stack: Stack) -> Driver:
    return Driver(stack)
