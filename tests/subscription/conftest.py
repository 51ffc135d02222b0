"""The local stack (dev server with per-workflow time, sandbox, SQLite store, the worker) and the
driver that moves a subscription and its invoices, each on its own virtual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from cobranza.starter.stack import Stack, local_stack
from cobranza.starter.subscription_sim import SubscriptionDriver


@pytest_asyncio.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    db = tmp_path_factory.mktemp("subscriptions") / "store.db"
    async with local_stack(
        temporal_db=None,
        database_url=f"sqlite:///{db}",
        task_queue="subscriptions",
        fast_timers=True,
    ) as started:
        yield started


@pytest.fixture
def driver(stack: Stack) -> SubscriptionDriver:
    return SubscriptionDriver(stack)
