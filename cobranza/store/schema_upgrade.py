"""A store written by an earlier version: the columns it lacks, added or named.

New columns are nullable (old rows get NULL) and are added in place; a new required column
cannot be invented for old rows, so a store lacking one is refused, naming it. Commands that
only read (a report, a dry run) cannot add anything to a server database: they name what is
missing and the command that adds it, `cobranza store upgrade`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, Table, inspect, text

UPGRADE_COMMAND = "cobranza store upgrade"


Missing = list[tuple[Table, Column[Any]]]  # (table, column) the database's table lacks


class StoreOutOfDate(RuntimeError):
    """A store written by an earlier version lacks columns this one reads."""


def missing_columns(engine: Engine, tables: Sequence[Table]) -> Missing:
    """The columns of `tables` the database's tables of those names lack (a table it lacks
    altogether is not counted: creating it is create_all's work)."""
    inspector = inspect(engine)
    missing = []
    for table in tables:
        if not inspector.has_table(table.name):
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        missing += [(table, column) for column in table.columns if column.name not in present]
    return missing


def refuse_if_out_of_date(
    engine: Engine, missing: Missing, *, nullable_ok: bool, label: str | None = None
) -> None:
    """Raise StoreOutOfDate naming the store (`label`, else the engine's URL) and what it
    lacks (`missing_columns`): a required column always, nullable ones too unless
    `nullable_ok` (they can be added in place)."""
    shown = label or _shown(engine)
    for table, column in missing:
        if not column.nullable:
            raise StoreOutOfDate(
                f"store {shown}: table {table.name!r} has no column {column.name!r}, which is "
                "required: migrate or start a new store"
            )
    if missing and not nullable_ok:
        named = ", ".join(f"{table.name}.{column.name}" for table, column in missing)
        raise StoreOutOfDate(
            f"store {shown}: written by an earlier version, it lacks {named}, and this command "
            f"only reads it: run `{UPGRADE_COMMAND} --database-url URL` once to add them"
        )


def _shown(engine: Engine) -> str:
    """The store as a user names it: a SQLite file by its absolute path, a server database by
    its URL without the password."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return str(Path(str(url.database)).resolve())
    return url.render_as_string(hide_password=True)


def add_missing_columns(
    engine: Engine, tables: Sequence[Table], *, label: str | None = None
) -> list[str]:
    """Add the nullable columns `tables` lack, after refusing (before any is added) a store
    lacking a required one. Returns the `table.column` names added."""
    missing = missing_columns(engine, tables)
    refuse_if_out_of_date(engine, missing, nullable_ok=True, label=label)
    return add_columns(engine, missing)


def add_columns(engine: Engine, missing: Missing) -> list[str]:
    """Add these (nullable) columns; their `table.column` names."""
    with engine.begin() as conn:
        for table, column in missing:
            kind = column.type.compile(dialect=engine.dialect)
            conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'))
    return [f"{table.name}.{column.name}" for table, column in missing]
