"""Gateway webhook events seen, keyed on (provider, event id), and the invoice each one named.

A provider redelivers an event until it gets a 2xx, and may deliver it twice anyway; the ingress
claims the event id here before acting and finishes it after. A finished event is a duplicate:
it answers 200 and changes nothing. An event claimed but never finished (the process died, the
workflow service was down) is acted on again when it comes back, which is safe because the
invoice workflow ignores a payment id it already has.

Object references (a charge id, a payment intent id) are remembered with the invoice they led
to, so a later event that names only the charge (a dispute, a refund) finds its invoice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, UniqueConstraint, update
from sqlmodel import Field, SQLModel

from cobranza.store.store import Store
from cobranza.store.tables import _instant


class EventStatus(StrEnum):
    RECEIVED = "received"
    SIGNALLED = "signalled"
    QUEUED = "queued"
    IGNORED = "ignored"

    @property
    def is_final(self) -> bool:
        return self is not EventStatus.RECEIVED


class WebhookEventRow(SQLModel, table=True):
    """One gateway event, however many times it was delivered."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_webhook_provider_event"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str
    event_id: str
    event_type: str
    status: str
    workflow_id: str | None = None
    detail: str = ""
    deliveries: int = 1
    received_at: datetime = _instant()
    finished_at: datetime | None = _instant(nullable=True)


class WebhookRefRow(SQLModel, table=True):
    """A gateway object id (charge, payment intent, payment) and the invoice it belongs to."""

    __tablename__ = "webhook_refs"
    __table_args__ = (UniqueConstraint("provider", "ref", name="uq_webhook_provider_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str
    ref: str
    workflow_id: str


WEBHOOK_TABLES: tuple[Table, ...] = (
    WebhookEventRow.__table__,  # type: ignore[attr-defined]
    WebhookRefRow.__table__,  # type: ignore[attr-defined]
)


def ensure_webhook_tables(store: Store) -> None:
    """Create the webhook tables when missing; harmless when they exist."""
    SQLModel.metadata.create_all(store.engine, tables=list(WEBHOOK_TABLES))


def claim_event(
    store: Store, *, provider: str, event_id: str, event_type: str, received_at: datetime
) -> WebhookEventRow:
    """Record an event's arrival; returns its row, counting the delivery when already known."""
    table = WEBHOOK_TABLES[0]
    values: dict[str, Any] = {
        "provider": provider,
        "event_id": event_id,
        "event_type": event_type,
        "status": EventStatus.RECEIVED.value,
        "received_at": received_at,
    }
    with store._writing() as conn:
        created = store._insert_ignoring(conn, WebhookEventRow, values, ["provider", "event_id"])
        where = (table.c.provider == provider, table.c.event_id == event_id)
        if not created:
            conn.execute(update(table).where(*where).values(deliveries=table.c.deliveries + 1))
        found = conn.execute(table.select().where(*where)).one()
        return WebhookEventRow(**found._asdict())


def finish_event(
    store: Store,
    *,
    provider: str,
    event_id: str,
    status: EventStatus,
    finished_at: datetime,
    workflow_id: str | None = None,
    detail: str = "",
) -> None:
    """Mark an event acted on; only the first finish counts, so the first outcome stays."""
    if not status.is_final:
        raise ValueError(f"an event is finished as signalled, queued or ignored, not {status}")
    table = WEBHOOK_TABLES[0]
    with store._writing() as conn:
        conn.execute(
            update(table)
            .where(
                table.c.provider == provider,
                table.c.event_id == event_id,
                table.c.status == EventStatus.RECEIVED.value,
            )
            .values(
                status=status.value,
                finished_at=finished_at,
                workflow_id=workflow_id,
                detail=detail,
            )
        )


def remember_refs(store: Store, *, provider: str, refs: Iterable[str], workflow_id: str) -> None:
    """Tie gateway object ids to an invoice; the first invoice named for an id stays."""
    rows = [
        {"provider": provider, "ref": ref, "workflow_id": workflow_id}
        for ref in dict.fromkeys(refs)
        if ref
    ]
    if not rows:
        return
    with store._writing() as conn:
        store._insert_ignoring(conn, WebhookRefRow, rows, ["provider", "ref"])


def workflow_for_refs(store: Store, *, provider: str, refs: Sequence[str]) -> str | None:
    """The invoice an earlier event tied to any of these object ids, in the order given."""
    wanted = [ref for ref in refs if ref]
    if not wanted:
        return None
    table = WEBHOOK_TABLES[1]
    with store.engine.connect() as conn:
        found = {
            row.ref: row.workflow_id
            for row in conn.execute(
                table.select().where(table.c.provider == provider, table.c.ref.in_(wanted))
            )
        }
    return next((found[ref] for ref in wanted if ref in found), None)


def webhook_events(store: Store, provider: str | None = None) -> list[WebhookEventRow]:
    """Every event seen, oldest first."""
    table = WEBHOOK_TABLES[0]
    query = table.select().order_by(table.c.received_at, table.c.id)
    if provider is not None:
        query = query.where(table.c.provider == provider)
    with store.engine.connect() as conn:
        return [WebhookEventRow(**row._asdict()) for row in conn.execute(query)]
