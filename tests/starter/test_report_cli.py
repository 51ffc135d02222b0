"""`cobranza report`: the collection report of a live store, money in included; refusals."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store.reconciled_store import AS_OF, build_store
from typer.testing import CliRunner, Result

from cobranza.starter.cli import app


@pytest.fixture
def url(tmp_path: Path) -> str:
    return build_store(tmp_path / "store.db")


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["report", *args])


def test_report_json_has_money_in_per_currency_as_decimal_strings(url: str, tmp_path: Path) -> None:
    target, page = tmp_path / "out" / "r.json", tmp_path / "r.html"

    result = run(
        "--database-url", url, "--as-of", AS_OF.isoformat(),
        "--report-json", str(target), "--report-html", str(page),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    data = json.loads(target.read_text())
    assert data["tenant"] is None and data["as_of"] == "2025-06-15T18:00:00Z"
    assert data["amount_invoiced"] == {"JPY": "7000", "MXN": "350.00"}
    assert data["amount_collected"] == {"JPY": "0", "MXN": "100.00"}
    money_in = data["money_in"]
    assert money_in["matched_by_rule"] == {
        "exact_reference": {"entries": 1, "amount": {"MXN": "100.00"}}
    }
    assert money_in["unmatched"] == {
        "MXN": {
            "exceptions": 1,
            "amount": "40.00",
            "oldest_days": 45,  # booked 1 May at noon, as of 15 June 18:00
            "by_age": {"31-90 days": "40.00"},
        },
        "USD": {
            "exceptions": 1,
            "amount": "5.00",
            "oldest_days": 2,
            "by_age": {"0-7 days": "5.00"},
        },
    }
    assert money_in["money_in_to_closed"]["statement"]["median_hours"] == 5.0
    assert "all tenants" in result.stdout and "Money in matched by rule" in result.stdout
    assert f"wrote {target}" in result.stdout and f"wrote {page}" in result.stdout
    assert "<h2>Money in</h2>" in page.read_text()


def test_one_tenant_and_a_date_meaning_the_end_of_that_day(url: str, tmp_path: Path) -> None:
    target = tmp_path / "beta.json"

    result = run("--database-url", url, "--tenant", "beta", "--as-of", "2025-06-15",
                 "--report-json", str(target))  # fmt: skip

    assert result.exit_code == 0, result.output
    data = json.loads(target.read_text())
    assert data["tenant"] == "beta" and data["as_of"] == "2025-06-15T23:59:59.999999Z"
    assert data["amount_outstanding"] == {"JPY": "7000"}
    assert data["money_in"] is None  # acme's money is not beta's


def test_default_as_of_is_now_in_utc(url: str, tmp_path: Path) -> None:
    target = tmp_path / "now.json"
    before = datetime.now(UTC)

    result = run("--database-url", url, "--report-json", str(target))

    assert result.exit_code == 0, result.output
    as_of = datetime.fromisoformat(json.loads(target.read_text())["as_of"])
    assert as_of.utcoffset() == timedelta(0) and as_of.microsecond == 0
    assert before <= as_of <= datetime.now(UTC) + timedelta(seconds=1)


def test_the_store_file_is_left_byte_identical(url: str, tmp_path: Path) -> None:
    """The report reads through a copy: not even the money-in tables it reads get created."""
    store_file = tmp_path / "store.db"
    before = store_file.read_bytes()

    result = run("--database-url", url, "--as-of", AS_OF.isoformat())

    assert result.exit_code == 0, result.output
    assert store_file.read_bytes() == before


def _drop_column(store_file: Path, table: str, column: str) -> None:
    """The store as an earlier version wrote it: without a column added since."""
    with closing(sqlite3.connect(store_file)) as conn:  # closed: its log is written back
        conn.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
        conn.commit()


def test_a_store_written_by_an_earlier_version_is_reported_and_left_as_it_was(
    url: str, tmp_path: Path
) -> None:
    """Columns added since are added to the copy the report reads, not to the user's file."""
    store_file, current, earlier = (tmp_path / name for name in ("store.db", "a.json", "b.json"))
    run("--database-url", url, "--as-of", AS_OF.isoformat(), "--report-json", str(current))
    _drop_column(store_file, "messages", "rule_set")
    before = store_file.read_bytes()

    result = run("--database-url", url, "--as-of", AS_OF.isoformat(), "--report-json", str(earlier))

    assert result.exit_code == 0, result.output
    assert earlier.read_text() == current.read_text()
    assert store_file.read_bytes() == before


def test_a_store_lacking_a_required_column_is_refused_naming_file_table_and_column(
    url: str, tmp_path: Path
) -> None:
    store_file = tmp_path / "store.db"
    _drop_column(store_file, "messages", "template")
    before = store_file.read_bytes()

    result = run("--database-url", url, "--as-of", AS_OF.isoformat())

    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip() == (
        f"store {store_file.resolve()}: table 'messages' has no column 'template', which is "
        "required: migrate or start a new store: no report"
    )
    assert store_file.read_bytes() == before


def test_an_empty_database_is_refused_and_left_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()

    result = run("--database-url", f"sqlite:///{empty}")

    assert result.exit_code == 1 and result.stdout == ""
    assert "holds no cobranza store: no report" in result.stderr
    assert empty.read_bytes() == b""


def test_a_tenant_the_store_does_not_know_is_refused_naming_those_it_has(url: str) -> None:
    result = run("--database-url", url, "--tenant", "acme ", "--as-of", AS_OF.isoformat())

    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip() == (
        "--tenant: no invoice of tenant 'acme ' in the store (tenants there: acme, beta)"
    )


def test_a_missing_store_is_refused_with_its_path_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "cobranza.db"

    result = run("--database-url", f"sqlite:///{missing}", "--report-json", str(tmp_path / "r"))

    assert result.exit_code == 1 and result.stdout == ""
    assert str(missing) in result.stderr and "does not exist" in result.stderr
    assert not missing.exists() and not missing.parent.exists()
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("given", ["2025-06-15T18:00:00", "2025-06-15 18:00"])
def test_a_time_without_offset_is_refused_naming_the_option(url: str, given: str) -> None:
    result = run("--database-url", url, "--as-of", given)

    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"--as-of: {given!r} has no UTC offset")


def test_an_unreadable_as_of_is_refused_naming_the_option(url: str) -> None:
    result = run("--database-url", url, "--as-of", "June 15")

    assert result.exit_code == 2
    assert result.stderr.startswith("--as-of: 'June 15' is not an ISO 8601 date or instant")
