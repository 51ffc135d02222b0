"""Entries, matches and exceptions in the store: a statement imported twice changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from cobranza.domain.effects import InvoiceSnapshot
from cobranza.domain.invoice import InvoiceStatus
from cobranza.domain.matching import match_lines
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, StatementLine
from cobranza.store import Store, money_in

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def snapshot(invoice_id: str, amount_minor: int, **changes: Any) -> InvoiceSnapshot:
    fields: dict[str, Any] = {
        "workflow_id": f"invoice-acme-{invoice_id}",
        "tenant": "acme",
        "invoice_id": invoice_id,
        "customer_id": "CUST-1",
        "country": "MX",
        "currency": "MXN",
        "amount_minor": amount_minor,
        "paid_minor": 0,
        "status": InvoiceStatus.OPEN,
        "dunning_level": 0,
        "issued_on": date(2025, 3, 1),
        "due_on": date(2025, 3, 31),
        "policy_ref": "standard@v1",
        "updated_at": T0,
    }
    fields.update(changes)
    return InvoiceSnapshot(**fields)


def line(n: int, amount: str, **changes: Any) -> StatementLine:
    fields: dict[str, Any] = {
        "source": "s.xml",
        "line": n,
        "entry_id": f"E{n}",
        "account": "0001",
        "direction": Direction.CREDIT,
        "amount": Money.parse(amount, "MXN"),
        "booked_on": date(2025, 3, 10),
    }
    fields.update(changes)
    return StatementLine(**fields)


def test_open_items_carry_references_aliases_and_pending_matches(store: Store) -> None:
    store.upsert_invoice(snapshot("A-1", 100_00))
    store.upsert_invoice(snapshot("A-2", 50_00, status=InvoiceStatus.PAID, paid_minor=50_00))
    money_in.add_invoice_references(store, "invoice-acme-A-1", ["UUID-1", "UUID-1"])
    money_in.add_customer_alias(store, "acme", "CUST-1", kind="name", value="Kij SA")

    [item] = money_in.open_items(store)
    assert (item.invoice_id, item.references, item.customer_names) == (
        "A-1",
        ("UUID-1",),
        ("Kij SA",),
    )

    results = match_lines([line(1, "30.00", reference="uuid-1")], [item])
    money_in.record_import(store, results, T0)
    [after] = money_in.open_items(store)
    assert after.outstanding == Money.parse("70.00", "MXN")  # the signal is not recorded yet


def test_importing_the_same_entries_twice_changes_nothing(store: Store) -> None:
    store.upsert_invoice(snapshot("A-1", 100_00))
    lines = [line(1, "100.00", reference="A-1"), line(2, "9.99", reference="NOPE")]
    first = money_in.record_import(store, match_lines(lines, money_in.open_items(store)), T0)
    second = money_in.record_import(store, match_lines(lines, money_in.open_items(store)), T0)

    assert first.new_entries == ["E1", "E2"] and second.new_entries == []
    assert second.known_entries == ["E1", "E2"]
    assert [m.payment_id for m in first.matches] == ["bank:E1:A-1"] and second.matches == []
    assert [e.key for e in first.exceptions] == ["E2"] and second.exceptions == []
    assert money_in.count_entries(store) == 2
    assert len(money_in.all_matches(store)) == 1
    assert len(money_in.exceptions(store)) == 1
    [unposted] = money_in.unposted_matches(store)
    money_in.mark_posted(store, unposted.payment_id, T0)
    assert money_in.unposted_matches(store) == []
