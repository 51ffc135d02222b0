"""The money-in tables: exceptions, statement entries, matches, invoice references, aliases."""

from __future__ import annotations

import threading
import weakref
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Engine, Index, Table, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from cobranza.domain.money import Money
from cobranza.store.store import Store
from cobranza.store.tables import _instant, _minor

EXCEPTION_OPEN = "open"
EXCEPTION_CONFIRMED = "confirmed"
EXCEPTION_REASSIGNED = "reassigned"
STATEMENT_SOURCE = "statement"
MANUAL_RULE = "manual"


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


class StatementEntryRow(SQLModel, table=True):
    """One imported statement entry; entry_id is the natural key, so re-imports change nothing."""

    __tablename__ = "money_in_entries"

    entry_id: str = Field(primary_key=True)
    source: str
    line: int
    account: str
    direction: str
    amount_minor: int = _minor()
    currency: str
    booked_on: date = Field(index=True)
    reference: str | None = None
    remittance: str = ""
    counterparty_name: str | None = None
    outcome: str
    rule: str | None = None
    confidence: float = 0.0
    reason: str = ""
    tenant: str | None = None
    customer_id: str | None = None
    credit_minor: int = _minor(0)
    imported_at: datetime = _instant()


class MatchRow(SQLModel, table=True):
    """Money of one entry allocated to one invoice; posted once the workflow was signalled."""

    __tablename__ = "money_in_matches"
    __table_args__ = (UniqueConstraint("payment_id", name="uq_money_in_matches_payment"),)

    id: int | None = Field(default=None, primary_key=True)
    payment_id: str
    entry_id: str = Field(index=True)
    tenant: str
    invoice_id: str
    workflow_id: str = Field(index=True)
    amount_minor: int = _minor()
    currency: str
    booked_on: date
    rule: str
    confidence: float
    matched_at: datetime = _instant()
    posted_at: datetime | None = _instant(nullable=True)

    @property
    def amount(self) -> Money:
        return Money(minor=self.amount_minor, currency=self.currency)


class InvoiceReferenceRow(SQLModel, table=True):
    """A reference an invoice is paid by besides its number: CFDI UUID, RF reference, ..."""

    __tablename__ = "money_in_invoice_references"
    __table_args__ = (UniqueConstraint("workflow_id", "reference", name="uq_money_in_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(index=True)
    reference: str


class CustomerAliasRow(SQLModel, table=True):
    """A name or account a customer pays from, so a transfer without reference finds them."""

    __tablename__ = "money_in_customer_aliases"
    __table_args__ = (
        UniqueConstraint("tenant", "customer_id", "kind", "value", name="uq_money_in_alias"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    customer_id: str
    kind: str  # "name" or "account"
    value: str


MONEY_IN_MODELS: tuple[type[SQLModel], ...] = (
    MoneyInExceptionRow,
    StatementEntryRow,
    MatchRow,
    InvoiceReferenceRow,
    CustomerAliasRow,
)


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


def _all(store: Store, model: type[Any], *filters: Any) -> list[Any]:
    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.exec(select(model).where(*filters)))
