"""`cobranza report`: the collection report of a live store, as tables, JSON and HTML."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import inspect

from cobranza.starter.console import stdout_console
from cobranza.starter.money_in_cli import DatabaseUrl
from cobranza.starter.store_snapshot import no_store_there, read_only_store, store_label
from cobranza.store.report_model import CollectionReport
from cobranza.store.report_request import (
    ReportRequestError,
    default_as_of,
    parse_as_of,
    report_for,
)
from cobranza.store.report_views import emit_report
from cobranza.store.schema_upgrade import StoreOutOfDate
from cobranza.store.tables import InvoiceRow


def report(
    tenant: Annotated[
        str | None, typer.Option(help="only this tenant's invoices (default: every tenant)")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="the instant the report speaks for: ISO 8601 with a UTC offset, or a date "
            "(the end of that day in UTC); default: now",
        ),
    ] = None,
    report_json: Annotated[Path | None, typer.Option(help="write the report as JSON")] = None,
    report_html: Annotated[Path | None, typer.Option(help="write the report as HTML")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Aging, DSO, outcomes, recovery and money in, read from the store; writes nothing to it."""
    try:
        instant = parse_as_of(as_of, default_as_of())
    except ReportRequestError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    built = _read_report(database_url, instant, tenant)
    note = f"store: {store_label(database_url)}"
    emit_report(built, stdout_console(), report_json, report_html, note=note)


def _read_report(database_url: str | None, as_of: datetime, tenant: str | None) -> CollectionReport:
    """The report from the store at database_url; exits 1 naming the store when there is none.

    Read through read_only_store, as reconcile --dry-run: a read-only role on a server database
    is enough, and a SQLite file is left as it was.
    """
    missing = no_store_there(database_url)
    if missing is not None:
        typer.echo(f"{missing}: no report", err=True)
        raise typer.Exit(1)
    try:
        with read_only_store(database_url) as store:
            # get_table_names, not has_table: the temporary stand-ins a server database gets
            # for missing tables are not in it, so an empty server database is still no store.
            tables = inspect(store.engine).get_table_names() if store is not None else []
            if store is None or InvoiceRow.__tablename__ not in tables:
                label = store_label(database_url)
                typer.echo(f"store: {label} holds no cobranza store: no report", err=True)
                raise typer.Exit(1)
            return report_for(store, as_of, tenant)
    except ReportRequestError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    except StoreOutOfDate as exc:
        typer.echo(f"{exc}: no report", err=True)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    """Add `report` to the main command."""
    app.command("report")(report)
