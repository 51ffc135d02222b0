"""The exceptions queue over HTTP on loopback: list with age, confirm, reassign, bad input.

Real parts: dev server and worker, sandbox CRM/ERP, SQLite store, the ingress app served by
uvicorn. Also: resolving lifts only the pauses reconciliation made, never a person's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowHandle

from cobranza.activities import names
from cobranza.api.app import build_app
from cobranza.api.ingress import Ingress
from cobranza.api.server import ApiServer
from cobranza.api.settings import ApiSettings
from cobranza.domain.invoice import InvoiceStatus, PauseRequest
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, Statement, StatementLine
from cobranza.reconciliation.exception_resolution import last_pause
from cobranza.reconciliation.holds import hold_customer
from cobranza.starter.stack import Stack, local_stack
from cobranza.store import money_in, money_in_holds
from cobranza.workflows.invoice import InvoiceCollectionWorkflow

from .test_end_to_end import completed, customer, invoice, reconcile, start_issued, until

ISSUED = datetime(2026, 4, 1, tzinfo=UTC)
TOKEN = "support-test-token"


@dataclass
class Api:
    stack: Stack
    http: httpx.AsyncClient  # carries the support token
    url: str


@pytest_asyncio.fixture(scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    db = tmp_path_factory.mktemp("exceptions-api") / "store.db"
    async with local_stack(
        temporal_db=None, database_url=f"sqlite:///{db}", fast_timers=True
    ) as stack:
        ingress = Ingress(stack.env.client, stack.store, "default")
        server = ApiServer(build_app(ApiSettings(support_token=TOKEN), ingress))
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with server, httpx.AsyncClient(base_url=server.url, headers=auth, timeout=30) as http:
            yield Api(stack=stack, http=http, url=server.url)


def transfer(entry_id: str, amount: str, payer: str) -> Statement:
    line = StatementLine(
        source="api.csv",
        line=2,
        entry_id=entry_id,
        account="0001",
        direction=Direction.CREDIT,
        amount=Money.parse(amount, "MXN"),
        booked_on=ISSUED.date() + timedelta(days=5),
        counterparty_name=payer,
    )
    return Statement(source="api.csv", format="csv", lines=(line,))


async def unmatched_for(api: Api, tenant: str, customer_id: str, name: str, amount: str) -> int:
    """An unmatched transfer from a known payer, queued by a real reconcile run."""
    money_in.add_customer_alias(api.stack.store, tenant, customer_id, kind="name", value=name)
    run = await reconcile(api.stack, transfer(f"{tenant}-1", amount, name.upper()), tenant)
    assert run.imported is not None
    [row] = run.imported.exceptions
    exception_id: int | None = row.id
    assert exception_id is not None
    return exception_id


async def test_list_shows_open_exceptions_with_their_age(api: Api) -> None:
    money_in.queue_exception(
        api.stack.store,
        source="webhook:stripe",
        key="evt_old",
        reason="unknown invoice INV-404",
        amount=Money.parse("150.25", "MXN"),
        reference="INV-404",
        tenant="list",
        at=datetime.now(UTC) - timedelta(days=3, hours=1),
    )

    response = await api.http.get("/exceptions")

    assert response.status_code == 200, response.text
    [row] = [e for e in response.json()["exceptions"] if e["key"] == "evt_old"]
    assert (row["amount"], row["currency"], row["status"], row["age_days"]) == (
        "150.25",
        "MXN",
        "open",
        3,
    )
    bad = await api.http.get("/exceptions", params={"status": "lost"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"


async def test_reassign_over_http_pays_the_invoice_and_resumes_the_customer(api: Api) -> None:
    who = customer("reassign", "LUNA", "Luna Hermanos")
    inv = invoice(who, "L-1", Money.parse("500.00", "MXN"), ISSUED)
    [handle] = await start_issued(api.stack, [inv])
    exception_id = await unmatched_for(api, "reassign", "LUNA", who.name, "200.00")
    assert (await handle.query(InvoiceCollectionWorkflow.status)).status is InvoiceStatus.PAUSED

    response = await api.http.post(
        f"/exceptions/{exception_id}/reassign",
        json={"actor": "ana", "reason": "customer called", "customer_id": "LUNA"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "reassigned"
    assert [(m["invoice_id"], m["amount"]) for m in body["matches"]] == [("L-1", "200.00")]
    assert (body["resumed"], body["kept_paused"], body["errors"]) == ([inv.workflow_id], [], [])
    await until(handle, completed(names.POST_TO_ERP))
    view = await handle.query(InvoiceCollectionWorkflow.status)
    assert (view.status, view.paid) == (InvoiceStatus.OPEN, "200.00")

    again = await api.http.post(
        f"/exceptions/{exception_id}/confirm", json={"actor": "bob", "reason": "dup"}
    )
    assert again.status_code == 409 and again.json()["field"] == "exception_id"
    await handle.terminate("test over")


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("reassign", {"actor": "ana", "reason": "x", "invoices": ["NOPE-1"]}, 422, "invoices[0]"),
        ("reassign", {"actor": "ana", "reason": "x", "customer_id": "NOBODY"}, 422, "customer_id"),
        ("reassign", {"actor": "ana", "reason": "x", "invoices": ["A", "A"]}, 422, "invoices"),
        ("confirm", {"actor": " ", "reason": "x"}, 422, "actor"),
    ],
)
async def test_bad_input_names_the_field_and_changes_nothing(
    api: Api, path: str, body: dict[str, Any], status: int, field: str
) -> None:
    money_in.queue_exception(
        api.stack.store,
        source="webhook:stripe",
        key=f"evt_bad_{path}_{field}",
        reason="unknown invoice",
        amount=Money.parse("10.00", "MXN"),
        tenant="bad",
    )
    [row] = [r for r in money_in.exceptions(api.stack.store) if r.key == f"evt_bad_{path}_{field}"]

    response = await api.http.post(f"/exceptions/{row.id}/{path}", json=body)

    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert money_in.get_exception(api.stack.store, row.id or 0).status == "open"  # type: ignore[union-attr]


async def test_malformed_bodies_and_unknown_ids(api: Api) -> None:
    neither = await api.http.post("/exceptions/1/reassign", json={"actor": "a", "reason": "b"})
    missing = await api.http.post("/exceptions/1/confirm", json={"actor": "a"})
    unknown = await api.http.post("/exceptions/999999/confirm", json={"actor": "a", "reason": "b"})

    assert neither.status_code == 422 and "invoices or customer_id" in neither.text
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "reason"]
    assert unknown.status_code == 404 and unknown.json()["field"] == "exception_id"


async def test_confirm_lifts_only_the_pauses_reconciliation_made(api: Api) -> None:
    who = customer("mixed", "SOTO", "Soto Logistica")
    mine = invoice(who, "S-1", Money.parse("300.00", "MXN"), ISSUED)
    theirs = invoice(who, "S-2", Money.parse("400.00", "MXN"), ISSUED)
    held, paused_by_ana = await start_issued(api.stack, [mine, theirs])
    await paused_by_ana.execute_update(
        InvoiceCollectionWorkflow.pause, PauseRequest(actor="ana", reason="customer in hospital")
    )
    exception_id = await unmatched_for(api, "mixed", "SOTO", who.name, "50.00")
    assert (await held.query(InvoiceCollectionWorkflow.status)).status is InvoiceStatus.PAUSED

    response = await api.http.post(
        f"/exceptions/{exception_id}/confirm", json={"actor": "luis", "reason": "refunded"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["matches"]) == ("confirmed", [])
    assert body["resumed"] == [held.id]
    assert body["kept_paused"] == [paused_by_ana.id]
    assert (await held.query(InvoiceCollectionWorkflow.status)).status is InvoiceStatus.OPEN
    still = await paused_by_ana.query(InvoiceCollectionWorkflow.status)
    assert still.status is InvoiceStatus.PAUSED
    for handle in (held, paused_by_ana):
        await handle.terminate("test over")


async def test_a_person_pausing_over_reconciliations_hold_keeps_the_pause(api: Api) -> None:
    """Reconciliation holds the invoice; then a person pauses it too. Resolving the money
    must not lift the person's pause."""
    who = customer("over", "LARA", "Lara Textiles")
    [held] = await start_issued(
        api.stack, [invoice(who, "L-1", Money.parse("90.00", "MXN"), ISSUED)]
    )
    exception_id = await unmatched_for(api, "over", "LARA", who.name, "12.00")
    assert (await held.query(InvoiceCollectionWorkflow.status)).status is InvoiceStatus.PAUSED
    await held.execute_update(
        InvoiceCollectionWorkflow.pause, PauseRequest(actor="ana", reason="customer asked for time")
    )

    response = await api.http.post(
        f"/exceptions/{exception_id}/confirm", json={"actor": "luis", "reason": "refunded"}
    )

    assert response.status_code == 200, response.text
    assert (response.json()["resumed"], response.json()["kept_paused"]) == ([], [held.id])
    view = await held.query(InvoiceCollectionWorkflow.status)
    assert view.status is InvoiceStatus.PAUSED
    await held.terminate("test over")


class PersonPausesFirst:
    """A client on which every pause reconciliation sends lands just after a person paused the
    same invoice: the race a status query made before the update cannot see."""

    def __init__(self, client: Client, person: PauseRequest) -> None:
        self.client, self.person = client, person

    def get_workflow_handle(self, workflow_id: str) -> Any:
        return _PausedJustBefore(self.client.get_workflow_handle(workflow_id), self.person)


@dataclass
class _PausedJustBefore:
    handle: WorkflowHandle[Any, Any]
    person: PauseRequest

    async def query(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        return await self.handle.query(query, *args, **kwargs)

    async def execute_update(self, update: Any, arg: Any) -> Any:
        await self.handle.execute_update(InvoiceCollectionWorkflow.pause, self.person)
        return await self.handle.execute_update(update, arg)


async def test_a_person_pausing_just_before_reconciliations_hold_keeps_the_pause(
    api: Api,
) -> None:
    """A person pauses the invoice (until a date of theirs) between reconciliation's look and
    its pause: the hold takes nothing over, and resolving the money leaves the person's pause,
    date and all."""
    who = customer("race", "MORA", "Mora Textiles")
    [handle] = await start_issued(
        api.stack, [invoice(who, "M-1", Money.parse("90.00", "MXN"), ISSUED)]
    )
    store = api.stack.store
    money_in.queue_exception(
        store,
        source=money_in.STATEMENT_SOURCE,
        key="race-1",
        reason="no invoice matches",
        amount=Money.parse("5.00", "MXN"),
        customer_id="MORA",
        tenant="race",
    )
    [row] = money_in.exceptions(store, status=money_in.EXCEPTION_OPEN, customer_id="MORA")
    assert row.id is not None
    view = await handle.query(InvoiceCollectionWorkflow.status)
    until = view.as_of.date() + timedelta(days=7)
    ana = PauseRequest(actor="ana", reason="customer in hospital", until=until)
    ana_paused = f"paused by ana until {until}: customer in hospital"

    held = await hold_customer(store, PersonPausesFirst(api.stack.env.client, ana), row)  # type: ignore[arg-type]

    assert held == []
    assert money_in_holds.decided(store, row.id) == {handle.id}
    assert last_pause(await handle.query(InvoiceCollectionWorkflow.timeline)) == ana_paused
    response = await api.http.post(
        f"/exceptions/{row.id}/confirm", json={"actor": "luis", "reason": "refunded"}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["resumed"], response.json()["kept_paused"]) == ([], [handle.id])
    assert (await handle.query(InvoiceCollectionWorkflow.status)).status is InvoiceStatus.PAUSED
    assert last_pause(await handle.query(InvoiceCollectionWorkflow.timeline)) == ana_paused
    await handle.terminate("test over")


@pytest.mark.parametrize("authorization", [None, "Bearer not-the-token", f"Basic {TOKEN}"])
async def test_support_endpoints_refuse_a_request_without_the_token(
    api: Api, authorization: str | None
) -> None:
    """Nothing is listed or resolved for a caller without the token: 401, the row untouched."""
    key = f"evt_auth_{authorization}"
    money_in.queue_exception(
        api.stack.store,
        source="webhook:stripe",
        key=key,
        reason="unknown invoice INV-401",
        amount=Money.parse("10.00", "MXN"),
        tenant="auth",
        at=datetime.now(UTC),
    )
    [row] = [e for e in money_in.exceptions(api.stack.store) if e.key == key]
    headers = {} if authorization is None else {"Authorization": authorization}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as stranger:
        listed = await stranger.get("/exceptions")
        confirmed = await stranger.post(
            f"/exceptions/{row.id}/confirm", json={"actor": "eve", "reason": "mine now"}
        )

    for response in (listed, confirmed):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in response.json()["detail"]
    [still] = [e for e in money_in.exceptions(api.stack.store) if e.key == key]
    assert still.status == "open"


async def test_support_endpoints_are_off_without_a_configured_token(api: Api) -> None:
    ingress = Ingress(api.stack.env.client, api.stack.store, "default")
    async with (
        ApiServer(build_app(ApiSettings(), ingress)) as server,
        httpx.AsyncClient(base_url=server.url, headers=api.http.headers, timeout=30) as http,
    ):
        response = await http.get("/exceptions")

    assert response.status_code == 403, response.text
    assert response.json()["detail"] == (
        "COBRANZA_SUPPORT_TOKEN is not set: the support endpoints are off"
    )
