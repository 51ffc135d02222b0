"""The collection report reconciles to the minor unit, classifies outcomes and ages debt."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from cobranza.domain.effects import InvoiceSnapshot
from cobranza.domain.invoice import InvoiceStatus, TimelineKind
from cobranza.store import Store
from cobranza.store.reports import (
    CollectionReport,
    build_report,
    print_report,
    split_amount,
    write_report_html,
    write_report_json,
)

from .factories import T0, entry, message_fields, recording, snapshot

AS_OF = datetime(2025, 6, 15, 18, 0, tzinfo=UTC)


def closed(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=15)


def portfolio() -> list[InvoiceSnapshot]:
    """Ten invoices of tenant acme in MXN, JPY (exponent 0) and KWD (exponent 3)."""
    paid = InvoiceStatus.PAID
    return [
        snapshot("A", status=paid, paid_minor=100_00, closed_at=closed(date(2025, 3, 20))),
        snapshot(
            "B",
            amount_minor=250_50,
            paid_minor=250_50,
            status=paid,
            closed_at=closed(date(2025, 4, 10)),
        ),
        snapshot(
            "C",
            country="JP",
            currency="JPY",
            amount_minor=19_350,
            paid_minor=5_000,
            due_on=date(2025, 5, 31),
        ),
        snapshot(
            "D",
            country="KW",
            currency="KWD",
            amount_minor=1_935_500,
            paid_minor=935_500,
            written_off_minor=1_000_000,
            status=InvoiceStatus.WRITTEN_OFF,
        ),
        snapshot(
            "E",
            country="KW",
            currency="KWD",
            amount_minor=12_345,
            paid_minor=1,
            status=InvoiceStatus.DISPUTED,
            disputed=True,
            due_on=date(2025, 7, 1),
        ),
        snapshot("F", amount_minor=80_00, status=InvoiceStatus.CANCELLED),
        snapshot(
            "G",
            amount_minor=300_00,
            status=InvoiceStatus.HANDED_OFF,
            due_on=date(2025, 2, 1),
            issued_on=date(2025, 1, 1),
        ),
        snapshot(
            "H",
            country="JP",
            currency="JPY",
            amount_minor=1_000,
            due_on=date(2025, 4, 15),
            status=InvoiceStatus.OVERDUE,
        ),
        snapshot("I", amount_minor=50_00, credited_minor=10_00, due_on=date(2025, 5, 1)),
        snapshot(
            "J",
            country="KW",
            currency="KWD",
            amount_minor=1_000,
            paid_minor=1_500,
            status=paid,
            closed_at=closed(date(2025, 3, 31)),
        ),
    ]


def noise() -> list[InvoiceSnapshot]:
    """Invoices every acme report must leave out: issued after as_of, or another tenant's."""
    return [
        snapshot("LATER", issued_on=date(2025, 6, 16), due_on=date(2025, 7, 16)),
        snapshot("OTHER", tenant="globex", amount_minor=999_99),
    ]


@pytest.fixture
def loaded(store: Store) -> Store:
    for snap in portfolio() + noise():
        store.record(recording(snap))
    a, h, other = portfolio()[0], portfolio()[7], noise()[1]
    escalate = TimelineKind.ESCALATION
    store.record(recording(h, entry(h, 1, escalate, level=1), entry(h, 2, escalate, level=2)))
    store.record(recording(a, entry(a, 1, escalate, level=1)))
    store.record(recording(a, entry(a, 2, escalate, at=AS_OF + timedelta(days=1), level=2)))
    store.record(recording(other, entry(other, 1, escalate, level=1)))
    sends = [
        ("m1", "reminder:-3", "email", AS_OF - timedelta(days=20)),
        ("m2", "reminder:-3", "email", AS_OF - timedelta(days=10)),
        ("m3", "reminder:+7", "sms", AS_OF - timedelta(days=5)),
        ("m4", "reminder:+7", "sms", AS_OF + timedelta(hours=1)),
    ]
    for key, step, channel, sent_at in sends:
        store.begin_message(**message_fields(key, step=step, channel=channel))
        store.mark_message_sent(key, f"prov-{key}", sent_at)
    store.begin_message(**message_fields("m5", step="reminder:+7", channel="whatsapp"))
    store.begin_message(**message_fields("m6", tenant="globex"))
    store.mark_message_sent("m6", "prov-m6", AS_OF - timedelta(days=1))
    return store


def test_amounts_reconcile_to_the_minor_unit_in_every_currency(loaded: Store) -> None:
    report = build_report(loaded, AS_OF, tenant="acme")

    assert report.invoices_total == 10
    assert report.currencies == ["JPY", "KWD", "MXN"]
    assert report.amount_invoiced == {"JPY": "20350", "KWD": "1948.845", "MXN": "780.50"}
    assert report.amount_collected == {"JPY": "5000", "KWD": "936.501", "MXN": "350.50"}
    assert report.amount_credited == {"JPY": "0", "KWD": "0.000", "MXN": "90.00"}
    assert report.amount_outstanding == {"JPY": "15350", "KWD": "12.344", "MXN": "340.00"}
    assert report.amount_written_off == {"JPY": "0", "KWD": "1000.000", "MXN": "0.00"}
    assert report.amount_overpaid == {"JPY": "0", "KWD": "0.500", "MXN": "0.00"}
    for currency in report.currencies:
        parts = (
            report.amount_collected,
            report.amount_credited,
            report.amount_outstanding,
            report.amount_written_off,
        )
        assert Decimal(report.amount_invoiced[currency]) == sum(
            Decimal(part[currency]) for part in parts
        )


def test_outcomes_put_each_invoice_in_exactly_one_class(loaded: Store) -> None:
    outcomes = build_report(loaded, AS_OF, tenant="acme").outcomes

    assert outcomes.model_dump() == {
        "paid_on_time": 2,
        "paid_after_reminders": 1,
        "partially_paid": 1,
        "disputed": 1,
        "written_off": 1,
        "handed_off": 1,
        "cancelled": 1,
        "open": 2,
    }


def test_aging_buckets_outstanding_by_days_past_due(loaded: Store) -> None:
    aging = build_report(loaded, AS_OF, tenant="acme").aging

    assert aging["MXN"].model_dump() == {
        "current": "0.00",
        "days_1_30": "0.00",
        "days_31_60": "40.00",
        "days_61_90": "0.00",
        "days_over_90": "300.00",
    }
    assert aging["JPY"].days_1_30 == "14350" and aging["JPY"].days_61_90 == "1000"
    assert aging["KWD"].current == "12.344" and aging["KWD"].days_over_90 == "0.000"


def test_timing_messages_escalations_and_countries(loaded: Store) -> None:
    report = build_report(loaded, AS_OF, tenant="acme")

    # MXN: (100.00 x 19 days + 250.50 x 40 days) / 350.50 = 34.0085...
    assert report.dso_days == {"KWD": 30.0, "MXN": 34.01}
    assert report.average_days_late == 3.33
    assert report.reminders_by_step_and_channel == {
        "reminder:+7": {"sms": 1},
        "reminder:-3": {"email": 2},
    }
    assert report.escalations_by_level == {1: 2, 2: 1}
    assert report.by_country["KW"].invoices == 3
    assert report.by_country["MX"].amount_outstanding == {"MXN": "340.00"}
    assert report.by_country["JP"].amount_collected == {"JPY": "5000"}


def test_report_over_all_tenants_and_of_an_empty_store(loaded: Store, store: Store) -> None:
    everyone = build_report(loaded, AS_OF)
    assert everyone.invoices_total == 11
    assert everyone.amount_invoiced["MXN"] == "1780.49"
    assert everyone.escalations_by_level == {1: 3, 2: 1}

    nobody = build_report(store, AS_OF, tenant="initech")
    assert nobody.invoices_total == 0 and nobody.dso_days == {}
    assert nobody.average_days_late is None


def test_report_refuses_a_naive_instant(store: Store) -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        build_report(store, AS_OF.replace(tzinfo=None))


def test_a_report_that_does_not_reconcile_cannot_be_built(loaded: Store) -> None:
    data = build_report(loaded, AS_OF, tenant="acme").model_dump()
    data["amount_collected"]["KWD"] = "936.502"

    with pytest.raises(ValueError, match=r"KWD: invoiced 1948\.845"):
        CollectionReport.model_validate(data)


def test_json_html_and_terminal_renderings(loaded: Store, tmp_path: Path) -> None:
    report = build_report(loaded, AS_OF, tenant="acme")

    json_path = write_report_json(report, tmp_path / "out" / "report.json")
    html_path = write_report_html(report, tmp_path / "out" / "report.html")
    console = Console(file=StringIO(), width=160, color_system=None)
    print_report(report, console)

    assert CollectionReport.model_validate(json.loads(json_path.read_text())) == report
    html = html_path.read_text()
    assert html.count("<svg") == 6  # outcomes, three aging charts, reminders, escalations
    assert "1948.845" in html and "<script" not in html and "http-equiv" not in html
    assert "stylesheet" not in html
    terminal = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Aging of outstanding" in terminal and "14350" in terminal


minor_units = st.integers(min_value=0, max_value=10**12)


@given(
    amount=st.integers(min_value=1, max_value=10**12),
    paid=minor_units,
    credited=minor_units,
    written_off=minor_units,
    status=st.sampled_from(list(InvoiceStatus)),
)
def test_every_minor_unit_is_accounted_for_once(
    amount: int, paid: int, credited: int, written_off: int, status: InvoiceStatus
) -> None:
    snap = snapshot(
        amount_minor=amount,
        paid_minor=paid,
        credited_minor=min(credited, amount),
        written_off_minor=min(written_off, max(0, amount - credited)),
        status=status,
    )
    split = split_amount(snap)

    assert split.collected + split.credited + split.outstanding + split.written_off == amount
    assert split.collected + split.overpaid == paid
    assert split.outstanding >= 0 and split.overpaid >= 0


def test_messages_per_country_count_deferrals_by_rule(store: Store) -> None:
    mx = snapshot("INV-MX")
    co = snapshot("INV-CO", country="CO", currency="COP")
    store.record(
        recording(
            mx,
            entry(mx, 0, TimelineKind.MESSAGE, template="upcoming"),
            entry(mx, 1, TimelineKind.MESSAGE, template="overdue", rules=["mx-contact-days"]),
        )
    )
    store.record(
        recording(
            co,
            entry(co, 0, TimelineKind.MESSAGE, rules=["co-contact-hours", "co-holidays"]),
            entry(co, 1, TimelineKind.ESCALATION, level=1),
        )
    )
    report = build_report(store, as_of=T0 + timedelta(days=1))
    assert report.by_country["MX"].messages_sent == 2
    assert report.by_country["MX"].messages_deferred == 1
    assert report.by_country["MX"].deferred_by_rule == {"mx-contact-days": 1}
    assert report.by_country["CO"].messages_sent == 1
    assert report.by_country["CO"].deferred_by_rule == {"co-contact-hours": 1, "co-holidays": 1}


def test_disputes_are_counted_whatever_became_of_their_invoices(store: Store) -> None:
    """A dispute then payment leaves no invoice disputed now, yet the period had a dispute."""
    dispute = TimelineKind.DISPUTE
    paid = snapshot("INV-PAID", paid_minor=100_00, status=InvoiceStatus.PAID)
    twice = snapshot("INV-TWICE", status=InvoiceStatus.DISPUTED, disputed=True)
    cancelled = snapshot("INV-CANCEL", status=InvoiceStatus.CANCELLED)
    later = snapshot("INV-LATER")
    other = snapshot("INV-BETA", tenant="beta")
    store.record(
        recording(
            paid,
            entry(paid, 0, dispute, event="opened", actor="dataset", reason="r"),
            entry(paid, 1, dispute, event="resolved", outcome="creditor", actor="s", reason="r"),
        )
    )
    store.record(
        recording(
            twice,
            entry(twice, 0, dispute, event="opened", actor="s", reason="r"),
            entry(twice, 1, dispute, event="resolved", outcome="creditor", actor="s", reason="r"),
            entry(twice, 2, dispute, event="opened", actor="s", reason="again"),
        )
    )
    store.record(
        recording(
            cancelled,
            entry(cancelled, 0, dispute, event="opened", actor="s", reason="r"),
            entry(cancelled, 1, dispute, event="resolved", outcome="customer", actor="s"),
        )
    )
    after = T0 + timedelta(days=30)
    store.record(recording(later, entry(later, 0, dispute, at=after, event="opened", actor="s")))
    store.record(recording(other, entry(other, 0, dispute, event="opened", actor="s", reason="")))

    report = build_report(store, as_of=T0 + timedelta(days=1), tenant="acme")

    assert report.disputes.model_dump() == {
        # PAID once, TWICE twice, CANCEL once; LATER's after as_of; beta's not asked for
        "opened": 4,
        "invoices": 3,
        "resolved_for_customer": 1,
        "resolved_for_creditor": 2,
    }
    assert report.outcomes.disputed == 1
    console = Console(file=StringIO(), width=200)
    print_report(report, console)
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert (
        "Disputes opened: 4 on 3 invoices; resolved for the customer 1, for the creditor 2; "
        "invoices disputed now 1"
    ) in shown
