"""A store written by an earlier version gains the columns added since, and keeps its rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from cobranza.store.schema_upgrade import add_missing_columns
from cobranza.store.store import Store
from cobranza.store.tables import STORE_TABLES

OLD_MESSAGES = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY, dedupe_key VARCHAR NOT NULL UNIQUE, tenant VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL, channel VARCHAR NOT NULL, address VARCHAR NOT NULL,
    template VARCHAR NOT NULL, step VARCHAR NOT NULL, invoice_ids JSON NOT NULL,
    scheduled_at DATETIME NOT NULL, sent_at DATETIME, provider_message_id VARCHAR,
    content_sha256 VARCHAR NOT NULL, status VARCHAR NOT NULL
)
"""


def test_an_old_messages_table_gains_the_evidence_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with create_engine(url).begin() as conn:
        conn.execute(text(OLD_MESSAGES))
        conn.execute(
            text(
                "INSERT INTO messages VALUES (1, 'k1', 't', 'c', 'email', 'a@example.com', "
                "'overdue', 'overdue', '[\"INV-1\"]', '2026-01-01 10:00:00', NULL, NULL, "
                "'abc', 'sent')"
            )
        )
    store = Store.from_url(url)
    store.create_all()
    columns = {c["name"] for c in inspect(store.engine).get_columns("messages")}
    assert {"rule_set", "rules", "due_at", "granted_at"} <= columns
    (row,) = store.messages(tenant="t")
    assert row.dedupe_key == "k1" and row.rule_set is None and row.granted_at is None
    # Twice is a no-op.
    assert add_missing_columns(store.engine, list(STORE_TABLES)) == []
    store.dispose()


def test_a_missing_required_column_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'older.db'}"
    with create_engine(url).begin() as conn:
        conn.execute(text("CREATE TABLE messages (id INTEGER PRIMARY KEY)"))
    store = Store.from_url(url)
    with pytest.raises(RuntimeError, match="table 'messages' has no column 'dedupe_key'"):
        store.create_all()
    store.dispose()
