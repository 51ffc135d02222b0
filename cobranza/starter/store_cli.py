"""`cobranza store upgrade`: bring a store written by an earlier version up to date, once."""

from __future__ import annotations

import typer

from cobranza.starter.money_in_cli import DatabaseUrl
from cobranza.starter.store_snapshot import no_store_there, store_label
from cobranza.store.schema_upgrade import StoreOutOfDate
from cobranza.store.store import Store

store_app = typer.Typer(no_args_is_help=True, help="The store itself.")


@store_app.command("upgrade")
def upgrade(database_url: DatabaseUrl = None) -> None:
    """Create the tables and add the columns this version reads that the store lacks.

    Reports and dry runs read a store as it is and cannot do this on a server database. A
    store lacking a required column is refused, naming it, and left unchanged.
    """
    missing = no_store_there(database_url)
    if missing is not None:
        typer.echo(f"{missing}: nothing to upgrade", err=True)
        raise typer.Exit(1)
    store = Store.from_url(database_url)
    try:
        added = store.create_all()
    except StoreOutOfDate as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    finally:
        store.dispose()
    done = f"added {', '.join(added)}" if added else "up to date"
    typer.echo(f"store {store_label(database_url)}: {done}")


def register(app: typer.Typer) -> None:
    """Add `store` and its `upgrade` to the main command."""
    app.add_typer(store_app, name="store")
