"""`cobranza reconcile`: the --json shape, --dry-run writing nothing, unreadable files."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from cobranza.domain.effects import InvoiceSnapshot
from cobranza.domain.invoice import InvoiceStatus
from cobranza.domain.money import Money
from cobranza.reconciliation.exception_resolution import Resolution, ResolutionRequest
from cobranza.starter import exceptions_cli
from cobranza.starter.cli import app
from cobranza.store import Store, money_in

HERE = Path(__file__).resolve().parent / "fixtures"
STATEMENT = HERE / "grouped_partial.camt053.xml"


def open_invoice(invoice_id: str, amount_minor: int) -> InvoiceSnapshot:
    return InvoiceSnapshot(
        workflow_id=f"invoice-camt-{invoice_id}",
        tenant="camt",
        invoice_id=invoice_id,
        customer_id="GOMEZ",
        country="MX",
        currency="MXN",
        amount_minor=amount_minor,
        paid_minor=0,
        status=InvoiceStatus.OPEN,
        dunning_level=0,
        issued_on=date(2026, 4, 1),
        due_on=date(2026, 5, 1),
        policy_ref="standard@v1",
        updated_at=datetime(2026, 4, 1, tzinfo=UTC),
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    database = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store.from_url(database)
    store.create_all()
    for invoice_id, minor in (("G-1", 100_00), ("G-2", 250_00), ("G-3", 400_00)):
        store.upsert_invoice(open_invoice(invoice_id, minor))
    store.dispose()
    return database


def test_dry_run_json_has_one_object_per_entry_and_writes_nothing(url: str) -> None:
    result = CliRunner().invoke(
        app, ["reconcile", str(STATEMENT), "--dry-run", "--json", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"lines", "errors"} <= set(data) and data["errors"] == []
    assert data["store"] == {"url": url.removeprefix("sqlite:///"), "exists": True}
    grouped, partial = data["lines"]
    assert {k: grouped[k] for k in ("amount", "currency", "booked_on", "reference")} == {
        "amount": "350.00",
        "currency": "MXN",
        "booked_on": "2026-04-20",
        "reference": None,
    }
    assert grouped["match"] == {
        "rule": "grouped",
        "confidence": 0.85,
        "invoices": [
            {"invoice_id": "G-1", "amount": "100.00"},
            {"invoice_id": "G-2", "amount": "250.00"},
        ],
    }
    assert partial["reference"] == "G-3" and partial["match"]["rule"] == "partial"

    assert money_in_tables(url) == set()


def money_in_tables(url: str) -> set[str]:
    """The money-in tables the store has; reading them through money_in would create them."""
    store = Store.from_url(url)
    try:
        return {t for t in inspect(store.engine).get_table_names() if t.startswith("money_in")}
    finally:
        store.dispose()


def test_dry_run_without_a_store_creates_none_and_says_so(tmp_path: Path) -> None:
    where = tmp_path / "elsewhere" / "store.db"
    args = ["reconcile", str(STATEMENT), "--dry-run", "--database-url", f"sqlite:///{where}"]

    as_json = CliRunner().invoke(app, [*args, "--json"])
    as_table = CliRunner().invoke(app, args)

    assert as_json.exit_code == 0 and as_table.exit_code == 0, as_json.output + as_table.output
    data = json.loads(as_json.stdout)
    assert data["store"] == {"url": str(where), "exists": False}
    assert [line["match"] for line in data["lines"]] == [None, None]
    assert f"{where} does not exist" in " ".join(as_table.stdout.split())
    assert not where.parent.exists()


def test_reconcile_without_the_workflow_service_names_it_and_writes_nothing(url: str) -> None:
    args = ["reconcile", str(STATEMENT), "--json", "--database-url", url]

    result = CliRunner().invoke(app, [*args, "--temporal-address", "127.0.0.1:9"])

    assert result.exit_code == 1
    [message] = result.stderr.splitlines()
    assert message.startswith("--temporal-address: 127.0.0.1:9: cannot connect (")
    # --json: one object on stdout too, as for an unreadable file: no lines, the reason.
    assert json.loads(result.stdout) == {"lines": [], "errors": [message], "store": None}
    assert money_in_tables(url) == set()
    again = CliRunner().invoke(app, [*args, "--dry-run"])
    assert [line["imported_before"] for line in json.loads(again.stdout)["lines"]] == [False] * 2


def test_an_unmatched_line_has_a_null_match(url: str, tmp_path: Path) -> None:
    odd = tmp_path / "odd.xml"
    odd.write_text(STATEMENT.read_text().replace("G-3", "ZZ-9"))
    result = CliRunner().invoke(
        app, ["reconcile", str(odd), "--dry-run", "--json", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)["lines"][1]
    assert line["match"] is None and line["outcome"] == "exception"


def test_the_table_names_rules_and_invoices(url: str) -> None:
    result = CliRunner().invoke(
        app, ["reconcile", str(STATEMENT), "--dry-run", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    assert all(word in result.stdout for word in ("grouped", "partial", "G-1", "G-3", "150.00"))


def test_an_unreadable_file_exits_non_zero_naming_file_line_and_reason(
    url: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text(
        STATEMENT.read_text().replace('<Amt Ccy="MXN">150.00</Amt>', '<Amt Ccy="MXN">1x0</Amt>')
    )
    result = CliRunner().invoke(app, ["reconcile", str(broken), "--json", "--database-url", url])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{broken}:")  # the path as given, not only its name
    line = result.stderr.removeprefix(f"{broken}:").split(":")[0]
    assert line.isdigit() and int(line) > 1
    # --json still prints one object: no lines, the same error, nothing stored.
    assert json.loads(result.stdout) == {
        "lines": [],
        "errors": [result.stderr.strip()],
        "store": None,
    }

    missing = CliRunner().invoke(app, ["reconcile", str(tmp_path / "nope.xml")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_exceptions_list_json_gives_amount_as_text_and_age_in_days(url: str) -> None:
    store = Store.from_url(url)
    money_in.queue_exception(
        store,
        source="statement",
        key="E-9",
        reason="no invoice matches",
        amount=Money.parse("75.10", "MXN"),
        tenant="camt",
        at=datetime.now(UTC) - timedelta(days=2, hours=3),
    )
    store.dispose()

    result = CliRunner().invoke(app, ["exceptions", "list", "--json", "--database-url", url])

    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert (row["key"], row["amount"], row["currency"], row["age_days"]) == (
        "E-9",
        "75.10",
        "MXN",
        2,
    )


def test_reassign_needs_invoices_or_a_customer(url: str) -> None:
    result = CliRunner().invoke(
        app, ["exceptions", "reassign", "1", "--actor", "ana", "--database-url", url]
    )

    assert result.exit_code == 2
    assert "--invoice" in result.stderr and "--customer" in result.stderr


def test_resolving_without_the_workflow_service_says_where_it_looked(url: str) -> None:
    store = Store.from_url(url)
    money_in.queue_exception(store, source="statement", key="E-1", reason="no invoice matches")
    [row] = money_in.exceptions(store)
    store.dispose()
    args = ["exceptions", "confirm", str(row.id), "--actor", "ana", "--note", "refund"]
    address = ["--temporal-address", "127.0.0.1:9", "--database-url", url]

    result = CliRunner().invoke(app, args + address)

    assert result.exit_code == 1
    [message] = result.stderr.splitlines()
    assert message.startswith(f"exception {row.id}: --temporal-address: 127.0.0.1:9: cannot")


def test_resolving_an_exception_that_does_not_exist_says_so_before_connecting(url: str) -> None:
    args = ["exceptions", "confirm", "99", "--actor", "ana", "--note", "refund"]
    address = ["--temporal-address", "127.0.0.1:9", "--database-url", url]

    result = CliRunner().invoke(app, args + address)

    assert result.exit_code == 1
    assert result.stderr == "exception 99: exception_id: no exception 99\n"


def test_format_takes_the_names_it_advertises_and_lists_them_once_when_refusing(
    url: str,
) -> None:
    args = ["reconcile", str(STATEMENT), "--dry-run", "--json", "--database-url", url]

    named = CliRunner().invoke(app, [*args, "--format", "camt.053"])
    unknown = CliRunner().invoke(app, [*args, "--format", "swift"])

    assert named.exit_code == 0, named.output
    assert unknown.exit_code == 2
    [message] = unknown.stderr.splitlines()
    assert message.startswith("--format: 'swift' is not one of camt, mt940,")
    assert message.count("mt940") == 1


def test_a_directory_is_named_as_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["reconcile", str(tmp_path), "--dry-run"])

    assert result.exit_code == 2
    assert result.stderr == f"{tmp_path}: a directory: give one statement file\n"


def test_a_cfdi_invoice_is_refused_in_the_users_words() -> None:
    ingreso = HERE.parent.parent / "fixtures" / "money_in" / "cfdi40" / "ingreso_ppd_stamped.xml"

    result = CliRunner().invoke(app, ["reconcile", str(ingreso), "--dry-run"])

    assert result.exit_code == 2
    assert "TipoDeComprobante is 'I', not 'P'" in result.stderr
    assert "payment complement" in result.stderr and "read_cfdi" not in result.stderr


def test_exceptions_list_refuses_an_unknown_status_naming_the_accepted_ones(url: str) -> None:
    result = CliRunner().invoke(
        app, ["exceptions", "list", "--status", "bogus", "--database-url", url]
    )

    assert result.exit_code == 2
    text = " ".join(result.stderr.split())
    assert all(name in text for name in ("'bogus'", "open", "confirmed", "reassigned", "all"))


def test_exceptions_list_all_shows_every_status(url: str) -> None:
    store = Store.from_url(url)
    for key in ("E-2", "E-3", "E-4"):
        money_in.queue_exception(store, source="statement", key=key, reason="no invoice matches")
    at = datetime.now(UTC)
    for key, status in (("E-3", "confirmed"), ("E-4", "reassigned")):
        row = money_in.exception_by_key(store, "statement", key)
        assert row is not None and row.id is not None
        money_in.resolve_exception(store, row.id, status=status, actor="ana", resolution={}, at=at)
    store.dispose()

    def listed(status: str) -> list[tuple[str, str]]:
        result = CliRunner().invoke(
            app, ["exceptions", "list", "--status", status, "--json", "--database-url", url]
        )
        assert result.exit_code == 0, result.output
        return [(row["key"], row["status"]) for row in json.loads(result.stdout)]

    assert listed("all") == [("E-2", "open"), ("E-3", "confirmed"), ("E-4", "reassigned")]
    assert listed("open") == [("E-2", "open")]
    assert listed("confirmed") == [("E-3", "confirmed")]


def test_the_table_off_a_terminal_is_wide_enough_to_cut_nothing(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    where = "sqlite:///" + url.removeprefix("sqlite:///").replace("store.db", "none/store.db")

    result = CliRunner().invoke(
        app, ["reconcile", str(STATEMENT), "--dry-run", "--database-url", where]
    )

    assert result.exit_code == 0, result.output
    rows = [r for r in result.stdout.splitlines() if "2026-04-20" in r]
    assert len(rows) == 2
    assert all("no reference to an open invoice and payer unknown" in r for r in rows)
    assert "350.00 MXN" in rows[0] and "150.00 MXN" in rows[1]


def test_the_process_exits_1_without_the_workflow_service(url: str) -> None:
    """In a process of its own, as a user runs it: the exit status is the command's 1, not an
    abort at interpreter exit (the SDK's failed connect could end it with 134)."""
    command = [sys.executable, "-m", "cobranza.starter.cli", "reconcile", str(STATEMENT)]
    options = ["--database-url", url, "--temporal-address", "127.0.0.1:9"]

    done = subprocess.run([*command, *options], capture_output=True, text=True, timeout=120)

    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("--temporal-address: 127.0.0.1:9: cannot connect (")
    assert len(done.stderr.splitlines()) == 1


def test_exceptions_commands_name_a_missing_store_and_create_none(tmp_path: Path) -> None:
    where = tmp_path / "elsewhere" / "store.db"
    database = ["--database-url", f"sqlite:///{where}"]

    listed = CliRunner().invoke(app, ["exceptions", "list", *database])
    confirmed = CliRunner().invoke(
        app, ["exceptions", "confirm", "7", "--actor", "ana", "--note", "refund", *database]
    )

    assert listed.exit_code == 1 and confirmed.exit_code == 1
    assert listed.stderr.startswith(f"store: {where} does not exist")
    assert confirmed.stderr.startswith(f"exception 7: store: {where} does not exist")
    assert not where.parent.exists()


def test_resolving_with_work_left_undone_says_what_and_exits_1(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exception is resolved but an invoice could not be resumed: the command says which
    and who finishes it, and exits 1 so a script does not take it for a clean success."""
    store = Store.from_url(url)
    money_in.queue_exception(store, source="statement", key="E-2", reason="no invoice matches")
    [row] = money_in.exceptions(store)
    store.dispose()
    assert row.id is not None
    undone = "customer GOMEZ (camt): invoice-camt-G-1 not resumed yet (workflow service: down)"

    async def connected(address: str) -> object:
        return object()

    async def resolved(store: Store, client: object, request: ResolutionRequest) -> Resolution:
        return Resolution(request.exception_id, money_in.EXCEPTION_CONFIRMED, errors=[undone])

    monkeypatch.setattr(exceptions_cli, "connect_named", connected)
    monkeypatch.setattr(exceptions_cli, "resolve", resolved)
    args = ["exceptions", "confirm", str(row.id), "--actor", "ana", "--note", "refund"]

    result = CliRunner().invoke(app, [*args, "--database-url", url])

    assert result.exit_code == 1
    assert result.stderr == f"exception {row.id}: {undone}\n"


def test_resolving_says_what_was_done(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.from_url(url)
    money_in.queue_exception(store, source="statement", key="E-3", reason="no invoice matches")
    [row] = money_in.exceptions(store)
    store.dispose()

    async def connected(address: str) -> object:
        return object()

    async def resolved(store: Store, client: object, request: ResolutionRequest) -> Resolution:
        return Resolution(request.exception_id, money_in.EXCEPTION_CONFIRMED)

    monkeypatch.setattr(exceptions_cli, "connect_named", connected)
    monkeypatch.setattr(exceptions_cli, "resolve", resolved)
    args = ["exceptions", "confirm", str(row.id), "--actor", "ana", "--note", "refunded"]

    result = CliRunner().invoke(app, [*args, "--database-url", url])

    assert result.exit_code == 0, result.output
    assert result.stdout == f"exception {row.id} confirmed by ana: refunded\n"


def test_usage_lines_name_arguments_in_capitals() -> None:
    for command in (["reconcile"], ["exceptions", "confirm"], ["exceptions", "reassign"]):
        result = CliRunner().invoke(app, [*command, "--help"], terminal_width=100)
        usage = next(line for line in result.stdout.splitlines() if "Usage:" in line)
        # typer brackets a required argument with braces, an optional one with [ ].
        assert usage.split()[-1].strip("{}[]") in ("FILE", "EXCEPTION_ID"), usage


def test_a_dry_run_on_a_store_lacking_a_required_column_names_it_in_the_json(
    url: str, tmp_path: Path
) -> None:
    store = Store.from_url(url)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE messages DROP COLUMN template")
    store.dispose()

    result = CliRunner().invoke(
        app, ["reconcile", str(STATEMENT), "--dry-run", "--json", "--database-url", url]
    )

    assert result.exit_code == 1
    where = (tmp_path / "store.db").resolve()
    reason = (
        f"store {where}: table 'messages' has no column 'template', which is required: "
        "migrate or start a new store"
    )
    assert json.loads(result.stdout) == {"lines": [], "errors": [reason], "store": None}
    assert result.stderr.strip() == reason
