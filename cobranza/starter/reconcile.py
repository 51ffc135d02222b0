"""`cobranza reconcile`: match a statement, post the matches, queue the rest as exceptions.

A confirmed match becomes a `payment_received` signal to the invoice's workflow (payment id
derived from the entry, so a repeat is a no-op there too; the workflow posts it to the ERP
once). An exception opens a CRM task and pauses the customer's open invoices (actor
"reconciliation") until a person confirms or reassigns it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from cobranza.domain.matching import Outcome
from cobranza.domain.money import Money
from cobranza.domain.statements import Statement, StatementFileError, StatementLine
from cobranza.integrations.http_clients import HttpCrm
from cobranza.reconciliation.exception_tasks import DEFAULT_CRM_URL
from cobranza.reconciliation.statement_run import (
    Reconciliation,
    against_nothing,
    apply,
    reconcile_statement,
)
from cobranza.starter.console import stdout_console
from cobranza.starter.exceptions_cli import exceptions_app
from cobranza.starter.money_in_cli import DatabaseUrl, TemporalAddress
from cobranza.starter.store_snapshot import read_only_store, store_label
from cobranza.starter.temporal_connect import TemporalUnreachable, connect_named
from cobranza.store.schema_upgrade import StoreOutOfDate
from cobranza.store.store import Store

# What --format accepts: the readers' names, and the names banks and standards use for them.
FORMAT_NAMES = ("camt", "mt940", "bai2", "ofx", "cnab240", "cnab400", "spei_cep", "cfdi", "csv")
FORMAT_ALIASES = {"camt.053": "camt", "camt.054": "camt", "camt053": "camt", "camt054": "camt"}


def format_name(given: str | None) -> str | None:
    """The reader a --format value names; any other name exits 2 listing the accepted ones."""
    if given is None:
        return None
    name = FORMAT_ALIASES.get(given.strip().lower(), given.strip().lower())
    if name not in FORMAT_NAMES:
        accepted = ", ".join([*FORMAT_NAMES, *FORMAT_ALIASES])
        typer.echo(f"--format: {given!r} is not one of {accepted}", err=True)
        raise typer.Exit(2)
    return name


def load_statement(path: Path, fmt: str | None = None, mapping: Path | None = None) -> Statement:
    """Read a bank file or payment evidence with the importers of integrations/bank_files."""
    # Imported here: the readers pull in lxml, satcfdi and friends only when a file is read.
    from cobranza.integrations import bank_files

    if path.is_dir():
        raise StatementFileError(str(path), None, "a directory: give one statement file")
    if not path.is_file():
        raise StatementFileError(str(path), None, "no such file")
    kwargs: dict[str, Any] = {"format": fmt}
    if mapping is not None:
        kwargs["mapping"] = bank_files.CsvMapping.from_yaml(mapping)
    return bank_files.read_statement(path, **kwargs)


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


@dataclass
class StoreUsed:
    """The store a run read, as the output names it."""

    label: str
    exists: bool

    def as_json(self) -> dict[str, Any]:
        return {"url": self.label, "exists": self.exists}

    def describe(self) -> str:
        if self.exists:
            return f"store: {self.label}"
        return (
            f"store: {self.label} does not exist: matched against no open invoices and "
            "created nothing (run where `cobranza up` ran, or pass --database-url)"
        )


# -- commands --------------------------------------------------------------------------------

CrmUrl = Annotated[str, typer.Option("--crm-url", help="base URL of the CRM (default: sandbox)")]


def reconcile(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="bank statement or payment evidence file")
    ],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="match and print; write and signal nothing (no store there: matched against "
            "no open invoices, and none is created)",
        ),
    ] = False,
    as_json_flag: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=f"{', '.join(FORMAT_NAMES)}; camt.053 and camt.054 name camt (default: detect)",
        ),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="column mapping YAML for a CSV file")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="match only this tenant's invoices")] = None,
    database_url: DatabaseUrl = None,
    temporal_address: TemporalAddress = "127.0.0.1:7233",
    crm_url: CrmUrl = DEFAULT_CRM_URL,
) -> None:
    """Match a statement against open invoices, post the matches and queue the exceptions.

    Nothing is written until the workflow service answers at --temporal-address.
    """
    statement = _read_statement(file, fmt, mapping, as_json_flag)
    used = StoreUsed(store_label(database_url), exists=True)
    if dry_run:
        try:
            run = _match_only(statement, tenant, database_url, used)
        except StoreOutOfDate as exc:
            _fail(str(exc), as_json_flag, code=1)
    else:
        run = _match_and_post(
            statement, tenant, database_url, temporal_address, crm_url, as_json_flag
        )
    if as_json_flag:
        sys.stdout.write(json.dumps({**as_json(run), "store": used.as_json()}, indent=2) + "\n")
    else:
        out = stdout_console()
        print_run(run, out)
        out.print(used.describe())
    if run.errors:
        raise typer.Exit(1)


def _read_statement(
    file: Path, fmt: str | None, mapping: Path | None, json_output: bool
) -> Statement:
    """The statement in FILE; exits 2 naming the file, line and reason when it cannot be read."""
    try:
        return load_statement(file, format_name(fmt), mapping)
    except StatementFileError as exc:
        # Readers name the file by its name; the user gave a path, so show that one.
        shown = str(file) if exc.file == file.name else exc.file
        where = f"{shown}:{exc.line}" if exc.line is not None else shown
        _fail(f"{where}: {exc.reason}", json_output, code=2)


def _fail(reason: str, json_output: bool, *, code: int) -> NoReturn:
    """Stop with `reason` on stderr and, for --json, as the one error of an object with no
    lines, so a script reading stdout learns why, not just that nothing came."""
    typer.echo(reason, err=True)
    if json_output:
        failed = {"lines": [], "errors": [reason], "store": None}
        sys.stdout.write(json.dumps(failed, indent=2) + "\n")
    raise typer.Exit(code)


def _match_only(
    statement: Statement, tenant: str | None, database_url: str | None, used: StoreUsed
) -> Reconciliation:
    """--dry-run: match against the store if it exists (noting whether in `used`), write nothing."""
    with read_only_store(database_url) as store:
        used.exists = store is not None
        return (
            reconcile_statement(store, statement, tenant=tenant, dry_run=True)
            if store is not None
            else against_nothing(statement)
        )


def _match_and_post(
    statement: Statement,
    tenant: str | None,
    database_url: str | None,
    address: str,
    crm_url: str,
    json_output: bool,
) -> Reconciliation:
    """Match, post and queue; exits 1, having written nothing, if Temporal cannot be reached."""
    try:
        return asyncio.run(_reconcile(statement, tenant, database_url, address, crm_url))
    except (TemporalUnreachable, StoreOutOfDate) as exc:
        _fail(str(exc), json_output, code=1)


async def _reconcile(
    statement: Statement, tenant: str | None, database_url: str | None, address: str, crm_url: str
) -> Reconciliation:
    # Connected before anything is written: lines stored by a run that then cannot reach the
    # workflow service would count as imported on the next run.
    client = await connect_named(address)
    store = Store.from_url(database_url)
    try:
        store.create_all()
        run = await asyncio.to_thread(reconcile_statement, store, statement, tenant=tenant)
        async with HttpCrm(crm_url) as crm:
            await apply(store, client, crm, run)
    finally:
        store.dispose()
    return run


def register(app: typer.Typer) -> None:
    """Add `reconcile` and `exceptions` to the main command."""
    app.command("reconcile")(reconcile)
    app.add_typer(exceptions_app, name="exceptions")
