"""`cobranza store upgrade`, and a store no command can upgrade named instead of a traceback."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner, Result

from cobranza.starter.cli import app
from cobranza.store.store import Store

DATASET = (
    Path(__file__).resolve().parents[2] / "examples" / "ibm_accounts_receivable_late_payments.csv"
)


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    where = tmp_path / "cobranza.db"
    store = Store.from_url(f"sqlite:///{where}")
    store.create_all()
    store.dispose()
    return where


def drop(store_file: Path, table: str, column: str) -> None:
    with closing(sqlite3.connect(store_file)) as conn:
        conn.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
        conn.commit()


def upgrade(store_file: Path) -> Result:
    return CliRunner().invoke(
        app, ["store", "upgrade", "--database-url", f"sqlite:///{store_file}"]
    )


def test_upgrade_adds_what_an_earlier_version_lacked_then_finds_it_up_to_date(
    store_file: Path,
) -> None:
    drop(store_file, "messages", "rule_set")
    drop(store_file, "messages", "granted_at")

    first, second = upgrade(store_file), upgrade(store_file)

    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == (
        f"store {store_file.resolve()}: added messages.rule_set, messages.granted_at"
    )
    assert second.stdout.strip() == f"store {store_file.resolve()}: up to date"
    engine = Store.from_url(f"sqlite:///{store_file}").engine
    assert {"rule_set", "granted_at"} <= {
        c["name"] for c in inspect(engine).get_columns("messages")
    }
    engine.dispose()


def test_a_store_lacking_a_required_column_is_left_exactly_as_it_was(store_file: Path) -> None:
    """Not even the nullable column beside it, nor a missing table, is added first."""
    drop(store_file, "messages", "template")
    drop(store_file, "messages", "rule_set")
    with closing(sqlite3.connect(store_file)) as conn:
        conn.execute("DROP TABLE timeline")
        conn.commit()
    before = store_file.read_bytes()

    result = upgrade(store_file)

    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip() == (
        f"store {store_file.resolve()}: table 'messages' has no column 'template', which is "
        "required: migrate or start a new store"
    )
    assert store_file.read_bytes() == before


def test_upgrade_creates_no_store_where_there_is_none(tmp_path: Path) -> None:
    result = upgrade(tmp_path / "nowhere.db")

    assert result.exit_code == 1
    assert "does not exist" in result.stderr and "nothing to upgrade" in result.stderr
    assert not (tmp_path / "nowhere.db").exists()


def test_simulate_on_a_store_it_cannot_upgrade_names_it_and_exits_1(store_file: Path) -> None:
    drop(store_file, "messages", "template")
    command = [
        sys.executable, "-m", "cobranza.starter.cli", "simulate", str(DATASET),
        "--limit", "1", "--in-memory", "--database-url", f"sqlite:///{store_file}",
    ]  # fmt: skip

    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().endswith(
        "table 'messages' has no column 'template', which is required: migrate or start a new store"
    )
