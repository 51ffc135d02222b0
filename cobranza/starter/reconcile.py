"""`cobranza reconcile` and `cobranza exceptions`: match a statement, post matches, queue the rest.

A confirmed match becomes a `payment_received` signal to the invoice's workflow (payment id
derived from the entry, so a repeat is a no-op there too; the workflow posts it to the ERP
once). An exception opens a CRM task and pauses the customer's open invoices (actor
"reconciliation") until a person confirms or reassigns it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from cobranza.domain.invoice import InvoiceStatus, PauseRequest, PaymentReceived, ResumeRequest
from cobranza.domain.matching import LineMatch, OpenItem, Outcome, match_lines
from cobranza.domain.money import Money
from cobranza.domain.statements import Statement, StatementFileError, StatementLine
from cobranza.integrations.errors import IntegrationError
from cobranza.integrations.http_clients import HttpCrm
from cobranza.starter.temporal_env import connect
from cobranza.store import money_in
from cobranza.store.money_in import MatchRow, MoneyInExceptionRow, StatementEntryRow
from cobranza.store.store import Store
from cobranza.workflows.invoice import InvoiceCollectionWorkflow

ACTOR = "reconciliation"
DEFAULT_CRM_URL = "http://127.0.0.1:8700"  # the sandbox of `cobranza up`
out = Console()
err = Console(stderr=True)


def load_statement(path: Path, fmt: str | None = None, mapping: Path | None = None) -> Statement:
    """Read a bank file or payment evidence with the importers of integrations/bank_files."""
    # Imported here: the readers pull in lxml, satcfdi and friends only when a file is read.
    from cobranza.integrations import bank_files

    if not path.is_file():
        raise StatementFileError(str(path), None, "no such file")
    kwargs: dict[str, Any] = {"format": fmt}
    if mapping is not None:
        kwargs["mapping"] = bank_files.CsvMapping.from_yaml(mapping)
    return bank_files.read_statement(path, **kwargs)


def received_at(day: date) -> datetime:
    """A booking date as an instant: noon UTC, the same calendar day in every American zone."""
    return datetime.combine(day, time(12, 0), UTC)


# -- matching and recording ------------------------------------------------------------------


@dataclass
class Reconciliation:
    """One statement matched against the store: new lines' results and what was known."""

    statement: Statement
    results: list[LineMatch]
    known: dict[str, StatementEntryRow]
    known_matches: dict[str, list[MatchRow]]
    imported: money_in.ImportResult | None = None
    posted: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def reconcile_statement(
    store: Store, statement: Statement, *, tenant: str | None = None, dry_run: bool = False
) -> Reconciliation:
    """Match the lines not imported before; unless dry_run, record entries, matches, exceptions."""
    known = money_in.known_entries(store, [ln.entry_id for ln in statement.lines])
    fresh = [ln for ln in statement.lines if ln.entry_id not in known]
    results = match_lines(fresh, money_in.open_items(store, tenant))
    run = Reconciliation(
        statement=statement,
        results=results,
        known=known,
        known_matches=money_in.matches_of(store, list(known)),
    )
    if not dry_run:
        run.imported = money_in.record_import(store, results, datetime.now(UTC))
    return run


async def post_matches(store: Store, client: Client) -> tuple[list[str], list[str]]:
    """Signal every unposted match to its workflow; (posted payment ids, errors)."""
    posted, errors = [], []
    for match in money_in.unposted_matches(store):
        payment = PaymentReceived(
            payment_id=match.payment_id,
            amount=match.amount,
            received_at=received_at(match.booked_on),
            method="transfer",
            reference=match.entry_id,
        )
        handle = client.get_workflow_handle(match.workflow_id)
        try:
            await handle.signal(InvoiceCollectionWorkflow.payment_received, payment)
        except RPCError as exc:
            errors.append(f"{match.payment_id}: {match.workflow_id}: {exc.message}")
            continue
        money_in.mark_posted(store, match.payment_id, datetime.now(UTC))
        posted.append(match.payment_id)
    return posted, errors


async def open_exception_tasks(
    store: Store, crm: HttpCrm, rows: Sequence[MoneyInExceptionRow]
) -> list[str]:
    errors = []
    for row in rows:
        if row.crm_task_id is not None or row.id is None:
            continue
        candidates = row.payload.get("candidates") or []
        title = f"Unmatched money {row.amount or ''} ref {row.reference or '-'}: {row.reason}"
        try:
            task_id = await crm.create_task(
                idempotency_key=f"money-in-exception-{row.source}-{row.key}",
                customer_id=row.customer_id or "unknown",
                invoice_id=candidates[0] if candidates else "unmatched",
                kind="unmatched_payment",
                title=title[:200],
                body=json.dumps({"exception": row.id, **row.payload}, sort_keys=True),
            )
        except IntegrationError as exc:
            errors.append(f"exception {row.id}: CRM task not opened: {exc}")
            continue
        money_in.set_crm_task(store, row.id, task_id)
    return errors


def _customer_invoices(store: Store, tenant: str, customer_id: str) -> list[str]:
    return [
        s.workflow_id
        for s in store.invoices(tenant)
        if s.customer_id == customer_id and not s.status.is_closed
    ]


async def hold_customer(store: Store, client: Client, row: MoneyInExceptionRow) -> list[str]:
    """Pause the customer's open invoices while their money waits for a person."""
    if row.customer_id is None or row.tenant is None:
        return []
    held = []
    reason = f"unmatched money in exception {row.id}: {row.reason}"[:500]
    for workflow_id in _customer_invoices(store, row.tenant, row.customer_id):
        snapshot = store.get_invoice(workflow_id)
        if snapshot is not None and snapshot.status is InvoiceStatus.PAUSED:
            continue
        handle = client.get_workflow_handle(workflow_id)
        try:
            await handle.execute_update(
                InvoiceCollectionWorkflow.pause, PauseRequest(actor=ACTOR, reason=reason)
            )
        except (WorkflowUpdateFailedError, RPCError):
            continue  # closed, disputed, promised: it is not sending reminders anyway
        held.append(workflow_id)
    return held


async def release_customer(
    store: Store, client: Client, tenant: str | None, customer_id: str | None, why: str
) -> list[str]:
    """Resume the customer's paused invoices once none of their money waits for a person."""
    if customer_id is None or tenant is None:
        return []
    waiting = [
        r
        for r in money_in.exceptions(store, status=money_in.EXCEPTION_OPEN, customer_id=customer_id)
        if r.tenant == tenant
    ]
    if waiting:
        return []
    resumed = []
    for workflow_id in _customer_invoices(store, tenant, customer_id):
        handle = client.get_workflow_handle(workflow_id)
        try:
            await handle.execute_update(
                InvoiceCollectionWorkflow.resume, ResumeRequest(actor=ACTOR, reason=why)
            )
        except (WorkflowUpdateFailedError, RPCError):
            continue
        resumed.append(workflow_id)
    return resumed


async def apply(store: Store, client: Client, crm: HttpCrm, run: Reconciliation) -> None:
    """Post the new matches and open tasks and holds for the new exceptions."""
    run.posted, errors = await post_matches(store, client)
    run.errors.extend(errors)
    new_exceptions = run.imported.exceptions if run.imported else []
    run.errors.extend(await open_exception_tasks(store, crm, new_exceptions))
    for row in new_exceptions:
        run.held.extend(await hold_customer(store, client, row))


async def resolve(
    store: Store,
    client: Client,
    exception_id: int,
    *,
    actor: str,
    note: str,
    invoices: Sequence[str] = (),
    tenant: str | None = None,
) -> tuple[list[MatchRow], list[str]]:
    """Confirm (no invoices) or reassign (to invoices) an open exception, then release holds."""
    row = money_in.get_exception(store, exception_id)
    if row is None:
        raise LookupError(f"no exception {exception_id}")
    if row.status != money_in.EXCEPTION_OPEN:
        raise ValueError(f"exception {exception_id} is already {row.status}")
    created: list[MatchRow] = []
    if invoices:
        amount = row.amount
        if amount is None:
            raise ValueError(f"exception {exception_id} has no amount to reassign")
        created = money_in.record_manual_matches(
            store, row.key, _allocate(store, amount, invoices, tenant or row.tenant), _now()
        )
    status = money_in.EXCEPTION_REASSIGNED if invoices else money_in.EXCEPTION_CONFIRMED
    resolution = {"note": note, "invoices": list(invoices)}
    money_in.resolve_exception(
        store, exception_id, status=status, actor=actor, resolution=resolution, at=_now()
    )
    await post_matches(store, client)
    why = f"exception {exception_id} {status} by {actor}: {note}"[:500]
    resumed = await release_customer(store, client, row.tenant, row.customer_id, why)
    return created, resumed


def _allocate(
    store: Store, amount: Money, invoices: Sequence[str], tenant: str | None
) -> list[tuple[OpenItem, Money]]:
    """The exception's money over the invoices named, in order, each up to what it owes."""
    items = {i.invoice_id: i for i in money_in.open_items(store, tenant)}
    left = amount.minor
    plan = []
    for invoice_id in invoices:
        item = items.get(invoice_id)
        if item is None:
            raise ValueError(f"invoice {invoice_id} is not open (tenant {tenant or 'any'})")
        if item.outstanding.currency != amount.currency:
            raise ValueError(
                f"invoice {invoice_id} is in {item.outstanding.currency}, not {amount.currency}"
            )
        take = min(left, item.outstanding.minor)
        if take > 0:
            plan.append((item, Money(minor=take, currency=amount.currency)))
            left -= take
    return plan


def _now() -> datetime:
    return datetime.now(UTC)


# -- output ----------------------------------------------------------------------------------


def _decimal(minor: int, currency: str) -> str:
    return str(Money(minor=minor, currency=currency).to_decimal())


def _line_json(line: StatementLine, match: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    return {
        "entry_id": line.entry_id,
        "line": line.line,
        "direction": line.direction.value,
        "amount": str(line.amount.to_decimal()),
        "currency": line.amount.currency,
        "booked_on": line.booked_on.isoformat(),
        "reference": line.reference,
        "match": match,
        **extra,
    }


def as_json(run: Reconciliation) -> dict[str, Any]:
    """One object: every statement entry in file order with its match (or null), and errors."""
    by_entry = {r.line.entry_id: r for r in run.results if r.outcome is not Outcome.DUPLICATE}
    lines = []
    for line in run.statement.lines:
        stored = run.known.get(line.entry_id)
        if stored is not None:
            rows = run.known_matches.get(line.entry_id, [])
            match = (
                {
                    "rule": stored.rule,
                    "confidence": stored.confidence,
                    "invoices": [
                        {"invoice_id": m.invoice_id, "amount": _decimal(m.amount_minor, m.currency)}
                        for m in rows
                    ],
                }
                if stored.rule
                else None
            )
            lines.append(_line_json(line, match, outcome=stored.outcome, imported_before=True))
            continue
        r = by_entry[line.entry_id]
        match = (
            {
                "rule": r.rule.value,
                "confidence": r.confidence,
                "invoices": [
                    {"invoice_id": a.invoice_id, "amount": str(a.amount.to_decimal())}
                    for a in r.allocations
                ],
            }
            if r.rule is not None
            else None
        )
        extra: dict[str, Any] = {"outcome": r.outcome.value, "imported_before": False}
        if r.credit is not None:
            extra["credit"] = str(r.credit.to_decimal())
        if r.reason:
            extra["reason"] = r.reason
        lines.append(_line_json(line, match, **extra))
    return {"lines": lines, "errors": list(run.errors)}


def print_run(run: Reconciliation, console: Console) -> None:
    table = Table(title=f"{run.statement.source} ({run.statement.format})")
    for column in ("line", "booked", "amount", "reference", "outcome", "rule", "invoices", "note"):
        table.add_column(column)
    data = as_json(run)
    for item in data["lines"]:
        match = item["match"] or {}
        invoices = ", ".join(f"{i['invoice_id']} {i['amount']}" for i in match.get("invoices", []))
        note = item.get("reason", "")
        if item.get("credit"):
            note = f"credit {item['credit']} {item['currency']}"
        if item["imported_before"]:
            note = "imported before: unchanged"
        table.add_row(
            str(item["line"]),
            item["booked_on"],
            f"{item['amount']} {item['currency']}",
            item["reference"] or "",
            item["outcome"],
            f"{match['rule']} ({match['confidence']:.2f})" if match else "",
            invoices,
            note,
        )
    console.print(table)
    for error in run.errors:
        console.print(f"[red]{error}[/red]")


# -- commands --------------------------------------------------------------------------------

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="store URL (default: DATABASE_URL or SQLite)")
]
TemporalAddress = Annotated[str, typer.Option("--temporal-address", help="Temporal frontend")]
CrmUrl = Annotated[str, typer.Option("--crm-url", help="base URL of the CRM (default: sandbox)")]


def reconcile(
    file: Annotated[Path, typer.Argument(help="bank statement or payment evidence file")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="match and print; write and signal nothing")
    ] = False,
    as_json_flag: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    fmt: Annotated[
        str | None, typer.Option("--format", help="camt.053, mt940, bai2, ... (default: detect)")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="column mapping YAML for a CSV file")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="match only this tenant's invoices")] = None,
    database_url: DatabaseUrl = None,
    temporal_address: TemporalAddress = "127.0.0.1:7233",
    crm_url: CrmUrl = DEFAULT_CRM_URL,
) -> None:
    """Match a statement against open invoices, post the matches and queue the exceptions."""
    try:
        statement = load_statement(file, fmt, mapping)
    except StatementFileError as exc:
        where = f"{exc.file}:{exc.line}" if exc.line is not None else exc.file
        typer.echo(f"{where}: {exc.reason}", err=True)
        raise typer.Exit(2) from None
    store = Store.from_url(database_url)
    try:
        store.create_all()
        run = reconcile_statement(store, statement, tenant=tenant, dry_run=dry_run)
        if not dry_run:
            asyncio.run(_apply(store, run, temporal_address, crm_url))
    finally:
        store.dispose()
    if as_json_flag:
        sys.stdout.write(json.dumps(as_json(run), indent=2) + "\n")
    else:
        print_run(run, out)
    if run.errors:
        raise typer.Exit(1)


async def _apply(store: Store, run: Reconciliation, address: str, crm_url: str) -> None:
    client = await connect(address)
    async with HttpCrm(crm_url) as crm:
        await apply(store, client, crm, run)


exceptions_app = typer.Typer(no_args_is_help=True, help="Money a person must look at.")


@exceptions_app.command("list")
def list_exceptions(
    status: Annotated[str | None, typer.Option(help="open, confirmed or reassigned")] = "open",
    as_json_flag: Annotated[bool, typer.Option("--json")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The exceptions queue, oldest first, with age in days."""
    store = Store.from_url(database_url)
    try:
        store.create_all()
        rows = money_in.exceptions(store, status=status)
    finally:
        store.dispose()
    now = _now()
    data: list[dict[str, Any]] = [
        {
            "id": r.id,
            "source": r.source,
            "key": r.key,
            "status": r.status,
            "amount": None if r.amount is None else str(r.amount.to_decimal()),
            "currency": r.currency,
            "reference": r.reference,
            "customer_id": r.customer_id,
            "reason": r.reason,
            "age_days": (now - r.queued_at).days,
            "crm_task_id": r.crm_task_id,
        }
        for r in rows
    ]
    if as_json_flag:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    table = Table(title="Money-in exceptions")
    for column in ("id", "age", "amount", "reference", "customer", "status", "reason"):
        table.add_column(column)
    for d in data:
        table.add_row(
            str(d["id"]),
            f"{d['age_days']}d",
            f"{d['amount'] or ''} {d['currency'] or ''}",
            str(d["reference"] or ""),
            str(d["customer_id"] or ""),
            str(d["status"]),
            str(d["reason"]),
        )
    out.print(table)


def _resolve_cli(
    exception_id: int,
    actor: str,
    note: str,
    invoices: Sequence[str],
    tenant: str | None,
    database_url: str | None,
    temporal_address: str,
) -> None:
    store = Store.from_url(database_url)
    try:
        store.create_all()

        async def go() -> tuple[list[MatchRow], list[str]]:
            client = await connect(temporal_address)
            return await resolve(
                store,
                client,
                exception_id,
                actor=actor,
                note=note,
                invoices=invoices,
                tenant=tenant,
            )

        created, resumed = asyncio.run(go())
    except (LookupError, ValueError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    finally:
        store.dispose()
    for m in created:
        out.print(f"matched {m.invoice_id}: {m.amount} (payment {m.payment_id})")
    for workflow_id in resumed:
        out.print(f"resumed {workflow_id}")


@exceptions_app.command("confirm")
def confirm(
    exception_id: int,
    actor: Annotated[str, typer.Option(help="who decided")],
    note: Annotated[str, typer.Option(help="why: refund, not ours, settled outside, ...")],
    database_url: DatabaseUrl = None,
    temporal_address: TemporalAddress = "127.0.0.1:7233",
) -> None:
    """Close an exception as it stands (no invoice gets the money) and release the holds."""
    _resolve_cli(exception_id, actor, note, (), None, database_url, temporal_address)


@exceptions_app.command("reassign")
def reassign(
    exception_id: int,
    invoice: Annotated[list[str], typer.Option(help="invoice to credit (repeat for several)")],
    actor: Annotated[str, typer.Option(help="who decided")],
    note: Annotated[str, typer.Option(help="why")] = "reassigned",
    tenant: Annotated[str | None, typer.Option(help="tenant of the invoices")] = None,
    database_url: DatabaseUrl = None,
    temporal_address: TemporalAddress = "127.0.0.1:7233",
) -> None:
    """Give an exception's money to invoices (in order, each up to what it owes), post it."""
    _resolve_cli(exception_id, actor, note, invoice, tenant, database_url, temporal_address)


def register(app: typer.Typer) -> None:
    """Add `reconcile` and `exceptions` to the main command."""
    app.command("reconcile")(reconcile)
    app.add_typer(exceptions_app, name="exceptions")
