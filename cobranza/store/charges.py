"""Charge attempts: one row per idempotency key with the gateway's answer as the workflow saw it."""

from __future__ import annotations

import threading
import weakref
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Engine, Index, Table
from sqlmodel import Field, Session, SQLModel, select

from cobranza.domain.charges import ChargeOutcome, ChargeRequest
from cobranza.store.store import Store
from cobranza.store.tables import _instant, _minor


class ChargeAttemptRow(SQLModel, table=True):
    """One attempt to charge an invoice; a retried activity finds it and charges nothing."""

    __tablename__ = "charge_attempts"
    __table_args__ = (Index("ix_charge_attempts_workflow", "workflow_id", "attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True)
    workflow_id: str
    tenant: str
    invoice_id: str
    customer_id: str = Field(index=True)
    attempt: int
    amount_minor: int = _minor()
    currency: str
    status: str
    payment_id: str | None = Field(default=None, index=True)
    method_id: str | None = None
    card_fingerprint: str | None = None
    network: str | None = None
    decline_code: str | None = None
    network_code: str | None = None
    advice_code: str | None = None
    answered_at: datetime = _instant()
    outcome: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))

    def to_outcome(self) -> ChargeOutcome:
        return ChargeOutcome.model_validate(self.outcome)

    def differs_from(self, request: ChargeRequest) -> str | None:
        """Why `request` is not the attempt recorded under its key, or None when it is."""
        if (self.amount_minor, self.currency) != (request.amount.minor, request.amount.currency):
            return (
                f"attempt {request.idempotency_key!r} was recorded for "
                f"{self.amount_minor} {self.currency} (minor units), not {request.amount}"
            )
        asked = request.method.method_id if request.method else None
        if asked is not None and self.method_id is not None and asked != self.method_id:
            return (
                f"attempt {request.idempotency_key!r} was recorded on {self.method_id}, not {asked}"
            )
        return None


def _tables() -> list[Table]:
    return [ChargeAttemptRow.__table__]  # type: ignore[attr-defined]


_created: weakref.WeakSet[Engine] = weakref.WeakSet()
_creating = threading.Lock()


def ensure_charge_tables(store: Store) -> None:
    """Create the charge table once per engine (it lives beside, not inside, STORE_TABLES)."""
    if store.engine in _created:
        return
    with _creating:
        if store.engine not in _created:
            SQLModel.metadata.create_all(store.engine, tables=_tables())
            _created.add(store.engine)


def record_charge_attempt(store: Store, request: ChargeRequest, outcome: ChargeOutcome) -> bool:
    """Keep the first answer for the request's idempotency key; True when it was new."""
    ensure_charge_tables(store)
    method, decline = outcome.method, outcome.decline
    values = {
        "idempotency_key": request.idempotency_key,
        "workflow_id": request.workflow_id,
        "tenant": request.tenant,
        "invoice_id": request.invoice_id,
        "customer_id": request.customer_id,
        "attempt": request.attempt,
        "amount_minor": request.amount.minor,
        "currency": request.amount.currency,
        "status": outcome.status.value,
        "payment_id": outcome.payment_id,
        "method_id": None if method is None else method.method_id,
        "card_fingerprint": None if method is None else method.fingerprint,
        "network": None if method is None else method.network.value,
        "decline_code": None if decline is None else decline.code,
        "network_code": None if decline is None else decline.network_code,
        "advice_code": None if decline is None else decline.advice_code,
        "answered_at": outcome.at,
        "outcome": outcome.model_dump(mode="json"),
    }
    with store._writing() as conn:
        return store._insert_ignoring(conn, ChargeAttemptRow, values, ["idempotency_key"])


def recorded_charge(store: Store, idempotency_key: str) -> ChargeAttemptRow | None:
    """The attempt already recorded under this key, if any."""
    ensure_charge_tables(store)
    query = select(ChargeAttemptRow).where(ChargeAttemptRow.idempotency_key == idempotency_key)
    with Session(store.engine, expire_on_commit=False) as session:
        return session.exec(query).first()


def charge_attempts(store: Store, workflow_id: str | None = None) -> list[ChargeAttemptRow]:
    """Every attempt, by invoice and attempt number."""
    ensure_charge_tables(store)
    query = select(ChargeAttemptRow)
    if workflow_id is not None:
        query = query.where(ChargeAttemptRow.workflow_id == workflow_id)
    table = _tables()[0]
    query = query.order_by(table.c.workflow_id, table.c.attempt)
    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.exec(query))
