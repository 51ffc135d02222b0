"""A dry run reads the store and writes nothing to it, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError

from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, Statement, StatementLine
from cobranza.reconciliation.statement_run import reconcile_statement
from cobranza.starter.store_snapshot import read_only_store
from cobranza.store import Store, money_in
from cobranza.store.schema_upgrade import StoreOutOfDate

from .factories import snapshot

MONEY_IN_TABLES = {"money_in_entries", "money_in_matches", "money_in_exceptions"}


def statement() -> Statement:
    line = StatementLine(
        source="dry.csv",
        line=2,
        entry_id="DRY-1",
        account="0001",
        direction=Direction.CREDIT,
        amount=Money.parse("100.00", "MXN"),
        booked_on=date(2025, 3, 10),
        reference="INV-1",
    )
    return Statement(source="dry.csv", format="csv", lines=(line,))


def test_a_dry_run_on_a_store_without_money_in_tables_creates_none(store: Store) -> None:
    """Before the first import the money-in tables do not exist: a dry run matches all the
    same, and the store still has no such tables afterwards."""
    store.upsert_invoice(snapshot("INV-1"))
    before = set(inspect(store.engine).get_table_names())
    assert not MONEY_IN_TABLES & before
    url = store.engine.url.render_as_string(hide_password=False)

    with read_only_store(url) as reading:
        assert reading is not None
        run = reconcile_statement(reading, statement(), tenant="acme", dry_run=True)

    [result] = run.results
    assert [(a.invoice_id, a.amount) for a in result.allocations] == [
        ("INV-1", Money.parse("100.00", "MXN"))
    ]
    assert set(inspect(store.engine).get_table_names()) == before
    assert money_in.count_entries(store) == 0


def test_a_dry_run_cannot_write_even_if_asked(store: Store) -> None:
    """What a dry run reads through takes no write to the store: SQLite's is an in-memory
    copy, PostgreSQL's a read-only session, so even an import through it changes nothing."""
    store.upsert_invoice(snapshot("INV-1"))
    money_in.ensure_money_in_tables(store)  # a store that has imported before
    url = store.engine.url.render_as_string(hide_password=False)

    with read_only_store(url) as reading:
        assert reading is not None
        if store.dialect == "postgresql":
            with pytest.raises(DBAPIError, match="read-only transaction"):
                reconcile_statement(reading, statement(), tenant="acme")
        else:
            assert reconcile_statement(reading, statement(), tenant="acme").imported is not None

    assert money_in.count_entries(store) == 0


def test_a_store_written_by_an_earlier_version_is_read_or_named_never_changed(
    store: Store,
) -> None:
    """A column added since: SQLite's copy gains it and is read; a server database, read in
    place and read only, is refused naming what it lacks. Either way the store keeps lacking it."""
    store.upsert_invoice(snapshot("INV-1"))
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE messages DROP COLUMN rule_set")
    url = store.engine.url.render_as_string(hide_password=False)

    if store.dialect == "postgresql":
        match = r"lacks messages\.rule_set, and this command only reads it: run `cobranza store up"
        with pytest.raises(StoreOutOfDate, match=match), read_only_store(url):
            pass
    else:
        with read_only_store(url) as reading:
            assert reading is not None
            run = reconcile_statement(reading, statement(), tenant="acme", dry_run=True)
            assert [r.outcome.value for r in run.results] == ["matched"]
            assert reading.messages(tenant="acme") == []  # reads every column, rule_set too

    columns = {c["name"] for c in inspect(store.engine).get_columns("messages")}
    assert "rule_set" not in columns
