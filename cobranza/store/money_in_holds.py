"""Which invoices reconciliation has already held for each money-in exception, and which
customers it still owes a release.

Holding a payer is done invoice by invoice against the workflow service, which may fail part
way. Each invoice decided is recorded, and the exception is marked finished once all were: a
later run (the next reconcile, a webhook redelivery) holds only what is left, and never pauses
again an invoice a person resumed while the exception was open.

Releasing is owed from the moment an exception is resolved until every pause reconciliation
made on the customer is lifted: the exception is already closed, so this row is the only
thing left that says the customer must still be resumed (by the next reconcile or resolution).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Engine, UniqueConstraint, delete, select
from sqlmodel import Field, SQLModel

from cobranza.store.money_in import ensure_money_in_tables
from cobranza.store.store import Store
from cobranza.store.tables import _instant

PAUSED = "paused"
ALREADY_PAUSED = "already paused"
NOT_PAUSABLE = "not pausable"


class ExceptionHoldRow(SQLModel, table=True):
    """One invoice decided while holding an exception's payer: paused, already paused, or not
    pausable (closed, disputed, promised)."""

    __tablename__ = "money_in_holds"
    __table_args__ = (UniqueConstraint("exception_id", "workflow_id", name="uq_money_in_hold"),)

    id: int | None = Field(default=None, primary_key=True)
    exception_id: int = Field(index=True)
    workflow_id: str
    outcome: str
    at: datetime = _instant()


class HoldFinishedRow(SQLModel, table=True):
    """Every open invoice of the exception's payer was decided: nothing is left to hold."""

    __tablename__ = "money_in_holds_finished"

    exception_id: int = Field(primary_key=True)
    at: datetime = _instant()


class ReleaseOwedRow(SQLModel, table=True):
    """A customer whose money no longer waits but whose reconciliation pauses may still stand."""

    __tablename__ = "money_in_releases_owed"
    __table_args__ = (UniqueConstraint("tenant", "customer_id", name="uq_money_in_release"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    customer_id: str
    why: str
    at: datetime = _instant()


_created: weakref.WeakSet[Engine] = weakref.WeakSet()
_creating = threading.Lock()


def ensure_hold_tables(store: Store) -> None:
    """Create the tables once per engine."""
    if store.engine in _created:
        return
    with _creating:
        if store.engine not in _created:
            ensure_money_in_tables(store)
            tables = [
                ExceptionHoldRow.__table__,  # type: ignore[attr-defined]
                HoldFinishedRow.__table__,  # type: ignore[attr-defined]
                ReleaseOwedRow.__table__,  # type: ignore[attr-defined]
            ]
            SQLModel.metadata.create_all(store.engine, tables=tables)
            _created.add(store.engine)


def decided(store: Store, exception_id: int) -> set[str]:
    """Workflow ids already decided for the exception."""
    ensure_hold_tables(store)
    table = ExceptionHoldRow.__table__  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        query = select(table.c.workflow_id).where(table.c.exception_id == exception_id)
        return set(conn.execute(query).scalars())


def record_decision(store: Store, exception_id: int, workflow_id: str, outcome: str) -> None:
    ensure_hold_tables(store)
    values = {
        "exception_id": exception_id,
        "workflow_id": workflow_id,
        "outcome": outcome,
        "at": datetime.now(UTC),
    }
    with store._writing() as conn:
        store._insert_ignoring(conn, ExceptionHoldRow, values, ["exception_id", "workflow_id"])


def finish(store: Store, exception_id: int) -> None:
    ensure_hold_tables(store)
    values = {"exception_id": exception_id, "at": datetime.now(UTC)}
    with store._writing() as conn:
        store._insert_ignoring(conn, HoldFinishedRow, values, ["exception_id"])


def finished(store: Store, exception_ids: Iterable[int]) -> set[int]:
    """Those of the exceptions whose hold is finished."""
    ensure_hold_tables(store)
    wanted = list(exception_ids)
    if not wanted:
        return set()
    table = HoldFinishedRow.__table__  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        query = select(table.c.exception_id).where(table.c.exception_id.in_(wanted))
        return set(conn.execute(query).scalars())


def owe_release(store: Store, tenant: str, customer_id: str, why: str) -> None:
    """Record that the customer is to be released; the first reason given stays."""
    ensure_hold_tables(store)
    values = {"tenant": tenant, "customer_id": customer_id, "why": why, "at": datetime.now(UTC)}
    with store._writing() as conn:
        store._insert_ignoring(conn, ReleaseOwedRow, values, ["tenant", "customer_id"])


def releases_owed(store: Store) -> list[tuple[str, str, str]]:
    """(tenant, customer_id, why) of every release still owed, oldest first."""
    ensure_hold_tables(store)
    table = ReleaseOwedRow.__table__  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        query = select(table.c.tenant, table.c.customer_id, table.c.why).order_by(table.c.id)
        return [(t, c, w) for t, c, w in conn.execute(query)]


def release_done(store: Store, tenant: str, customer_id: str) -> None:
    """Nothing of the customer's is left paused by reconciliation: no release is owed."""
    ensure_hold_tables(store)
    table = ReleaseOwedRow.__table__  # type: ignore[attr-defined]
    with store._writing() as conn:
        conn.execute(
            delete(table).where(table.c.tenant == tenant, table.c.customer_id == customer_id)
        )
