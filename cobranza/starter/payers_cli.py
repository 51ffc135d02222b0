"""`cobranza payers add` and `cobranza invoices reference`: what reconciliation recognises money by.

A statement line matches an invoice by its number, by a reference registered here (CFDI UUID,
RF creditor reference, payment reference) or, without one, by amount and a payer name or
account registered here for the invoice's customer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, NoReturn, TypeVar

import typer

from cobranza.starter.money_in_cli import DatabaseUrl
from cobranza.starter.store_snapshot import no_store_there, store_label
from cobranza.store.money_in_payers import (
    PayerKind,
    Registered,
    UnknownCustomer,
    UnknownInvoice,
    register_payers,
    register_references,
)
from cobranza.store.store import Store

payers_app = typer.Typer(no_args_is_help=True, help="Names and accounts customers pay from.")
invoices_app = typer.Typer(no_args_is_help=True, help="Invoices in the store.")

Tenant = Annotated[str, typer.Option("--tenant", help="tenant of the customer or invoice")]
_T = TypeVar("_T")


@payers_app.command("add")
def add_payer(
    tenant: Tenant,
    customer: Annotated[str, typer.Option("--customer", help="customer id the money is for")],
    name: Annotated[
        list[str] | None, typer.Option("--name", help="name on the transfer (repeatable)")
    ] = None,
    account: Annotated[
        list[str] | None,
        typer.Option("--account", help="account the transfer comes from (repeatable)"),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Recognise transfers from these names or accounts as the customer's money."""
    if not name and not account:
        _refuse("payers add: give --name or --account (each repeatable)")
    _non_empty("--tenant", [tenant])
    _non_empty("--customer", [customer])
    _non_empty("--name", name or [])
    _non_empty("--account", account or [])
    given: list[tuple[PayerKind, list[str]]] = [("name", name or []), ("account", account or [])]

    def register(store: Store) -> list[tuple[PayerKind, Registered]]:
        return [
            (kind, register_payers(store, tenant, customer, kind, values))
            for kind, values in given
            if values
        ]

    try:
        done = _in_store("payers add", database_url, register)
    except UnknownCustomer as exc:
        _fail(f"--customer: {exc} {store_label(database_url)}")
    whose = f"customer {customer} (tenant {tenant})"
    for kind, registered in done:
        _report(registered, f"payer {kind}", whose)


@invoices_app.command("reference")
def add_references(
    references: Annotated[
        list[str],
        typer.Argument(metavar="REF", help="CFDI UUID, RF creditor reference or payment reference"),
    ],
    tenant: Tenant,
    invoice: Annotated[str, typer.Option("--invoice", help="invoice id the references pay")],
    database_url: DatabaseUrl = None,
) -> None:
    """Let statement lines carrying any of these references pay the invoice."""
    _non_empty("--tenant", [tenant])
    _non_empty("--invoice", [invoice])
    _non_empty("REF", references)
    try:
        done = _in_store(
            "invoices reference",
            database_url,
            lambda store: register_references(store, tenant, invoice, references),
        )
    except UnknownInvoice as exc:
        _fail(f"--invoice: {exc} {store_label(database_url)}")
    _report(done, "reference", f"invoice {invoice} (tenant {tenant})")


def _in_store(command: str, database_url: str | None, work: Callable[[Store], _T]) -> _T:
    """Run work against an existing store; a SQLite file that is not there is not created."""
    missing = no_store_there(database_url)
    if missing is not None:
        _fail(f"{command}: {missing}")
    store = Store.from_url(database_url)
    try:
        store.create_all()
        return work(store)
    finally:
        store.dispose()


def _report(registered: Registered, what: str, whose: str) -> None:
    for value in registered.added:
        typer.echo(f"registered {what} {value!r} for {whose}")
    for value in registered.known:
        typer.echo(f"{what} {value!r} was already registered for {whose}")


def _non_empty(option: str, values: list[str]) -> None:
    if any(not v.strip() for v in values):
        _refuse(f"{option}: must not be empty")


def _refuse(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `payers` and `invoices` to the main command."""
    app.add_typer(payers_app, name="payers")
    app.add_typer(invoices_app, name="invoices")
