"""Gateway fixtures: one sandbox over loopback HTTP, emptied after each test, and the adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from cobranza.integrations.gateway import StripeGateway
from cobranza.integrations.sandbox.gateway import GatewayBook, gateway_book
from cobranza.integrations.sandbox.server import Sandbox


@pytest.fixture(scope="module")
def running_sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=11) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running_sandbox: Sandbox) -> Iterator[Sandbox]:
    yield running_sandbox
    book = gateway_book(running_sandbox.state)
    book.release()  # no answer stays held past its test
    running_sandbox.knobs.error_rate = 0.0
    running_sandbox.reset()


@pytest.fixture
def book(sandbox: Sandbox) -> GatewayBook:
    return gateway_book(sandbox.state)


@pytest.fixture
async def gateway(sandbox: Sandbox) -> AsyncIterator[StripeGateway]:
    async with StripeGateway.for_sandbox(sandbox.http_url, timeout=5.0) as adapter:
        yield adapter
