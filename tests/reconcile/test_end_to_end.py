"""Reconciliation end to end: real workflows on the dev server, sandbox CRM/ERP, SQLite store.

1. The CFDI 4.0 PPD invoice runs as an InvoiceCollectionWorkflow; its Pagos 2.0 complement is
   reconciled by the invoice's UUID, the workflow closes and posts the payment to the ERP once;
   importing the complement again changes nothing.
2. A camt.053 statement with one grouped transfer (two invoices named in the remittance text)
   and one partial payment (creditor reference): both invoices of the group close, the third
   records the partial and stays open.
3. An unmatched transfer from a known payer opens a CRM task and holds that customer's open
   invoices (paused by "reconciliation") until a person reassigns the money.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from cobranza.activities import names
from cobranza.domain.invoice import Customer, Invoice, InvoiceStatus, ResumeRequest
from cobranza.domain.matching import Rule
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, Statement, StatementLine
from cobranza.domain.views import CollectionInput
from cobranza.integrations.bank_files.camt import read_camt
from cobranza.integrations.bank_files.cfdi import read_cfdi_invoice, read_cfdi_payment
from cobranza.integrations.http_clients import HttpCrm
from cobranza.reconciliation.exception_resolution import ResolutionRequest, resolve
from cobranza.reconciliation.statement_run import apply, reconcile_statement
from cobranza.starter.policy_catalog import read_policy_file
from cobranza.starter.reconcile import as_json
from cobranza.starter.stack import Stack, local_stack
from cobranza.store import money_in
from cobranza.workflows.invoice import InvoiceCollectionWorkflow, start_search_attributes

ROOT = Path(__file__).resolve().parents[1]
CFDI = ROOT / "fixtures" / "money_in" / "cfdi40"
HERE = Path(__file__).resolve().parent / "fixtures"
POLICY = ROOT.parent / "cobranza" / "policies" / "standard.yaml"


@pytest_asyncio.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    db = tmp_path_factory.mktemp("reconcile") / "store.db"
    async with local_stack(
        temporal_db=None, database_url=f"sqlite:///{db}", fast_timers=True
    ) as started:
        yield started


def customer(tenant: str, customer_id: str, name: str) -> Customer:
    return Customer(
        tenant=tenant,
        customer_id=customer_id,
        name=name,
        email=f"{customer_id.lower()}@example.com",
        country="MX",
        timezone="America/Mexico_City",
        locale="es_MX",
    )


def invoice(who: Customer, invoice_id: str, amount: Money, issued: datetime) -> Invoice:
    return Invoice(
        invoice_id=invoice_id,
        customer=who,
        amount=amount,
        issued_on=issued.date(),
        due_on=issued.date() + timedelta(days=30),
    )


async def until(
    handle: WorkflowHandle[Any, Any], seen: Callable[[list[HistoryEvent]], bool]
) -> None:
    """Follow the workflow's history (long poll, no sleeping) until `seen` holds."""
    events: list[HistoryEvent] = []
    async with asyncio.timeout(60):  # a bound on a broken run, not a wait for the condition
        async for event in handle.fetch_history_events(wait_new_event=True):
            events.append(event)
            if seen(events):
                return
    raise AssertionError(f"{handle.id}: history ended before the condition held")


def completed(activity: str, times: int = 1) -> Callable[[list[HistoryEvent]], bool]:
    def check(events: list[HistoryEvent]) -> bool:
        kinds = {
            e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
            for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        }
        done = [
            e
            for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            and kinds.get(e.activity_task_completed_event_attributes.scheduled_event_id) == activity
        ]
        return len(done) >= times

    return check


async def start_issued(stack: Stack, invoices: list[Invoice]) -> list[WorkflowHandle[Any, Any]]:
    """Start each lifecycle two business days before issue, then move it past the issue."""
    policy = read_policy_file(POLICY)
    epoch = min(datetime.combine(i.issued_on, datetime.min.time(), UTC) for i in invoices)
    offset = datetime.now(UTC) - (epoch - timedelta(days=2))
    handles = []
    for inv in invoices:
        input = CollectionInput(
            invoice=inv,
            policy=policy,
            clock_offset=offset,
            contact_gate=False,
            task_queue=stack.task_queue,
        )
        handle = await stack.env.client.start_workflow(
            InvoiceCollectionWorkflow.run,
            input,
            id=inv.workflow_id,
            task_queue=stack.task_queue,
            search_attributes=start_search_attributes(input),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        await stack.env.fast_forward(handle, timedelta(days=3))
        await until(handle, completed(names.CREATE_PAYMENT_LINK))
        handles.append(handle)
    return handles


def payment_postings(stack: Stack, workflow_id: str) -> list[str | None]:
    return [
        p.payment_id
        for p in stack.sandbox.postings()
        if p.kind == "payment" and (p.idempotency_key or "").startswith(f"{workflow_id}:")
    ]


def _refunded(exception_id: int | None) -> ResolutionRequest:
    """Ana confirms an exception as it stands: the money was refunded."""
    assert exception_id is not None
    return ResolutionRequest(exception_id=exception_id, actor="ana", note="refunded")


async def reconcile(
    stack: Stack, statement: Statement, tenant: str, client: Client | None = None
) -> Any:
    run = reconcile_statement(stack.store, statement, tenant=tenant)
    async with HttpCrm(stack.sandbox.http_url) as crm:
        await apply(stack.store, client or stack.env.client, crm, run)
    return run


async def test_cfdi_ppd_invoice_closed_by_its_pagos_complement(stack: Stack) -> None:
    cfdi = read_cfdi_invoice(CFDI / "ingreso_ppd_stamped.xml")
    assert cfdi.metodo_pago == "PPD"
    who = customer("cfdi", cfdi.receptor_rfc, "KIJ, S.A DE C.V.")
    inv = invoice(who, f"{cfdi.serie}-{cfdi.folio}", cfdi.total, cfdi.issued_at)
    [handle] = await start_issued(stack, [inv])
    money_in.add_invoice_references(stack.store, inv.workflow_id, [cfdi.uuid])

    pagos = read_cfdi_payment(CFDI / "pago20_for_ingreso_ppd.xml")
    run = await reconcile(stack, pagos, "cfdi")

    [line] = as_json(run)["lines"]
    assert line["match"] == {
        "rule": "exact_reference",
        "confidence": 1.0,
        "invoices": [{"invoice_id": "A-123456", "amount": "17852.75"}],
    }
    assert (line["amount"], line["currency"], line["reference"]) == (
        "17852.75",
        "MXN",
        cfdi.uuid,
    )
    result = await handle.result()
    assert result.view.status is InvoiceStatus.PAID
    [payment_id] = payment_postings(stack, inv.workflow_id)
    assert payment_id == run.posted[0]
    assert stack.store.count_payments(workflow_id=inv.workflow_id) == 1

    again = await reconcile(stack, read_cfdi_payment(CFDI / "pago20_for_ingreso_ppd.xml"), "cfdi")
    assert again.results == [] and again.posted == []
    assert list(again.known) == [pagos.lines[0].entry_id]
    assert again.imported is not None and again.imported.new_entries == []
    assert as_json(again)["lines"][0]["match"]["invoices"] == line["match"]["invoices"]
    assert payment_postings(stack, inv.workflow_id) == [payment_id]
    assert money_in.count_entries(stack.store) >= 1 and money_in.exceptions(stack.store) == []


async def test_statement_with_a_grouped_and_a_partial_payment(stack: Stack) -> None:
    who = customer("camt", "GOMEZ", "Ferreteria Gomez SA de CV")
    issued = datetime(2026, 4, 1, tzinfo=UTC)
    invoices = [
        invoice(who, "G-1", Money.parse("100.00", "MXN"), issued),
        invoice(who, "G-2", Money.parse("250.00", "MXN"), issued),
        invoice(who, "G-3", Money.parse("400.00", "MXN"), issued),
    ]
    g1, g2, g3 = await start_issued(stack, invoices)

    run = await reconcile(stack, read_camt(HERE / "grouped_partial.camt053.xml"), "camt")

    grouped, partial = as_json(run)["lines"]
    assert grouped["match"]["rule"] == "grouped"
    assert grouped["match"]["invoices"] == [
        {"invoice_id": "G-1", "amount": "100.00"},
        {"invoice_id": "G-2", "amount": "250.00"},
    ]
    assert partial["match"] == {
        "rule": "partial",
        "confidence": 0.9,
        "invoices": [{"invoice_id": "G-3", "amount": "150.00"}],
    }
    assert (await g1.result()).view.status is InvoiceStatus.PAID
    assert (await g2.result()).view.status is InvoiceStatus.PAID
    await until(g3, completed(names.POST_TO_ERP))
    view = await g3.query(InvoiceCollectionWorkflow.status)
    assert (view.status, view.paid, view.outstanding) == (InvoiceStatus.OPEN, "150.00", "250.00")
    assert (await g3.describe()).status == WorkflowExecutionStatus.RUNNING
    for inv in invoices:
        assert len(payment_postings(stack, inv.workflow_id)) == 1, inv.invoice_id

    again = await reconcile(stack, read_camt(HERE / "grouped_partial.camt053.xml"), "camt")
    assert again.posted == [] and again.imported is not None and again.imported.matches == []
    assert sum(len(payment_postings(stack, i.workflow_id)) for i in invoices) == 3


async def test_a_transfer_from_the_customers_own_name_matches_by_amount(stack: Stack) -> None:
    """Nothing registered: the name the invoice carries for its customer is a payer's name."""
    who = customer("own-name", "SOTO", "Soto Hermanos, S.A. de C.V.")
    issued = datetime(2026, 4, 1, tzinfo=UTC)
    inv = invoice(who, "S-1", Money.parse("321.00", "MXN"), issued)
    [handle] = await start_issued(stack, [inv])
    paid = StatementLine(
        source="manual.csv",
        line=2,
        entry_id="own-name-1",
        account="0001",
        direction=Direction.CREDIT,
        amount=Money.parse("321.00", "MXN"),
        booked_on=issued.date() + timedelta(days=5),
        counterparty_name="SOTO HERMANOS SA DE CV",
    )

    run = await reconcile(
        stack, Statement(source="manual.csv", format="csv", lines=(paid,)), "own-name"
    )

    [result] = run.results
    assert result.rule is Rule.AMOUNT_CUSTOMER and result.customer_id == "SOTO"
    assert run.posted and run.errors == []
    await until(handle, completed(names.POST_TO_ERP))
    view = await handle.query(InvoiceCollectionWorkflow.status)
    assert view.status is InvoiceStatus.PAID


async def test_unmatched_money_holds_the_customer_until_reassigned(stack: Stack) -> None:
    who = customer("hold", "ROJAS", "Rojas y Asociados")
    issued = datetime(2026, 4, 1, tzinfo=UTC)
    inv = invoice(who, "R-1", Money.parse("500.00", "MXN"), issued)
    [handle] = await start_issued(stack, [inv])
    money_in.add_customer_alias(stack.store, "hold", "ROJAS", kind="name", value=who.name)
    odd = StatementLine(
        source="manual.csv",
        line=2,
        entry_id="hold-1",
        account="0001",
        direction=Direction.CREDIT,
        amount=Money.parse("123.45", "MXN"),
        booked_on=issued.date() + timedelta(days=5),
        counterparty_name="ROJAS Y ASOCIADOS",
    )
    statement = Statement(source="manual.csv", format="csv", lines=(odd,))

    run = await reconcile(stack, statement, "hold")

    assert run.imported is not None
    [row] = run.imported.exceptions
    assert (row.customer_id, row.tenant) == ("ROJAS", "hold")
    assert run.held == [inv.workflow_id]
    view = await handle.query(InvoiceCollectionWorkflow.status)
    assert view.status is InvoiceStatus.PAUSED
    [task] = [t for t in stack.sandbox.tasks() if t.kind == "unmatched_payment"]
    assert task.customer_id == "ROJAS" and "123.45" in task.title
    [stored] = money_in.exceptions(stack.store, customer_id="ROJAS")
    assert stored.crm_task_id == task.id

    assert row.id is not None
    decision = ResolutionRequest(
        exception_id=row.id, actor="ana", note="customer called", invoices=("R-1",)
    )
    done = await resolve(stack.store, stack.env.client, decision)
    assert [(m.invoice_id, str(m.amount.to_decimal())) for m in done.matches] == [("R-1", "123.45")]
    assert (done.resumed, done.kept_paused) == ([inv.workflow_id], [])
    await until(handle, completed(names.POST_TO_ERP))
    view = await handle.query(InvoiceCollectionWorkflow.status)
    assert (view.status, view.paid) == (InvoiceStatus.OPEN, "123.45")
    assert money_in.exceptions(stack.store, status=money_in.EXCEPTION_OPEN) == []


async def test_a_task_the_crm_refused_is_opened_by_the_next_reconcile(stack: Stack) -> None:
    """The CRM answers 503 while a statement is reconciled: the exception is kept without a
    task and the run says so; re-importing the same file (nothing new in it) opens the task."""
    issued = datetime(2026, 4, 1, tzinfo=UTC)
    stray = StatementLine(
        source="stray.csv",
        line=2,
        entry_id="stray-1",
        account="0001",
        direction=Direction.CREDIT,
        amount=Money.parse("77.70", "MXN"),
        booked_on=issued.date(),
        counterparty_name="Nadie Conocido",
    )
    statement = Statement(source="stray.csv", format="csv", lines=(stray,))
    knobs_url = f"{stack.sandbox.http_url}/sandbox/knobs"
    async with httpx.AsyncClient() as http:
        before = (await http.get(knobs_url)).json()
        assert (await http.put(knobs_url, json={**before, "error_rate": 1.0})).is_success
        try:
            first = await reconcile(stack, statement, "stray")
        finally:
            assert (await http.put(knobs_url, json=before)).is_success

    assert first.imported is not None
    [row] = first.imported.exceptions
    assert [e for e in first.errors if "CRM task not opened" in e]
    assert not [t for t in stack.sandbox.tasks() if "77.70" in t.title]
    [kept] = [r for r in money_in.exceptions(stack.store) if r.id == row.id]
    assert kept.crm_task_id is None

    again = await reconcile(stack, statement, "stray")

    assert again.imported is not None and again.imported.exceptions == []
    assert again.errors == []
    [task] = [t for t in stack.sandbox.tasks() if "77.70" in t.title]
    [kept] = [r for r in money_in.exceptions(stack.store) if r.id == row.id]
    assert kept.crm_task_id == task.id


async def test_a_hold_the_workflow_service_failed_is_placed_by_the_next_reconcile(
    stack: Stack, failing_service: Client
) -> None:
    """The workflow service fails while a payer's money is queued: the run says the payer is
    not held yet; the next run (same file, nothing new in it) holds them; a person then resumes
    an invoice while the money still waits, and a third run leaves it resumed."""
    who = customer("retry", "LUNA", "Luna Hermanos")
    issued = datetime(2026, 4, 1, tzinfo=UTC)
    first_invoice, second_invoice = (
        invoice(who, n, Money.parse("300.00", "MXN"), issued) for n in ("L-1", "L-2")
    )
    handles = await start_issued(stack, [first_invoice, second_invoice])
    money_in.add_customer_alias(stack.store, "retry", "LUNA", kind="name", value=who.name)
    odd = StatementLine(
        source="luna.csv",
        line=2,
        entry_id="luna-1",
        account="0001",
        direction=Direction.CREDIT,
        amount=Money.parse("42.00", "MXN"),
        booked_on=issued.date() + timedelta(days=5),
        counterparty_name="LUNA HERMANOS",
    )
    statement = Statement(source="luna.csv", format="csv", lines=(odd,))

    first = await reconcile(stack, statement, "retry", client=failing_service)

    assert first.held == []
    [error] = first.errors
    assert "payer not held yet" in error and "the next run holds it" in error
    for handle in handles:
        view = await handle.query(InvoiceCollectionWorkflow.status)
        assert view.status is InvoiceStatus.OPEN

    again = await reconcile(stack, statement, "retry")

    assert again.errors == [] and sorted(again.held) == sorted(h.id for h in handles)
    for handle in handles:
        view = await handle.query(InvoiceCollectionWorkflow.status)
        assert view.status is InvoiceStatus.PAUSED

    await handles[0].execute_update(
        InvoiceCollectionWorkflow.resume, ResumeRequest(actor="ana", reason="customer called")
    )
    third = await reconcile(stack, statement, "retry")

    assert third.errors == [] and third.held == []
    view = await handles[0].query(InvoiceCollectionWorkflow.status)
    assert view.status is InvoiceStatus.OPEN


async def test_a_release_the_workflow_service_failed_is_made_by_the_next_reconcile(
    stack: Stack, failing_service: Client
) -> None:
    """The workflow service fails while a person resolves the payer's money: the exception is
    resolved, the answer says the invoice is not resumed yet, and the next reconcile run (the
    same file, nothing new in it) resumes it."""
    who = customer("release", "VEGA", "Vega Transportes")
    issued = datetime(2026, 4, 1, tzinfo=UTC)
    [handle] = await start_issued(stack, [invoice(who, "V-1", Money.parse("80.00", "MXN"), issued)])
    money_in.add_customer_alias(stack.store, "release", "VEGA", kind="name", value=who.name)
    odd = StatementLine(
        source="vega.csv",
        line=2,
        entry_id="vega-1",
        account="0001",
        direction=Direction.CREDIT,
        amount=Money.parse("9.90", "MXN"),
        booked_on=issued.date() + timedelta(days=5),
        counterparty_name="VEGA TRANSPORTES",
    )
    statement = Statement(source="vega.csv", format="csv", lines=(odd,))
    run = await reconcile(stack, statement, "release")
    assert run.held == [handle.id]
    assert run.imported is not None
    [row] = run.imported.exceptions
    assert row.id is not None

    done = await resolve(stack.store, failing_service, _refunded(row.id))

    assert done.status == money_in.EXCEPTION_CONFIRMED and done.resumed == []
    [error] = done.errors
    assert f"{handle.id} not resumed yet" in error and "the next reconcile" in error
    assert (
        money_in.exceptions(stack.store, status=money_in.EXCEPTION_OPEN, customer_id="VEGA") == []
    )
    assert (await handle.query(InvoiceCollectionWorkflow.status)).status is InvoiceStatus.PAUSED

    again = await reconcile(stack, statement, "release")

    assert again.errors == []
    assert (await handle.query(InvoiceCollectionWorkflow.status)).status is InvoiceStatus.OPEN
    third = await reconcile(stack, statement, "release")
    assert third.errors == []
    await handle.terminate("test over")


async def test_a_release_the_workflow_service_failed_is_made_by_the_next_resolution(
    stack: Stack, failing_service: Client
) -> None:
    """As above, but the next thing to run is a person resolving another payer's money."""
    issued = datetime(2026, 4, 1, tzinfo=UTC)
    first, second = customer("owed", "PAZ", "Paz Hermanos"), customer("owed", "RUIZ", "Ruiz SA")
    [paz] = await start_issued(stack, [invoice(first, "P-1", Money.parse("60.00", "MXN"), issued)])
    [ruiz] = await start_issued(
        stack, [invoice(second, "U-1", Money.parse("70.00", "MXN"), issued)]
    )
    ids = []
    for who, entry_id in ((first, "owed-1"), (second, "owed-2")):
        money_in.add_customer_alias(
            stack.store, "owed", who.customer_id, kind="name", value=who.name
        )
        line = StatementLine(
            source="owed.csv",
            line=2,
            entry_id=entry_id,
            account="0001",
            direction=Direction.CREDIT,
            amount=Money.parse("1.00", "MXN"),
            booked_on=issued.date() + timedelta(days=5),
            counterparty_name=who.name.upper(),
        )
        run = await reconcile(
            stack, Statement(source="owed.csv", format="csv", lines=(line,)), "owed"
        )
        assert run.imported is not None
        [row] = run.imported.exceptions
        ids.append(row.id)

    failed = await resolve(stack.store, failing_service, _refunded(ids[0]))
    assert [e for e in failed.errors if "not resumed yet" in e]
    assert (await paz.query(InvoiceCollectionWorkflow.status)).status is InvoiceStatus.PAUSED

    done = await resolve(stack.store, stack.env.client, _refunded(ids[1]))

    assert (done.resumed, done.errors) == ([ruiz.id], [])
    for handle in (paz, ruiz):
        assert (await handle.query(InvoiceCollectionWorkflow.status)).status is InvoiceStatus.OPEN
        await handle.terminate("test over")
