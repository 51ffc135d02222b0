"""The store: idempotent writes of snapshots, evidence and effects, and the reads over them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Engine, Table, delete, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel, select

from cobranza.domain.effects import ContactEvidence, InvoiceSnapshot, Recording, SequencedEntry
from cobranza.domain.invoice import PaymentReceived
from cobranza.domain.money import Money
from cobranza.store.engine import WRITE_OPTION, make_engine
from cobranza.store.schema_upgrade import add_columns, missing_columns, refuse_if_out_of_date
from cobranza.store.tables import (
    STORE_TABLES,
    CrmTaskRow,
    ErpPostingRow,
    InvoiceRow,
    MessageRow,
    PaymentRow,
    TimelineRow,
)

MessageStatus = Literal["sending", "sent"]
_Row = TypeVar("_Row", bound=SQLModel)


class MessageNotFound(LookupError):
    """A message was marked sent without having been begun: the caller skipped a step."""

    def __init__(self, dedupe_key: str) -> None:
        super().__init__(f"no message with dedupe_key {dedupe_key!r}: call begin_message first")
        self.dedupe_key = dedupe_key


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


class Store:
    """Read model and evidence log. Every write may be repeated without changing the outcome."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, url: str | None = None) -> Store:
        """Open the store at url; None means DATABASE_URL, else SQLite at .cobranza/cobranza.db."""
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_all(self) -> list[str]:
        """Create the tables missing and add the columns a store written by an earlier version
        lacks (returned as `table.column`); one lacking a required column is refused
        (StoreOutOfDate) before anything is changed."""
        missing = missing_columns(self.engine, STORE_TABLES)  # (of the tables there already)
        refuse_if_out_of_date(self.engine, missing, nullable_ok=True)
        SQLModel.metadata.create_all(self.engine, tables=list(STORE_TABLES))
        return add_columns(self.engine, missing)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- writes -----------------------------------------------------------------------------

    def record(self, recording: Recording) -> None:
        """Upsert the snapshot and append its timeline entries in one transaction."""
        with self._writing() as conn:
            self._apply(conn, recording)

    def upsert_invoice(self, snapshot: InvoiceSnapshot) -> None:
        self.record(Recording(snapshot=snapshot))

    def begin_message(
        self,
        *,
        dedupe_key: str,
        tenant: str,
        customer_id: str,
        channel: str,
        address: str,
        template: str,
        step: str,
        invoice_ids: Sequence[str],
        scheduled_at: datetime,
        content_sha256: str,
        recording: Recording | None = None,
        evidence: ContactEvidence | None = None,
    ) -> MessageRow:
        """Claim a message before sending it; returns the existing row when already claimed.

        A retried activity reads `status`: 'sent' means the customer already has it.
        """
        values: dict[str, Any] = {
            "dedupe_key": dedupe_key,
            "tenant": tenant,
            "customer_id": customer_id,
            "channel": str(channel),
            "address": address,
            "template": template,
            "step": step,
            "invoice_ids": list(invoice_ids),
            "scheduled_at": scheduled_at,
            "content_sha256": content_sha256,
            "status": "sending",
        }
        if evidence is not None:
            values |= {
                "rule_set": evidence.rule_set,
                "rules": list(evidence.rules),
                "due_at": evidence.due_at,
                "granted_at": evidence.granted_at,
            }
        with self._writing() as conn:
            self._insert_ignoring(conn, MessageRow, values, ["dedupe_key"])
            self._apply(conn, recording)
            return self._message_in(conn, dedupe_key)

    def mark_message_sent(
        self,
        dedupe_key: str,
        provider_message_id: str,
        sent_at: datetime,
        recording: Recording | None = None,
    ) -> MessageRow:
        """Mark a claimed message sent; the first provider id recorded stays."""
        table = _table(MessageRow)
        with self._writing() as conn:
            conn.execute(
                update(table)
                .where(table.c.dedupe_key == dedupe_key, table.c.status == "sending")
                .values(status="sent", provider_message_id=provider_message_id, sent_at=sent_at)
            )
            row = self._message_in(conn, dedupe_key)
            self._apply(conn, recording)
            return row

    def release_message(self, dedupe_key: str) -> bool:
        """Drop a claim whose send failed before reaching the provider; True when one was dropped.

        Only a message still 'sending' is released: a sent one is evidence and stays.
        """
        table = _table(MessageRow)
        with self._writing() as conn:
            result = conn.execute(
                delete(table).where(table.c.dedupe_key == dedupe_key, table.c.status == "sending")
            )
            return bool(result.rowcount)

    def record_payment(
        self,
        *,
        workflow_id: str,
        tenant: str,
        invoice_id: str,
        payment: PaymentReceived,
        recording: Recording | None = None,
    ) -> bool:
        """Store a payment once per payment id; True when it was new."""
        values = {
            "payment_id": payment.payment_id,
            "workflow_id": workflow_id,
            "tenant": tenant,
            "invoice_id": invoice_id,
            "amount_minor": payment.amount.minor,
            "currency": payment.amount.currency,
            "received_at": payment.received_at,
            "method": payment.method,
            "reference": payment.reference,
        }
        return self._record_effect(PaymentRow, values, "payment_id", recording)

    def record_crm_task(
        self,
        *,
        idempotency_key: str,
        task_id: str,
        tenant: str,
        customer_id: str,
        invoice_id: str,
        kind: str,
        title: str,
        created_at: datetime,
        recording: Recording | None = None,
    ) -> bool:
        """Store a CRM task once per idempotency key; True when it was new."""
        values = {
            "idempotency_key": idempotency_key,
            "task_id": task_id,
            "tenant": tenant,
            "customer_id": customer_id,
            "invoice_id": invoice_id,
            "kind": kind,
            "title": title,
            "created_at": created_at,
        }
        return self._record_effect(CrmTaskRow, values, "idempotency_key", recording)

    def record_erp_posting(
        self,
        *,
        idempotency_key: str,
        posting_id: str,
        tenant: str,
        invoice_id: str,
        customer_id: str,
        kind: str,
        status: str,
        outstanding: Money,
        posted_at: datetime,
        amount: Money | None = None,
        payment_id: str | None = None,
        recording: Recording | None = None,
    ) -> bool:
        """Store an ERP posting once per idempotency key; True when it was new."""
        values = {
            "idempotency_key": idempotency_key,
            "posting_id": posting_id,
            "tenant": tenant,
            "invoice_id": invoice_id,
            "customer_id": customer_id,
            "kind": kind,
            "status": str(status),
            "currency": outstanding.currency,
            "amount_minor": None if amount is None else amount.minor,
            "outstanding_minor": outstanding.minor,
            "payment_id": payment_id,
            "posted_at": posted_at,
        }
        return self._record_effect(ErpPostingRow, values, "idempotency_key", recording)

    # -- reads ------------------------------------------------------------------------------

    def get_invoice(self, workflow_id: str) -> InvoiceSnapshot | None:
        with Session(self.engine) as session:
            row = session.get(InvoiceRow, workflow_id)
            return None if row is None else _snapshot(row)

    def invoices(self, tenant: str | None = None) -> list[InvoiceSnapshot]:
        query = select(InvoiceRow).order_by(_table(InvoiceRow).c.workflow_id)
        if tenant is not None:
            query = query.where(InvoiceRow.tenant == tenant)
        with Session(self.engine) as session:
            return [_snapshot(row) for row in session.exec(query)]

    def timeline(
        self, workflow_id: str | None = None, tenant: str | None = None
    ) -> list[TimelineRow]:
        """Evidence in the order it happened; ties broken by invoice, then sequence."""
        filters = _equal(TimelineRow, workflow_id=workflow_id, tenant=tenant)
        order = (TimelineRow.at, TimelineRow.workflow_id, TimelineRow.seq)
        return self._rows(TimelineRow, filters, order)

    def messages(
        self,
        *,
        tenant: str | None = None,
        customer_id: str | None = None,
        status: MessageStatus | None = None,
    ) -> list[MessageRow]:
        filters = _equal(MessageRow, tenant=tenant, customer_id=customer_id, status=status)
        return self._rows(MessageRow, filters, (MessageRow.scheduled_at, MessageRow.dedupe_key))

    def get_message(self, dedupe_key: str) -> MessageRow | None:
        rows = self._rows(MessageRow, _equal(MessageRow, dedupe_key=dedupe_key), ())
        return rows[0] if rows else None

    def payments(
        self, workflow_id: str | None = None, tenant: str | None = None
    ) -> list[PaymentRow]:
        filters = _equal(PaymentRow, workflow_id=workflow_id, tenant=tenant)
        return self._rows(PaymentRow, filters, (PaymentRow.received_at, PaymentRow.payment_id))

    def crm_tasks(self, tenant: str | None = None) -> list[CrmTaskRow]:
        filters = _equal(CrmTaskRow, tenant=tenant)
        return self._rows(CrmTaskRow, filters, (CrmTaskRow.created_at, CrmTaskRow.idempotency_key))

    def erp_postings(self, tenant: str | None = None) -> list[ErpPostingRow]:
        filters = _equal(ErpPostingRow, tenant=tenant)
        order = (ErpPostingRow.posted_at, ErpPostingRow.idempotency_key)
        return self._rows(ErpPostingRow, filters, order)

    def count_invoices(self, tenant: str | None = None) -> int:
        return self._count(InvoiceRow, _equal(InvoiceRow, tenant=tenant))

    def count_timeline(self, workflow_id: str | None = None, tenant: str | None = None) -> int:
        return self._count(TimelineRow, _equal(TimelineRow, workflow_id=workflow_id, tenant=tenant))

    def count_messages(self, tenant: str | None = None, status: MessageStatus | None = None) -> int:
        return self._count(MessageRow, _equal(MessageRow, tenant=tenant, status=status))

    def count_payments(self, workflow_id: str | None = None) -> int:
        return self._count(PaymentRow, _equal(PaymentRow, workflow_id=workflow_id))

    def count_crm_tasks(self, tenant: str | None = None) -> int:
        return self._count(CrmTaskRow, _equal(CrmTaskRow, tenant=tenant))

    def count_erp_postings(self, tenant: str | None = None) -> int:
        return self._count(ErpPostingRow, _equal(ErpPostingRow, tenant=tenant))

    # -- internals --------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    def _insert(self, model: type[SQLModel], values: Any) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT."""
        if self.dialect == "postgresql":
            return postgresql.insert(_table(model)).values(values)
        if self.dialect == "sqlite":
            return sqlite.insert(_table(model)).values(values)
        raise NotImplementedError(f"store supports sqlite and postgresql, not {self.dialect}")

    def _insert_ignoring(
        self, conn: Connection, model: type[SQLModel], values: Any, key: list[str]
    ) -> bool:
        stmt = self._insert(model, values).on_conflict_do_nothing(index_elements=key)
        # rowcount is -1 when the driver uses RETURNING for keys; ask for the rows instead.
        inserted = conn.execute(stmt.returning(_table(model).c[key[0]])).all()
        return bool(inserted)

    def _record_effect(
        self,
        model: type[SQLModel],
        values: dict[str, Any],
        key: str,
        recording: Recording | None,
    ) -> bool:
        with self._writing() as conn:
            created = self._insert_ignoring(conn, model, values, [key])
            self._apply(conn, recording)
            return created

    def _apply(self, conn: Connection, recording: Recording | None) -> None:
        if recording is None:
            return
        self._upsert_snapshot(conn, recording.snapshot)
        self._append_entries(conn, recording.snapshot, recording.entries)

    def _upsert_snapshot(self, conn: Connection, snapshot: InvoiceSnapshot) -> None:
        values = snapshot.model_dump()
        values["status"] = snapshot.status.value
        stmt = self._insert(InvoiceRow, values)
        table = _table(InvoiceRow)
        # Activities finish out of order: an older snapshot arriving late must not win.
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["workflow_id"],
                set_={name: stmt.excluded[name] for name in values if name != "workflow_id"},
                where=table.c.updated_at <= stmt.excluded.updated_at,
            )
        )

    def _append_entries(
        self, conn: Connection, snapshot: InvoiceSnapshot, entries: Sequence[SequencedEntry]
    ) -> None:
        if not entries:
            return
        rows = [
            {
                "workflow_id": snapshot.workflow_id,
                "seq": item.seq,
                "tenant": snapshot.tenant,
                "invoice_id": item.entry.invoice,
                "at": item.entry.at,
                "kind": item.entry.kind.value,
                "details": item.entry.model_dump(mode="json")["details"],
            }
            for item in entries
        ]
        self._insert_ignoring(conn, TimelineRow, rows, ["workflow_id", "seq"])

    def _message_in(self, conn: Connection, dedupe_key: str) -> MessageRow:
        table = _table(MessageRow)
        found = conn.execute(table.select().where(table.c.dedupe_key == dedupe_key)).first()
        if found is None:
            raise MessageNotFound(dedupe_key)
        return MessageRow(**found._asdict())

    def _rows(
        self, model: type[_Row], filters: list[ColumnElement[bool]], order: Sequence[Any]
    ) -> list[_Row]:
        query = select(model).where(*filters).order_by(*order)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.exec(query))

    def _count(self, model: type[SQLModel], filters: list[ColumnElement[bool]]) -> int:
        query = select(func.count()).select_from(model).where(*filters)
        with Session(self.engine) as session:
            return int(session.exec(query).one())


def _equal(model: type[SQLModel], **values: str | None) -> list[ColumnElement[bool]]:
    """Equality filters for the values that were given; None means "any"."""
    table = _table(model)
    return [table.c[name] == value for name, value in values.items() if value is not None]


def _snapshot(row: InvoiceRow) -> InvoiceSnapshot:
    return InvoiceSnapshot.model_validate(row.model_dump())
