"""Money in a withdrawn currency (DEM) is read, never matched, and queued saying why."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cobranza.domain.effects import InvoiceSnapshot
from cobranza.domain.invoice import InvoiceStatus
from cobranza.domain.matching import Outcome
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, Statement, StatementLine
from cobranza.integrations.bank_files import read_mt940
from cobranza.reconciliation.statement_run import against_nothing, reconcile_statement
from cobranza.store import Store, money_in

CMXL = Path(__file__).resolve().parents[1] / "fixtures/money_in/mt940/generic_de_cmxl.sta"
DEM_REASON = (
    "no open invoice is in DEM, a currency withdrawn from ISO 4217 (last in use 2002-05-15)"
)


def open_invoice(invoice_id: str, amount: str, currency: str) -> InvoiceSnapshot:
    money = Money.parse(amount, currency)
    return InvoiceSnapshot(
        workflow_id=f"invoice-acme-{invoice_id}",
        tenant="acme",
        invoice_id=invoice_id,
        customer_id="CUST-1",
        country="DE",
        currency=currency,
        amount_minor=money.minor,
        paid_minor=0,
        status=InvoiceStatus.OPEN,
        dunning_level=0,
        issued_on=date(2013, 10, 1),
        due_on=date(2013, 10, 31),
        policy_ref="standard@v1",
        updated_at=datetime(2013, 10, 1, tzinfo=UTC),
    )


def dem_line(**changes: Any) -> StatementLine:
    fields: dict[str, Any] = {
        "source": "s.sta",
        "line": 5,
        "entry_id": "E1",
        "account": "45050050/76198810",
        "direction": Direction.CREDIT,
        "amount": Money.parse("4200.00", "DEM"),
        "booked_on": date(2013, 10, 24),
    }
    fields.update(changes)
    return StatementLine(**fields)


def test_the_deutsche_mark_statements_credits_are_queued_with_their_reason(store: Store) -> None:
    store.upsert_invoice(open_invoice("RE-1", "4200.00", "EUR"))
    run = reconcile_statement(store, read_mt940(CMXL))
    dem = sorted(
        (r for r in run.results if r.line.amount.currency == "DEM"), key=lambda r: r.line.line
    )
    assert [(r.line.line, r.outcome) for r in dem if r.outcome is not Outcome.DEBIT] == [
        (9, Outcome.EXCEPTION),
        (15, Outcome.EXCEPTION),  # 4,200.00 DEM: the same figure as RE-1, in EUR
        (21, Outcome.EXCEPTION),
        (23, Outcome.EXCEPTION),
    ]
    assert {r.reason for r in dem if r.outcome is Outcome.EXCEPTION} == {DEM_REASON}
    assert all(r.outcome is Outcome.DEBIT for r in dem if r.line.direction is Direction.DEBIT)
    others = {r.reason for r in run.results if r.line.amount.currency != "DEM"}
    assert DEM_REASON not in others
    assert run.imported is not None
    queued = [row for row in money_in.exceptions(store) if row.currency == "DEM"]
    assert sorted((row.payload["line"], row.reason) for row in queued) == [
        (n, DEM_REASON) for n in (9, 15, 21, 23)
    ]


def test_a_known_payer_in_deutsche_mark_is_queued_not_credited(store: Store) -> None:
    store.upsert_invoice(open_invoice("RE-1", "100.00", "EUR"))
    money_in.add_customer_alias(store, "acme", "CUST-1", kind="name", value="Mueller GmbH")
    run = reconcile_statement(store, _statement(dem_line(counterparty_name="Mueller GmbH")))
    [result] = run.results
    assert (result.outcome, result.reason, result.credit) == (Outcome.EXCEPTION, DEM_REASON, None)
    assert result.customer_id == "CUST-1"


def test_a_dry_run_without_a_store_gives_the_same_reason() -> None:
    run = against_nothing(_statement(dem_line()))
    assert [(r.outcome, r.reason) for r in run.results] == [(Outcome.EXCEPTION, DEM_REASON)]


def _statement(*lines: StatementLine) -> Statement:
    return Statement(source="s.sta", format="mt940", lines=lines)
