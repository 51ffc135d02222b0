"""The money-in report over real store rows, on SQLite and PostgreSQL: rules, unmatched, speed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import inspect
from store.conftest import store  # noqa: F401  (the SQLite + PostgreSQL store fixture)

from cobranza.domain.effects import InvoiceSnapshot
from cobranza.domain.invoice import InvoiceStatus, PaymentReceived
from cobranza.domain.matching import Allocation, LineMatch, Outcome, Rule
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, StatementLine
from cobranza.store import Store, money_in
from cobranza.store.money_in_report import money_in_report, percentile
from cobranza.store.report_model import ClosingTime, RuleFigures, UnmatchedFigures
from cobranza.store.reports import build_report, print_report, write_report_html

AS_OF = datetime(2025, 6, 15, 18, 0, tzinfo=UTC)
IMPORTED = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), UTC)


def invoice(
    invoice_id: str, amount: str, currency: str = "MXN", tenant: str = "acme", **changes: Any
) -> InvoiceSnapshot:
    minor = Money.parse(amount, currency).minor
    fields: dict[str, Any] = {
        "workflow_id": f"invoice-{tenant}-{invoice_id}",
        "tenant": tenant,
        "invoice_id": invoice_id,
        "customer_id": "CUST-1",
        "country": "MX",
        "currency": currency,
        "amount_minor": minor,
        "paid_minor": 0,
        "status": InvoiceStatus.OPEN,
        "dunning_level": 0,
        "issued_on": date(2025, 5, 1),
        "due_on": date(2025, 5, 31),
        "policy_ref": "standard@v1",
        "updated_at": AS_OF - timedelta(days=1),
    }
    fields.update(changes)
    return InvoiceSnapshot(**fields)


def paid(snap: InvoiceSnapshot, closed_at: datetime) -> InvoiceSnapshot:
    return snap.model_copy(
        update={
            "status": InvoiceStatus.PAID,
            "paid_minor": snap.amount_minor,
            "closed_at": closed_at,
        }
    )


def line(entry_id: str, amount: str, booked_on: date, currency: str = "MXN") -> StatementLine:
    return StatementLine(
        source="june.xml",
        line=int(entry_id[1:]),
        entry_id=entry_id,
        account="0001",
        direction=Direction.CREDIT,
        amount=Money.parse(amount, currency),
        booked_on=booked_on,
        reference=entry_id,
    )


def matched(
    ln: StatementLine, rule: Rule, *invoices: tuple[InvoiceSnapshot, str], credit: str = ""
) -> LineMatch:
    return LineMatch(
        line=ln,
        outcome=Outcome.MATCHED,
        rule=rule,
        confidence=1.0,
        allocations=tuple(
            Allocation(
                invoice_id=i.invoice_id,
                workflow_id=i.workflow_id,
                tenant=i.tenant,
                amount=Money.parse(amount, i.currency),
            )
            for i, amount in invoices
        ),
        credit=Money.parse(credit, ln.amount.currency) if credit else None,
        customer_id="CUST-1",
        tenant="acme",
    )


def unmatched(ln: StatementLine, tenant: str = "acme") -> LineMatch:
    return LineMatch(line=ln, outcome=Outcome.EXCEPTION, reason="no invoice", tenant=tenant)


def record_paid(db: Store, snap: InvoiceSnapshot, payment_id: str, at: datetime) -> None:
    """The invoice workflow's own records: the payment, then the closed snapshot."""
    payment = PaymentReceived(
        payment_id=payment_id,
        amount=Money(minor=snap.amount_minor, currency=snap.currency),
        received_at=at,
    )
    db.record_payment(
        workflow_id=snap.workflow_id,
        tenant=snap.tenant,
        invoice_id=snap.invoice_id,
        payment=payment,
    )


def seed(db: Store) -> None:
    """Statement matches by three rules, a webhook payment, exceptions of every kind of state."""
    m1 = invoice("M-1", "100.00")
    m2, m3 = invoice("M-2", "50.00"), invoice("M-3", "70.00")
    m4 = invoice("M-4", "100.00")
    w1 = invoice("W-1", "5000", currency="JPY")
    a1 = invoice("A-1", "30.00")  # paid by autopay: money in, but not reconciliation's
    late = invoice("L-1", "10.00")  # matched after the report's instant
    e1, e2, e3 = (
        line("E1", "100.00", date(2025, 6, 1)),
        line("E2", "120.00", date(2025, 6, 2)),
        line("E3", "120.00", date(2025, 6, 4)),
    )
    money_in.record_import(
        db,
        [
            matched(e1, Rule.EXACT_REFERENCE, (m1, "100.00")),
            matched(e2, Rule.GROUPED, (m2, "50.00"), (m3, "70.00")),
            matched(e3, Rule.OVERPAYMENT, (m4, "100.00"), credit="20.00"),
            unmatched(line("E4", "40.00", date(2025, 5, 1))),
            unmatched(line("E5", "10.00", date(2025, 6, 14))),
            unmatched(line("E6", "1.00", date(2025, 6, 14)), tenant="other"),
        ],
        IMPORTED,
    )
    money_in.record_import(
        db,
        [matched(line("E9", "10.00", date(2025, 6, 16)), Rule.EXACT_REFERENCE, (late, "10.00"))],
        AS_OF + timedelta(days=1),
    )
    for snap, entry, closed_at in (
        (m1, "E1", datetime(2025, 6, 1, 17, tzinfo=UTC)),
        (m2, "E2", datetime(2025, 6, 3, 12, tzinfo=UTC)),
        (m3, "E2", datetime(2025, 6, 3, 12, tzinfo=UTC)),
        (m4, "E3", datetime(2025, 6, 4, 14, tzinfo=UTC)),
    ):
        booked = {"E1": date(2025, 6, 1), "E2": date(2025, 6, 2), "E3": date(2025, 6, 4)}[entry]
        record_paid(db, snap, money_in.payment_id_for(entry, snap.invoice_id), noon(booked))
        db.upsert_invoice(paid(snap, closed_at))
    record_paid(db, w1, "stripe:pi_1", datetime(2025, 6, 5, 10, tzinfo=UTC))
    db.upsert_invoice(paid(w1, datetime(2025, 6, 5, 10, 0, 30, tzinfo=UTC)))
    record_paid(db, a1, "charge:invoice-acme-A-1:1", datetime(2025, 6, 6, 10, tzinfo=UTC))
    db.upsert_invoice(paid(a1, datetime(2025, 6, 6, 10, tzinfo=UTC)))
    db.upsert_invoice(late)

    money_in.queue_exception(
        db,
        source="webhook:stripe",
        key="evt_new",
        reason="unknown invoice",
        tenant="acme",
        amount=Money.parse("5.00", "USD"),
        at=AS_OF - timedelta(days=2),
    )
    money_in.queue_exception(
        db,
        source="webhook:stripe",
        key="evt_body",
        reason="unreadable",
        tenant="acme",
        at=AS_OF - timedelta(hours=1),
    )
    for key, queued, resolved in (("evt_done", 20, 3), ("evt_later", 14, -1)):
        money_in.queue_exception(
            db,
            source="webhook:stripe",
            key=key,
            reason="unknown invoice",
            tenant="acme",
            amount=Money.parse("3.00", "USD"),
            at=AS_OF - timedelta(days=queued),
        )
        [row] = [r for r in money_in.exceptions(db) if r.key == key]
        assert row.id is not None
        money_in.resolve_exception(
            db,
            row.id,
            status=money_in.EXCEPTION_CONFIRMED,
            actor="ana",
            resolution={},
            at=AS_OF - timedelta(days=resolved),
        )
    money_in.queue_exception(
        db,
        source="webhook:stripe",
        key="evt_future",
        reason="unknown invoice",
        tenant="acme",
        amount=Money.parse("9.00", "USD"),
        at=AS_OF + timedelta(hours=1),
    )


def test_matched_by_rule_unmatched_by_age_and_hours_to_close(store: Store) -> None:  # noqa: F811
    seed(store)

    report = money_in_report(store, AS_OF, tenant="acme")

    assert report is not None
    assert report.statement_entries == 5  # E1-E5 of acme; E6 is another tenant's, E9 later
    assert report.matched_by_rule == {
        "exact_reference": RuleFigures(entries=1, amount={"MXN": "100.00"}),
        "grouped": RuleFigures(entries=1, amount={"MXN": "120.00"}),
        "overpayment": RuleFigures(entries=1, amount={"MXN": "100.00"}),
        "webhook": RuleFigures(entries=1, amount={"JPY": "5000"}),
    }
    assert report.credit == {"MXN": "20.00"}
    assert report.unmatched == {
        "MXN": UnmatchedFigures(
            exceptions=2,
            amount="50.00",
            oldest_days=45,  # booked 1 May at noon, as of 15 June 18:00
            by_age={"0-7 days": "10.00", "31-90 days": "40.00"},
        ),
        "USD": UnmatchedFigures(
            exceptions=2,
            amount="8.00",
            oldest_days=14,  # resolved after the report's instant: still waiting then
            by_age={"0-7 days": "5.00", "8-30 days": "3.00"},
        ),
    }
    assert report.unmatched_without_amount == 1
    # Statement: 5 h, 24 h, 24 h, 2 h; webhook: 30 s. The autopay charge is not money-in.
    assert report.money_in_to_closed == {
        "all": ClosingTime(invoices=5, median_hours=5.0, p90_hours=24.0),
        "statement": ClosingTime(invoices=4, median_hours=14.5, p90_hours=24.0),
        "webhook": ClosingTime(invoices=1, median_hours=0.01, p90_hours=0.01),
    }


def test_every_tenant_and_a_later_instant(store: Store) -> None:  # noqa: F811
    seed(store)

    everyone = money_in_report(store, AS_OF)
    later = money_in_report(store, AS_OF + timedelta(days=2), tenant="acme")

    assert everyone is not None and later is not None
    assert everyone.unmatched["MXN"].amount == "51.00"  # tenant other's 1.00 too
    assert everyone.statement_entries == 6
    assert later.matched_by_rule["exact_reference"] == RuleFigures(
        entries=2, amount={"MXN": "110.00"}
    )
    assert later.unmatched["USD"] == UnmatchedFigures(
        exceptions=2, amount="14.00", oldest_days=4, by_age={"0-7 days": "14.00"}
    )


def test_the_report_shows_money_in_as_table_json_and_html(store: Store, tmp_path: Path) -> None:  # noqa: F811
    seed(store)

    report = build_report(store, AS_OF, tenant="acme")
    console = Console(file=StringIO(), width=200)
    print_report(report, console)
    html = write_report_html(report, tmp_path / "report.html").read_text()
    data = json.loads(report.model_dump_json())

    assert report.money_in == money_in_report(store, AS_OF, tenant="acme")
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Money in matched by rule" in text and "overpayment" in text
    assert "45" in text and "14.5" in text
    assert data["money_in"]["unmatched"]["MXN"]["amount"] == "50.00"
    assert data["money_in"]["matched_by_rule"]["webhook"]["amount"] == {"JPY": "5000"}
    assert "<h2>Money in</h2>" in html and "31-90 days: 40.00" in html


def test_no_money_in_no_section_and_no_tables_created(store: Store, tmp_path: Path) -> None:  # noqa: F811
    store.upsert_invoice(invoice("X-1", "10.00"))

    report = build_report(store, AS_OF)

    assert report.money_in is None
    assert "Money in" not in write_report_html(report, tmp_path / "r.html").read_text()
    assert not inspect(store.engine).has_table("money_in_entries")


def test_p90_is_the_nearest_rank() -> None:
    assert percentile([1.0], 0.9) == 1.0
    assert percentile([float(n) for n in range(1, 11)], 0.9) == 9.0
    assert percentile([float(n) for n in range(1, 12)], 0.9) == 10.0
