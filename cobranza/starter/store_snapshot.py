"""Which store a command uses, named for the user, and a copy of it a dry run may read freely."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import MetaData, create_engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel

from cobranza.store.engine import make_engine, resolve_url
from cobranza.store.schema_upgrade import (
    add_missing_columns,
    missing_columns,
    refuse_if_out_of_date,
)
from cobranza.store.store import Store
from cobranza.store.tables import STORE_TABLES


def store_label(url: str | None) -> str:
    """The store's URL as a user should see it: SQLite by absolute path, never a password."""
    resolved = make_url(resolve_url(url))
    path = sqlite_path(url)
    if path is not None:
        return str(path.resolve())
    return resolved.render_as_string(hide_password=True)


def sqlite_path(url: str | None) -> Path | None:
    """The file of a SQLite store; None for an in-memory or a server database."""
    resolved = make_url(resolve_url(url))
    if resolved.get_backend_name() != "sqlite" or resolved.database in (None, "", ":memory:"):
        return None
    return Path(resolved.database)


def no_store_there(url: str | None) -> str | None:
    """Why there is no store to read at url (a SQLite file that does not exist), else None."""
    path = sqlite_path(url)
    if path is None or path.is_file():
        return None
    return (
        f"store: {path.resolve()} does not exist (run where `cobranza up` ran, or pass "
        "--database-url)"
    )


@contextmanager
def read_only_store(url: str | None) -> Iterator[Store | None]:
    """The store for a dry run, or None when there is no SQLite file there (none is created).

    A SQLite store is copied into memory first: reading money-in data creates its tables when
    they are missing, and the copy takes that write, not the user's file, as it takes the
    columns a store written by an earlier version lacks. A server database is read in place
    over one connection whose transactions are all read only (_server_read_only); one that
    lacks columns raises StoreOutOfDate, naming them.
    """
    path = sqlite_path(url)
    if path is None and make_url(resolve_url(url)).get_backend_name() != "sqlite":
        store = _server_read_only(url)
    elif path is None:
        store = Store.from_url(url)
    elif not path.is_file():
        yield None
        return
    else:
        copy = sqlite3.connect(":memory:", check_same_thread=False)
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as source:
            source.backup(copy)
        store = Store(create_engine("sqlite://", creator=lambda: copy, poolclass=StaticPool))
        try:
            add_missing_columns(store.engine, list(STORE_TABLES), label=str(path.resolve()))
        except BaseException:
            store.dispose()
            raise
    try:
        yield store
    finally:
        store.dispose()


def _server_read_only(url: str | None) -> Store:
    """A server database for a dry run: one connection, every transaction on it read only, so
    nothing can be written. Tables it does not have yet (the money-in ones before a first
    import) stand in as empty temporary tables of that connection, gone when it closes."""
    engine = create_engine(make_engine(url).url, poolclass=StaticPool)
    with engine.begin() as conn:
        inspector = inspect(conn)
        scratch = MetaData()
        for table in SQLModel.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                stand_in = table.to_metadata(scratch)
                stand_in._prefixes = ["TEMPORARY"]
                stand_in.create(conn)
        conn.exec_driver_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    try:
        refuse_if_out_of_date(engine, missing_columns(engine, STORE_TABLES), nullable_ok=False)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)
