"""Money-in evidence: imported statement entries, their matches and the exceptions queue."""

from __future__ import annotations

import threading
import weakref
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Engine, Index, Table, UniqueConstraint, update
from sqlmodel import Field, Session, SQLModel, select

from cobranza.domain.money import Money
from cobranza.store.store import Store
from cobranza.store.tables import _instant, _minor

EXCEPTION_OPEN = "open"
EXCEPTION_CONFIRMED = "confirmed"
EXCEPTION_REASSIGNED = "reassigned"


class MoneyInExceptionRow(SQLModel, table=True):
    """Money a person must look at: unmatched, ambiguous or for an unknown invoice.

    (source, key) is the natural key: the same webhook event or statement entry queued twice
    stays one row.
    """

    __tablename__ = "money_in_exceptions"
    __table_args__ = (
        UniqueConstraint("source", "key", name="uq_money_in_exceptions_source_key"),
        Index("ix_money_in_exceptions_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str
    key: str
    reason: str
    amount_minor: int | None = _minor(nullable=True)
    currency: str | None = None
    reference: str | None = None
    customer_id: str | None = Field(default=None, index=True)
    tenant: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = EXCEPTION_OPEN
    queued_at: datetime = _instant()
    resolved_at: datetime | None = _instant(nullable=True)
    resolved_by: str | None = None
    resolution: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    crm_task_id: str | None = None

    @property
    def amount(self) -> Money | None:
        if self.amount_minor is None or self.currency is None:
            return None
        return Money(minor=self.amount_minor, currency=self.currency)


MONEY_IN_MODELS: tuple[type[SQLModel], ...] = (MoneyInExceptionRow,)


def _tables() -> list[Table]:
    return [model.__table__ for model in MONEY_IN_MODELS]  # type: ignore[attr-defined]


_created: weakref.WeakSet[Engine] = weakref.WeakSet()
_creating = threading.Lock()


def ensure_money_in_tables(store: Store) -> None:
    """Create the money-in tables once per engine (they live beside, not inside, STORE_TABLES)."""
    if store.engine in _created:
        return
    with _creating:
        if store.engine not in _created:
            SQLModel.metadata.create_all(store.engine, tables=_tables())
            _created.add(store.engine)


def queue_exception(
    store: Store,
    *,
    source: str,
    key: str,
    reason: str,
    amount: Money | None = None,
    reference: str | None = None,
    customer_id: str | None = None,
    tenant: str | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Queue money for a person to look at; idempotent on (source, key), True when new."""
    if not source or not key:
        raise ValueError("an exception needs a non-empty source and key")
    ensure_money_in_tables(store)
    values = {
        "source": source,
        "key": key,
        "reason": reason,
        "amount_minor": None if amount is None else amount.minor,
        "currency": None if amount is None else amount.currency,
        "reference": reference,
        "customer_id": customer_id,
        "tenant": tenant,
        "payload": dict(payload or {}),
        "status": EXCEPTION_OPEN,
        "queued_at": datetime.now(UTC),
        "resolution": {},
    }
    with store._writing() as conn:
        return store._insert_ignoring(conn, MoneyInExceptionRow, values, ["source", "key"])


def exceptions(
    store: Store, *, status: str | None = None, customer_id: str | None = None
) -> list[MoneyInExceptionRow]:
    """The queue, oldest first; status None means every status."""
    ensure_money_in_tables(store)
    query = select(MoneyInExceptionRow)
    if status is not None:
        query = query.where(MoneyInExceptionRow.status == status)
    if customer_id is not None:
        query = query.where(MoneyInExceptionRow.customer_id == customer_id)
    table = MoneyInExceptionRow.__table__  # type: ignore[attr-defined]
    query = query.order_by(table.c.queued_at, table.c.id)
    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.exec(query))


def get_exception(store: Store, exception_id: int) -> MoneyInExceptionRow | None:
    ensure_money_in_tables(store)
    with Session(store.engine, expire_on_commit=False) as session:
        return session.get(MoneyInExceptionRow, exception_id)


def resolve_exception(
    store: Store,
    exception_id: int,
    *,
    status: str,
    actor: str,
    resolution: dict[str, Any],
    at: datetime,
) -> bool:
    """Close an open exception; False when it was not open (already resolved or unknown)."""
    if status not in (EXCEPTION_CONFIRMED, EXCEPTION_REASSIGNED):
        raise ValueError(f"status must be {EXCEPTION_CONFIRMED} or {EXCEPTION_REASSIGNED}")
    ensure_money_in_tables(store)
    table = MoneyInExceptionRow.__table__  # type: ignore[attr-defined]
    with store._writing() as conn:
        result = conn.execute(
            update(table)
            .where(table.c.id == exception_id, table.c.status == EXCEPTION_OPEN)
            .values(status=status, resolved_by=actor, resolution=resolution, resolved_at=at)
        )
        return bool(result.rowcount)
