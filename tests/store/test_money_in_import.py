"""A statement import lands whole or not at all: entries, matches and exceptions together."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event

from cobranza.domain.matching import match_lines
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, StatementLine
from cobranza.store import Store, money_in

from .factories import T0, snapshot


class DatabaseDown(RuntimeError):
    """What the database raises mid-import in these tests."""


def line(n: int, amount: str, reference: str) -> StatementLine:
    return StatementLine(
        source="s.xml",
        line=n,
        entry_id=f"E{n}",
        account="0001",
        direction=Direction.CREDIT,
        amount=Money.parse(amount, "MXN"),
        booked_on=date(2025, 3, 10),
        reference=reference,
    )


# One match, then two lines nobody owes: the second exception is where the database fails.
LINES = [line(1, "100.00", "INV-1"), line(2, "9.99", "NOPE"), line(3, "7.77", "NOPE-2")]


@contextmanager
def failing_exception_insert(store: Store, nth: int) -> Iterator[list[str]]:
    """The nth INSERT into the exceptions queue raises, as a database that went away would."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO MONEY_IN_EXCEPTIONS"):
            seen.append(statement)
            if len(seen) == nth:
                raise DatabaseDown("connection lost while queueing an exception")

    event.listen(store.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", before)


def import_statement(store: Store) -> money_in.ImportResult:
    return money_in.record_import(store, match_lines(LINES, money_in.open_items(store)), T0)


def test_a_failure_while_queueing_exceptions_leaves_no_entry_behind(store: Store) -> None:
    store.upsert_invoice(snapshot("INV-1", amount_minor=100_00))

    with failing_exception_insert(store, nth=2) as seen, pytest.raises(DatabaseDown):
        import_statement(store)

    assert len(seen) == 2  # the first exception was written, then rolled back with the rest
    assert money_in.count_entries(store) == 0
    assert money_in.all_matches(store) == []
    assert money_in.exceptions(store, status=None) == []
    [item] = money_in.open_items(store)
    assert item.outstanding == Money.parse("100.00", "MXN")


def test_the_rerun_after_a_failed_import_records_everything_once(store: Store) -> None:
    store.upsert_invoice(snapshot("INV-1", amount_minor=100_00))
    with failing_exception_insert(store, nth=2), pytest.raises(DatabaseDown):
        import_statement(store)

    rerun = import_statement(store)
    again = import_statement(store)

    assert rerun.new_entries == ["E1", "E2", "E3"] and rerun.known_entries == []
    assert [m.payment_id for m in rerun.matches] == ["bank:E1:INV-1"]
    assert [(e.key, e.amount) for e in rerun.exceptions] == [
        ("E2", Money.parse("9.99", "MXN")),
        ("E3", Money.parse("7.77", "MXN")),
    ]
    assert again.new_entries == [] and again.matches == [] and again.exceptions == []
    assert again.known_entries == ["E1", "E2", "E3"]
    assert money_in.count_entries(store) == 3
    assert len(money_in.all_matches(store)) == 1
    assert [e.key for e in money_in.exceptions(store, status=None)] == ["E2", "E3"]


def test_queue_exception_alone_still_queues_once(store: Store) -> None:
    fields: dict[str, Any] = {"source": "gateway", "key": "evt_1", "reason": "unknown invoice"}

    assert money_in.queue_exception(store, **fields, at=T0) is True
    assert money_in.queue_exception(store, **fields, at=T0) is False
    [row] = money_in.exceptions(store)
    assert (row.source, row.key, row.queued_at) == ("gateway", "evt_1", T0)
