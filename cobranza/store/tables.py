"""Tables of the read model and evidence log keyed on natural keys for idempotent writes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Table,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UtcDateTime(TypeDecorator[datetime]):
    """An aware instant stored as UTC and read back aware, the same on SQLite and PostgreSQL.

    SQLite has no time zones: storing naive UTC with fixed-width text keeps comparisons
    (such as "is this snapshot newer?") correct as plain string comparisons.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"instant {value.isoformat()} must carry a UTC offset")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _instant(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UtcDateTime(), nullable=nullable, index=index))


def _minor(default: int | None = None, *, nullable: bool = False) -> Any:
    # Minor units of JPY or of a large invoice exceed 32 bits quickly.
    return Field(default=default, sa_column=Column(BigInteger(), nullable=nullable))


class InvoiceRow(SQLModel, table=True):
    """The latest snapshot of one invoice lifecycle; one row per workflow id."""

    __tablename__ = "invoices"
    __table_args__ = (Index("ix_invoices_tenant_status", "tenant", "status"),)

    workflow_id: str = Field(primary_key=True)
    tenant: str
    invoice_id: str
    customer_id: str = Field(index=True)
    customer_name: str | None = None
    country: str
    currency: str
    amount_minor: int = _minor()
    paid_minor: int = _minor()
    credited_minor: int = _minor(0)
    written_off_minor: int = _minor(0)
    status: str
    dunning_level: int
    issued_on: date
    due_on: date
    closed_at: datetime | None = _instant(nullable=True)
    overdue_from: datetime | None = _instant(nullable=True)
    policy_ref: str
    reminders_sent: int = 0
    disputed: bool = False
    updated_at: datetime = _instant()


class TimelineRow(SQLModel, table=True):
    """One entry of an invoice's evidence log; (workflow_id, seq) makes replays harmless."""

    __tablename__ = "timeline"
    __table_args__ = (
        UniqueConstraint("workflow_id", "seq", name="uq_timeline_workflow_seq"),
        Index("ix_timeline_tenant_at", "tenant", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str
    seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
    tenant: str
    invoice_id: str
    at: datetime = _instant()
    kind: str
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class MessageRow(SQLModel, table=True):
    """One message to a customer, claimed before sending so a retry can see it already went."""

    __tablename__ = "messages"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True)
    tenant: str
    customer_id: str = Field(index=True)
    channel: str
    address: str
    template: str
    step: str
    invoice_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    scheduled_at: datetime = _instant()
    sent_at: datetime | None = _instant(nullable=True)
    provider_message_id: str | None = None
    content_sha256: str
    status: str
    # The evidence of a lawful contact: the law applied (profile@version), the rules that
    # moved it, when the policy wanted it out and the instant the law granted.
    rule_set: str | None = None
    rules: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=True))
    due_at: datetime | None = _instant(nullable=True)
    granted_at: datetime | None = _instant(nullable=True)


class PaymentRow(SQLModel, table=True):
    """Money received against an invoice; one row per payment id however often it is reported."""

    __tablename__ = "payments"

    id: int | None = Field(default=None, primary_key=True)
    payment_id: str = Field(unique=True)
    workflow_id: str = Field(index=True)
    tenant: str
    invoice_id: str
    amount_minor: int = _minor()
    currency: str
    received_at: datetime = _instant()
    method: str
    reference: str = ""


class CrmTaskRow(SQLModel, table=True):
    """A task opened in the CRM for a person to act on, once per idempotency key."""

    __tablename__ = "crm_tasks"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True)
    task_id: str
    tenant: str
    customer_id: str
    invoice_id: str
    kind: str
    title: str
    created_at: datetime = _instant()


class ErpPostingRow(SQLModel, table=True):
    """An invoice status, payment or credit note posted to the ERP, once per idempotency key."""

    __tablename__ = "erp_postings"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True)
    posting_id: str
    tenant: str
    invoice_id: str
    customer_id: str
    kind: str
    status: str
    currency: str
    amount_minor: int | None = _minor(nullable=True)
    outstanding_minor: int = _minor()
    payment_id: str | None = None
    posted_at: datetime = _instant()


STORE_MODELS: tuple[type[SQLModel], ...] = (
    InvoiceRow,
    TimelineRow,
    MessageRow,
    PaymentRow,
    CrmTaskRow,
    ErpPostingRow,
)
STORE_TABLES: tuple[Table, ...] = tuple(
    model.__table__  # type: ignore[attr-defined]
    for model in STORE_MODELS
)
