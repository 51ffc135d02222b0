"""Database engines for the store: SQLite by default, PostgreSQL when DATABASE_URL says so."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import StaticPool

DEFAULT_SQLITE_PATH = Path(".cobranza") / "cobranza.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Execution option that marks a connection about to write, so SQLite takes the write lock
# at BEGIN instead of failing with "database is locked" when a reader upgrades mid-way.
WRITE_OPTION = "cobranza_write"


def resolve_url(url: str | None) -> str:
    """The URL to use: the one given, else DATABASE_URL, else the local SQLite file."""
    if url:
        return url
    from_env = os.environ.get("DATABASE_URL", "").strip()
    if from_env:
        return from_env
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def make_engine(url: str | None = None) -> Engine:
    """An engine that is safe to share between the threads of one worker process."""
    resolved = make_url(resolve_url(url))
    if resolved.drivername in ("postgresql", "postgres"):
        # A bare postgresql:// would ask for psycopg2; psycopg 3 is what is installed.
        resolved = resolved.set(drivername="postgresql+psycopg")
    if resolved.get_backend_name() != "sqlite":
        return create_engine(resolved, pool_pre_ping=True)
    database = resolved.database
    in_memory = not database or database == ":memory:"
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if in_memory:
        # Each new connection to :memory: is a new, empty database: share one.
        kwargs["poolclass"] = StaticPool
    elif database:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(resolved, **kwargs)
    _make_sqlite_concurrent(engine, wal=not in_memory)
    return engine


def _make_sqlite_concurrent(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own BEGIN handling defers locks and ignores BEGIN IMMEDIATE; take it over.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if wal:
            # WAL lets readers (reports) run while an activity writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        writing = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")
