"""Integration fixtures: a running sandbox and the activities wired as the worker does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cobranza.activities.collection import CollectionActivities
from cobranza.integrations.sandbox.server import Sandbox
from cobranza.store.store import Store
from cobranza.worker import Endpoints, collection_activities


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=5) as running:
        yield running
        running.settle_deliveries()


@pytest.fixture
async def activities(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[CollectionActivities]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'store.db'}")
    store.create_all()
    async with collection_activities(store, Endpoints.for_sandbox(sandbox)) as built:
        yield built
