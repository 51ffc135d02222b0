"""Which store a command uses, named for the user, and a copy of it a dry run may read freely."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from cobranza.store.engine import resolve_url
from cobranza.store.store import Store


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
    they are missing, and the copy takes that write, not the user's file. A server database is
    read in place.
    """
    path = sqlite_path(url)
    if path is None:
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
        yield store
    finally:
        store.dispose()
