"""`cobranza exceptions`: list the money-in exceptions queue, confirm or reassign an exception."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from cobranza.reconciliation.exception_resolution import (
    Resolution,
    ResolutionError,
    ResolutionRequest,
    check_resolution,
    exception_summary,
    resolve,
)
from cobranza.starter.console import stdout_console
from cobranza.starter.money_in_cli import DatabaseUrl, TemporalAddress
from cobranza.starter.store_snapshot import no_store_there
from cobranza.starter.temporal_connect import TemporalUnreachable, connect_named
from cobranza.store import money_in
from cobranza.store.store import Store


class StatusShown(StrEnum):
    """The statuses `exceptions list --status` accepts; typer refuses any other, naming these."""

    OPEN = money_in.EXCEPTION_OPEN
    CONFIRMED = money_in.EXCEPTION_CONFIRMED
    REASSIGNED = money_in.EXCEPTION_REASSIGNED
    ALL = "all"


exceptions_app = typer.Typer(no_args_is_help=True, help="Money a person must look at.")


@exceptions_app.command("list")
def list_exceptions(
    status: Annotated[
        StatusShown, typer.Option(help="which exceptions: open, confirmed, reassigned or all")
    ] = StatusShown.OPEN,
    as_json_flag: Annotated[bool, typer.Option("--json")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The exceptions queue, oldest first, with age in days."""
    missing = no_store_there(database_url)
    if missing is not None:
        typer.echo(f"{missing}: no exceptions", err=True)
        raise typer.Exit(1)
    store = Store.from_url(database_url)
    try:
        store.create_all()
        rows = money_in.exceptions(
            store, status=None if status is StatusShown.ALL else status.value
        )
    finally:
        store.dispose()
    now = datetime.now(UTC)
    data = [exception_summary(r, now) for r in rows]
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
    stdout_console().print(table)


def _resolve_cli(
    request: ResolutionRequest, database_url: str | None, temporal_address: str
) -> None:
    exception_id = request.exception_id
    missing = no_store_there(database_url)
    if missing is not None:
        typer.echo(f"exception {exception_id}: {missing}", err=True)
        raise typer.Exit(1)
    store = Store.from_url(database_url)
    try:
        store.create_all()
        # The store's answer first: "no exception 99" is the news, whether or not the workflow
        # service is up.
        check_resolution(store, request)

        async def go() -> Resolution:
            client = await connect_named(temporal_address)
            return await resolve(store, client, request)

        done = asyncio.run(go())
    except (ResolutionError, TemporalUnreachable) as exc:
        typer.echo(f"exception {exception_id}: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.dispose()
    out = stdout_console()
    out.print(f"exception {exception_id} {done.status} by {request.actor}: {request.note}")
    for m in done.matches:
        out.print(f"matched {m.invoice_id}: {m.amount} (payment {m.payment_id})")
    if done.unallocated is not None:
        out.print(f"left unallocated: {done.unallocated}")
    for workflow_id in done.resumed:
        out.print(f"resumed {workflow_id}")
    for workflow_id in done.kept_paused:
        out.print(f"still paused (not by reconciliation): {workflow_id}")
    for error in done.errors:
        typer.echo(f"exception {exception_id}: {error}", err=True)
    if done.errors:
        # Resolved, but not all done: a script must not take it for a clean success.
        raise typer.Exit(1)


ExceptionId = Annotated[
    int, typer.Argument(metavar="EXCEPTION_ID", help="the id `exceptions list` shows")
]


@exceptions_app.command("confirm")
def confirm(
    exception_id: ExceptionId,
    actor: Annotated[str, typer.Option(help="who decided")],
    note: Annotated[str, typer.Option(help="why: refund, not ours, settled outside, ...")],
    database_url: DatabaseUrl = None,
    temporal_address: TemporalAddress = "127.0.0.1:7233",
) -> None:
    """Close an exception as it stands (no invoice gets the money) and release the holds."""
    request = ResolutionRequest(exception_id=exception_id, actor=actor, note=note)
    _resolve_cli(request, database_url, temporal_address)


@exceptions_app.command("reassign")
def reassign(
    exception_id: ExceptionId,
    actor: Annotated[str, typer.Option(help="who decided")],
    invoice: Annotated[
        list[str] | None, typer.Option(help="invoice to credit (repeat for several)")
    ] = None,
    customer: Annotated[
        str | None, typer.Option(help="or: this customer's open invoices, oldest due first")
    ] = None,
    note: Annotated[str, typer.Option(help="why")] = "reassigned",
    tenant: Annotated[str | None, typer.Option(help="tenant of the invoices")] = None,
    database_url: DatabaseUrl = None,
    temporal_address: TemporalAddress = "127.0.0.1:7233",
) -> None:
    """Give an exception's money to invoices (in order, each up to what it owes), post it."""
    if not invoice and customer is None:
        typer.echo("reassign: give --invoice (repeatable) or --customer", err=True)
        raise typer.Exit(2)
    request = ResolutionRequest(
        exception_id=exception_id,
        actor=actor,
        note=note,
        invoices=tuple(invoice or ()),
        customer_id=customer,
        tenant=tenant,
    )
    _resolve_cli(request, database_url, temporal_address)
