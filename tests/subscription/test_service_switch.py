"""The ERP service switch over real HTTP: one action per idempotency key, no-op when unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cobranza.integrations.erp_services import HttpServiceControl
from cobranza.integrations.errors import IdempotencyConflict
from cobranza.integrations.sandbox.server import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=11) as running:
        yield running


def actions(sandbox: Sandbox) -> list[tuple[str, str, int]]:
    answer = httpx.get(f"{sandbox.http_url}/sandbox/erp/service_actions")
    answer.raise_for_status()
    return [(a["service_id"], a["action"], a["period"]) for a in answer.json()]


async def test_suspend_and_restore_once_per_key(sandbox: Sandbox) -> None:
    fields = {"customer_id": "C-1", "invoice_id": "SUB-1-0003", "period": 3, "reason": "level 1"}
    async with HttpServiceControl(sandbox.http_url) as erp:
        first = await erp.switch("suspend", "SUB-1", "k:suspend-3", **fields)
        again = await erp.switch("suspend", "SUB-1", "k:suspend-3", **fields)  # a retry
        assert (first.state, first.changed) == ("suspended", True)
        assert again == first
        # Another key while already suspended: answered, nothing changes, nothing recorded.
        other = await erp.switch("suspend", "SUB-1", "k:suspend-4", **{**fields, "period": 4})
        assert (other.state, other.changed) == ("suspended", False)
        restored = await erp.switch("restore", "SUB-1", "k:restore-3", **fields)
        assert (restored.state, restored.changed) == ("active", True)
        with pytest.raises(IdempotencyConflict, match="k:restore-3"):
            await erp.switch("restore", "SUB-1", "k:restore-3", **{**fields, "reason": "other"})
    assert actions(sandbox) == [("SUB-1", "suspend", 3), ("SUB-1", "restore", 3)]
    sandbox.reset()
    assert actions(sandbox) == []
