"""Statement entries and their matches: imported once, settled by hand, posted to workflows."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, select

from cobranza.domain.matching import LineMatch, OpenItem, Outcome
from cobranza.domain.money import Money
from cobranza.store.money_in_queue import _exception_values, _queue_in, exceptions
from cobranza.store.money_in_tables import (
    EXCEPTION_CONFIRMED,
    EXCEPTION_OPEN,
    EXCEPTION_REASSIGNED,
    MANUAL_RULE,
    STATEMENT_SOURCE,
    MatchRow,
    MoneyInExceptionRow,
    StatementEntryRow,
    _all,
    ensure_money_in_tables,
)
from cobranza.store.store import Store


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


def entries_booked(
    store: Store, accounts: Collection[str], days: Collection[date]
) -> list[StatementEntryRow]:
    """The stored entries of these accounts booked on these days."""
    ensure_money_in_tables(store)
    wanted = sorted(days)
    found: list[StatementEntryRow] = []
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.extend(
            _all(
                store,
                StatementEntryRow,
                StatementEntryRow.booked_on.in_(chunk),  # type: ignore[attr-defined]
                StatementEntryRow.account.in_(sorted(accounts)),  # type: ignore[attr-defined]
            )
        )
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
