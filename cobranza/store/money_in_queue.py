"""The money-in exceptions queue: money a person must look at, queued once, listed, closed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from cobranza.domain.money import Money
from cobranza.store.money_in_tables import (
    EXCEPTION_CONFIRMED,
    EXCEPTION_OPEN,
    EXCEPTION_REASSIGNED,
    MoneyInExceptionRow,
    ensure_money_in_tables,
)
from cobranza.store.store import Store


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
    at: datetime | None = None,
) -> bool:
    """Queue money for a person to look at; idempotent on (source, key), True when new.

    `at` (aware) is when it was queued, now by default; a statement import passes its own.
    """
    values = _exception_values(
        source=source,
        key=key,
        reason=reason,
        amount=amount,
        reference=reference,
        customer_id=customer_id,
        tenant=tenant,
        payload=payload,
        at=at or datetime.now(UTC),
    )
    ensure_money_in_tables(store)
    with store._writing() as conn:
        return _queue_in(store, conn, values)


def _exception_values(
    *,
    source: str,
    key: str,
    reason: str,
    amount: Money | None,
    reference: str | None,
    customer_id: str | None,
    tenant: str | None,
    payload: dict[str, Any] | None,
    at: datetime,
) -> dict[str, Any]:
    if not source or not key:
        raise ValueError("an exception needs a non-empty source and key")
    return {
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
        "queued_at": at,
        "resolution": {},
    }


def _queue_in(store: Store, conn: Connection, values: dict[str, Any]) -> bool:
    """Insert an exception inside the caller's transaction unless (source, key) is queued."""
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


def exception_by_key(store: Store, source: str, key: str) -> MoneyInExceptionRow | None:
    """The exception queued under its natural key, if any."""
    ensure_money_in_tables(store)
    query = select(MoneyInExceptionRow).where(
        MoneyInExceptionRow.source == source, MoneyInExceptionRow.key == key
    )
    with Session(store.engine, expire_on_commit=False) as session:
        return session.exec(query).first()


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


def set_crm_task(store: Store, exception_id: int, task_id: str) -> None:
    table = MoneyInExceptionRow.__table__  # type: ignore[attr-defined]
    with store._writing() as conn:
        conn.execute(update(table).where(table.c.id == exception_id).values(crm_task_id=task_id))
