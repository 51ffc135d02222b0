"""Money-in evidence: imported statement entries, their matches and the exceptions queue."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Engine, Index, Table, UniqueConstraint, func, update
from sqlalchemy.engine import Connection
from sqlmodel import Field, Session, SQLModel, select

from cobranza.domain.invoice import CLOSED_STATUSES
from cobranza.domain.matching import LineMatch, OpenItem, Outcome
from cobranza.domain.money import Money
from cobranza.store.store import Store
from cobranza.store.tables import InvoiceRow, PaymentRow, _instant, _minor

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


# -- references and aliases ------------------------------------------------------------------


def add_invoice_references(store: Store, workflow_id: str, references: Iterable[str]) -> list[str]:
    """Remember what else an invoice may be paid by (its CFDI UUID, a creditor reference).

    Returns the references that were new; one already known is left as it is.
    """
    ensure_money_in_tables(store)
    added = []
    with store._writing() as conn:
        for reference in dict.fromkeys(r for r in references if r):
            row = {"workflow_id": workflow_id, "reference": reference}
            if store._insert_ignoring(conn, InvoiceReferenceRow, row, ["workflow_id", "reference"]):
                added.append(reference)
    return added


def add_customer_alias(
    store: Store, tenant: str, customer_id: str, *, kind: str, value: str
) -> bool:
    """Remember a name or account the customer pays from; True when it was new."""
    if kind not in ("name", "account"):
        raise ValueError(f"alias kind must be 'name' or 'account', not {kind!r}")
    if not value:
        raise ValueError(f"a customer's {kind} must not be empty")
    ensure_money_in_tables(store)
    values = {"tenant": tenant, "customer_id": customer_id, "kind": kind, "value": value}
    with store._writing() as conn:
        return store._insert_ignoring(
            conn, CustomerAliasRow, values, ["tenant", "customer_id", "kind", "value"]
        )


def _all(store: Store, model: type[Any], *filters: Any) -> list[Any]:
    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.exec(select(model).where(*filters)))


def _payer_names(row: InvoiceRow, registered: list[str]) -> tuple[str, ...]:
    """The names a payer of this invoice may use: the customer's own, then those registered."""
    own = [row.customer_name] if row.customer_name else []
    return tuple(dict.fromkeys([*own, *registered]))


def open_items(store: Store, tenant: str | None = None) -> list[OpenItem]:
    """Invoices still owing money, less what matched entries already gave them but their
    workflow has not yet recorded (a reconcile run right after another must not double up).
    """
    ensure_money_in_tables(store)
    closed = [s.value for s in CLOSED_STATUSES]
    filters: list[Any] = [InvoiceRow.status.not_in(closed)]  # type: ignore[attr-defined]
    if tenant is not None:
        filters.append(InvoiceRow.tenant == tenant)
    invoices: list[InvoiceRow] = _all(store, InvoiceRow, *filters)
    recorded = {row.payment_id for row in _all(store, PaymentRow)}
    pending: dict[str, int] = {}
    for match in _all(store, MatchRow):
        if match.payment_id not in recorded:
            pending[match.workflow_id] = pending.get(match.workflow_id, 0) + match.amount_minor
    refs: dict[str, list[str]] = {}
    for ref in _all(store, InvoiceReferenceRow):
        refs.setdefault(ref.workflow_id, []).append(ref.reference)
    names: dict[tuple[str, str], list[str]] = {}
    accounts: dict[tuple[str, str], list[str]] = {}
    for alias in _all(store, CustomerAliasRow):
        target = names if alias.kind == "name" else accounts
        target.setdefault((alias.tenant, alias.customer_id), []).append(alias.value)
    items = []
    for row in invoices:
        owed = (
            row.amount_minor
            - row.paid_minor
            - row.credited_minor
            - row.written_off_minor
            - pending.get(row.workflow_id, 0)
        )
        if owed <= 0:
            continue
        owner = (row.tenant, row.customer_id)
        items.append(
            OpenItem(
                tenant=row.tenant,
                invoice_id=row.invoice_id,
                workflow_id=row.workflow_id,
                customer_id=row.customer_id,
                customer_names=_payer_names(row, names.get(owner, [])),
                customer_accounts=tuple(accounts.get(owner, ())),
                outstanding=Money(minor=owed, currency=row.currency),
                issued_on=row.issued_on,
                due_on=row.due_on,
                references=tuple(sorted(refs.get(row.workflow_id, ()))),
            )
        )
    return items


# -- imports ---------------------------------------------------------------------------------


def payment_id_for(entry_id: str, invoice_id: str) -> str:
    """One payment per entry and invoice: a grouped transfer pays each invoice once."""
    return f"bank:{entry_id}:{invoice_id}"


@dataclass
class ImportResult:
    """What an import added; entries seen before are listed apart and added nothing."""

    new_entries: list[str] = field(default_factory=list)
    known_entries: list[str] = field(default_factory=list)
    matches: list[MatchRow] = field(default_factory=list)
    exceptions: list[MoneyInExceptionRow] = field(default_factory=list)


def known_entries(store: Store, entry_ids: Sequence[str]) -> dict[str, StatementEntryRow]:
    ensure_money_in_tables(store)
    found: dict[str, StatementEntryRow] = {}
    ids = list(dict.fromkeys(entry_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in _all(store, StatementEntryRow, StatementEntryRow.entry_id.in_(chunk)):  # type: ignore[attr-defined]
            found[row.entry_id] = row
    return found


def matches_of(store: Store, entry_ids: Sequence[str]) -> dict[str, list[MatchRow]]:
    ensure_money_in_tables(store)
    found: dict[str, list[MatchRow]] = {}
    ids = list(dict.fromkeys(entry_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in _all(store, MatchRow, MatchRow.entry_id.in_(chunk)):  # type: ignore[attr-defined]
            found.setdefault(row.entry_id, []).append(row)
    for rows in found.values():
        rows.sort(key=lambda r: r.invoice_id)
    return found


def record_import(store: Store, results: Sequence[LineMatch], at: datetime) -> ImportResult:
    """Store entries, matches and exceptions in one transaction; known entries add nothing.

    All of a statement's new rows land together or none do, so a run that fails part way
    leaves the entries unknown and the next run records them, exceptions included, once.
    """
    ensure_money_in_tables(store)
    outcome = ImportResult()
    with store._writing() as conn:
        for r in results:
            if r.outcome is Outcome.DUPLICATE:
                continue
            ln = r.line
            entry = {
                "entry_id": ln.entry_id,
                "source": ln.source,
                "line": ln.line,
                "account": ln.account,
                "direction": ln.direction.value,
                "amount_minor": ln.amount.minor,
                "currency": ln.amount.currency,
                "booked_on": ln.booked_on,
                "reference": ln.reference,
                "remittance": ln.remittance,
                "counterparty_name": ln.counterparty_name,
                "outcome": r.outcome.value,
                "rule": None if r.rule is None else r.rule.value,
                "confidence": r.confidence,
                "reason": r.reason,
                "tenant": r.tenant,
                "customer_id": r.customer_id,
                "credit_minor": 0 if r.credit is None else r.credit.minor,
                "imported_at": at,
            }
            if not store._insert_ignoring(conn, StatementEntryRow, entry, ["entry_id"]):
                outcome.known_entries.append(ln.entry_id)
                continue
            outcome.new_entries.append(ln.entry_id)
            for a in r.allocations:
                values: dict[str, Any] = {
                    "payment_id": payment_id_for(ln.entry_id, a.invoice_id),
                    "entry_id": ln.entry_id,
                    "tenant": a.tenant,
                    "invoice_id": a.invoice_id,
                    "workflow_id": a.workflow_id,
                    "amount_minor": a.amount.minor,
                    "currency": a.amount.currency,
                    "booked_on": ln.booked_on,
                    "rule": "" if r.rule is None else r.rule.value,
                    "confidence": r.confidence,
                    "matched_at": at,
                }
                if store._insert_ignoring(conn, MatchRow, values, ["payment_id"]):
                    outcome.matches.append(MatchRow(**values))
            if r.outcome is Outcome.EXCEPTION:
                # Same transaction as the entry: an entry stored without its exception would
                # count as imported on the next run, and its money would reach nobody.
                _queue_in(store, conn, _statement_exception(r, at))
    new = set(outcome.new_entries)
    outcome.exceptions = [
        row for row in exceptions(store) if row.source == STATEMENT_SOURCE and row.key in new
    ]
    return outcome


def _statement_exception(r: LineMatch, at: datetime) -> dict[str, Any]:
    return _exception_values(
        source=STATEMENT_SOURCE,
        key=r.line.entry_id,
        reason=r.reason,
        amount=r.line.amount,
        reference=r.line.reference,
        customer_id=r.customer_id,
        tenant=r.tenant,
        payload={"file": r.line.source, "line": r.line.line, "candidates": list(r.candidates)},
        at=at,
    )


def manual_payment_id(row: MoneyInExceptionRow, invoice_id: str) -> str:
    """A statement entry's money keeps its bank payment id; a webhook's names its source."""
    if row.source == STATEMENT_SOURCE:
        return payment_id_for(row.key, invoice_id)
    return f"{row.source}:{row.key}:{invoice_id}"


def settle_exception(
    store: Store,
    row: MoneyInExceptionRow,
    *,
    status: str,
    actor: str,
    resolution: dict[str, Any],
    allocations: Sequence[tuple[OpenItem, Money]],
    at: datetime,
) -> list[MatchRow] | None:
    """Close an open exception and store the matches a person decided, in one transaction.

    None when it was no longer open (someone else resolved it first): nothing is written.
    """
    if status not in (EXCEPTION_CONFIRMED, EXCEPTION_REASSIGNED):
        raise ValueError(f"status must be {EXCEPTION_CONFIRMED} or {EXCEPTION_REASSIGNED}")
    ensure_money_in_tables(store)
    entry = known_entries(store, [row.key]).get(row.key) if row.source == STATEMENT_SOURCE else None
    booked_on = entry.booked_on if entry is not None else at.date()
    table = MoneyInExceptionRow.__table__  # type: ignore[attr-defined]
    created = []
    with store._writing() as conn:
        closed = conn.execute(
            update(table)
            .where(table.c.id == row.id, table.c.status == EXCEPTION_OPEN)
            .values(status=status, resolved_by=actor, resolution=resolution, resolved_at=at)
        )
        if not closed.rowcount:
            return None
        for item, amount in allocations:
            values: dict[str, Any] = {
                "payment_id": manual_payment_id(row, item.invoice_id),
                "entry_id": row.key,
                "tenant": item.tenant,
                "invoice_id": item.invoice_id,
                "workflow_id": item.workflow_id,
                "amount_minor": amount.minor,
                "currency": amount.currency,
                "booked_on": booked_on,
                "rule": MANUAL_RULE,
                "confidence": 1.0,
                "matched_at": at,
            }
            if store._insert_ignoring(conn, MatchRow, values, ["payment_id"]):
                created.append(MatchRow(**values))
    return created


def unposted_matches(store: Store) -> list[MatchRow]:
    ensure_money_in_tables(store)
    rows: list[MatchRow] = _all(store, MatchRow, MatchRow.posted_at.is_(None))  # type: ignore[union-attr]
    return sorted(rows, key=lambda r: (r.booked_on, r.payment_id))


def mark_posted(store: Store, payment_id: str, at: datetime) -> None:
    table = MatchRow.__table__  # type: ignore[attr-defined]
    with store._writing() as conn:
        conn.execute(
            update(table)
            .where(table.c.payment_id == payment_id, table.c.posted_at.is_(None))
            .values(posted_at=at)
        )


def set_crm_task(store: Store, exception_id: int, task_id: str) -> None:
    table = MoneyInExceptionRow.__table__  # type: ignore[attr-defined]
    with store._writing() as conn:
        conn.execute(update(table).where(table.c.id == exception_id).values(crm_task_id=task_id))


def entries(store: Store) -> list[StatementEntryRow]:
    ensure_money_in_tables(store)
    rows: list[StatementEntryRow] = _all(store, StatementEntryRow)
    return sorted(rows, key=lambda r: (r.booked_on, r.entry_id))


def all_matches(store: Store) -> list[MatchRow]:
    ensure_money_in_tables(store)
    rows: list[MatchRow] = _all(store, MatchRow)
    return sorted(rows, key=lambda r: (r.booked_on, r.payment_id))


def count_entries(store: Store) -> int:
    ensure_money_in_tables(store)
    with Session(store.engine) as session:
        return int(session.exec(select(func.count()).select_from(StatementEntryRow)).one())
