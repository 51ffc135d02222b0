"""Settings for the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from hypothesis import settings
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig

from cobranza.starter.temporal_env import NAMESPACE, start_server

# Property tests are judged on what they find, never on how fast a shared, loaded machine runs
# them (a per-example deadline made them fail under load), and they draw the same examples on
# every run so a result is reproducible.
settings.register_profile("cobranza", deadline=None, derandomize=True)
settings.load_profile("cobranza")


@pytest_asyncio.fixture
async def failing_service() -> AsyncIterator[Client]:
    """A client whose workflow service went away: connected to a dev server that then stopped,
    so every call fails at once with UNAVAILABLE (the SDK's retries cut to 100 ms)."""
    env = await start_server(time_skipping=False)
    client = await Client.connect(
        env.client.service_client.config.target_host,
        namespace=NAMESPACE,
        data_converter=pydantic_data_converter,
        retry_config=RetryConfig(
            initial_interval_millis=1, max_interval_millis=5, max_elapsed_time_millis=100
        ),
    )
    await env.shutdown()
    yield client
