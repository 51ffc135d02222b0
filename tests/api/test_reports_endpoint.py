"""GET /reports on loopback: the report `cobranza report` writes, as JSON, behind the token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from store.reconciled_store import AS_OF, build_store

from cobranza.api.reports import reports_router
from cobranza.api.server import ApiServer
from cobranza.store import Store

TOKEN = "reports-test-token"


@pytest_asyncio.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = Store.from_url(build_store(tmp_path / "store.db"))
    app = FastAPI()
    app.include_router(reports_router(store, TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with (
            ApiServer(app) as server,
            httpx.AsyncClient(base_url=server.url, headers=auth, timeout=30) as client,
        ):
            yield client
    finally:
        store.dispose()


async def test_the_report_with_money_in_as_json(http: httpx.AsyncClient) -> None:
    answer = await http.get("/reports", params={"tenant": "acme", "as_of": AS_OF.isoformat()})

    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["tenant"] == "acme" and data["amount_invoiced"] == {"MXN": "350.00"}
    assert data["money_in"]["matched_by_rule"]["exact_reference"]["amount"] == {"MXN": "100.00"}
    assert data["money_in"]["unmatched"]["MXN"]["amount"] == "40.00"


async def test_the_default_as_of_is_a_whole_second_as_in_cobranza_report(
    http: httpx.AsyncClient,
) -> None:
    before = datetime.now(UTC)

    answer = await http.get("/reports")

    assert answer.status_code == 200, answer.text
    as_of = datetime.fromisoformat(answer.json()["as_of"])
    assert as_of.microsecond == 0 and before <= as_of <= datetime.now(UTC) + timedelta(seconds=1)


async def test_without_the_token_nothing_is_shown(http: httpx.AsyncClient) -> None:
    answer = await http.get("/reports", headers={"Authorization": ""})

    assert answer.status_code == 401 and "money_in" not in answer.text


@pytest.mark.parametrize(
    ("params", "field"),
    [({"as_of": "2025-06-15T18:00:00"}, "as_of"), ({"tenant": "nobody"}, "tenant")],
)
async def test_bad_input_is_422_naming_the_field(
    http: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    answer = await http.get("/reports", params=params)

    assert answer.status_code == 422 and answer.json()["field"] == field
