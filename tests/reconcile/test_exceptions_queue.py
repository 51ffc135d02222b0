"""The exceptions queue: idempotent on (source, key), readable, resolved once, allocated right."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cobranza.domain.effects import InvoiceSnapshot
from cobranza.domain.invoice import InvoiceStatus
from cobranza.domain.money import Money
from cobranza.reconciliation.exception_resolution import (
    ResolutionError,
    ResolutionRequest,
    plan_allocation,
    settle,
)
from cobranza.store import Store, money_in
from cobranza.store.money_in import (
    EXCEPTION_CONFIRMED,
    EXCEPTION_OPEN,
    exceptions,
    queue_exception,
    resolve_exception,
)


def _decision(
    exception_id: int | None,
    *,
    actor: str = "ana",
    invoices: tuple[str, ...] = (),
    customer_id: str | None = None,
    tenant: str | None = None,
) -> ResolutionRequest:
    """A person's decision on an exception, with a note that passes the checks."""
    assert exception_id is not None
    return ResolutionRequest(
        exception_id=exception_id,
        actor=actor,
        note="n",
        invoices=invoices,
        customer_id=customer_id,
        tenant=tenant,
    )


def test_queueing_the_same_source_and_key_twice_keeps_one_row(store: Store) -> None:
    first = queue_exception(
        store,
        source="webhook:stripe",
        key="evt_1",
        reason="unknown invoice INV-404",
        amount=Money.parse("150.25", "MXN"),
        reference="INV-404",
        customer_id="CUST-9",
        tenant="acme",
        payload={"id": "evt_1"},
    )
    again = queue_exception(store, source="webhook:stripe", key="evt_1", reason="changed reason")

    assert (first, again) == (True, False)
    [row] = exceptions(store)
    assert row.reason == "unknown invoice INV-404"
    assert row.amount == Money.parse("150.25", "MXN")
    assert (row.reference, row.customer_id, row.tenant) == ("INV-404", "CUST-9", "acme")
    assert row.payload == {"id": "evt_1"}
    assert row.status == EXCEPTION_OPEN
    assert row.queued_at.tzinfo is not None


def test_the_same_key_from_another_source_is_another_exception(store: Store) -> None:
    assert queue_exception(store, source="webhook:stripe", key="k", reason="a")
    assert queue_exception(store, source="statement:x.xml", key="k", reason="b")
    assert [row.source for row in exceptions(store)] == ["webhook:stripe", "statement:x.xml"]
    assert exceptions(store, status=EXCEPTION_CONFIRMED) == []


def test_an_exception_is_resolved_once(store: Store) -> None:
    queue_exception(store, source="s", key="k", reason="unmatched")
    [row] = exceptions(store)
    assert row.id is not None
    at = datetime(2025, 3, 2, tzinfo=UTC)
    assert resolve_exception(
        store, row.id, status=EXCEPTION_CONFIRMED, actor="ana", resolution={"x": 1}, at=at
    )
    assert not resolve_exception(
        store, row.id, status=EXCEPTION_CONFIRMED, actor="bob", resolution={}, at=at
    )
    [done] = exceptions(store)
    assert (done.status, done.resolved_by, done.resolution) == (
        EXCEPTION_CONFIRMED,
        "ana",
        {"x": 1},
    )
    assert done.amount is None


def _open(tenant: str, invoice_id: str, customer_id: str, minor: int, due: int) -> InvoiceSnapshot:
    return InvoiceSnapshot(
        workflow_id=f"invoice-{tenant}-{invoice_id}",
        tenant=tenant,
        invoice_id=invoice_id,
        customer_id=customer_id,
        country="MX",
        currency="MXN",
        amount_minor=minor,
        paid_minor=0,
        status=InvoiceStatus.OPEN,
        dunning_level=0,
        issued_on=date(2025, 3, 1),
        due_on=date(2025, 3, due),
        policy_ref="standard@v1",
        updated_at=datetime(2025, 3, 1, tzinfo=UTC),
    )


def test_reassigning_to_a_customer_pays_the_oldest_due_first(store: Store) -> None:
    store.upsert_invoice(_open("acme", "LATE", "C-1", 80_00, due=31))
    store.upsert_invoice(_open("acme", "EARLY", "C-1", 50_00, due=10))
    store.upsert_invoice(_open("acme", "OTHER", "C-2", 10_00, due=1))
    queue_exception(
        store,
        source="statement",
        key="E1",
        reason="x",
        amount=Money.parse("70.00", "MXN"),
        tenant="acme",
    )
    [row] = exceptions(store)

    plan = plan_allocation(store, row, _decision(row.id, customer_id="C-1"))

    assert [(i.invoice_id, str(m.to_decimal())) for i, m in plan] == [
        ("EARLY", "50.00"),
        ("LATE", "20.00"),
    ]


def test_an_invoice_id_open_in_two_tenants_needs_the_tenant(store: Store) -> None:
    store.upsert_invoice(_open("acme", "INV-1", "C-1", 10_00, due=10))
    store.upsert_invoice(_open("beta", "INV-1", "C-9", 10_00, due=10))
    queue_exception(
        store, source="webhook:stripe", key="evt", reason="x", amount=Money.parse("5.00", "MXN")
    )
    [row] = exceptions(store)

    with pytest.raises(ResolutionError) as caught:
        plan_allocation(store, row, _decision(row.id, invoices=("INV-1",)))
    assert caught.value.field == "tenant" and "acme, beta" in caught.value.reason
    [(item, _)] = plan_allocation(store, row, _decision(row.id, invoices=("INV-1",), tenant="beta"))
    assert item.customer_id == "C-9"


def test_settling_twice_writes_once_and_a_failed_check_writes_nothing(store: Store) -> None:
    store.upsert_invoice(_open("acme", "INV-1", "C-1", 10_00, due=10))
    queue_exception(
        store,
        source="statement",
        key="E7",
        reason="x",
        amount=Money.parse("4.00", "MXN"),
        tenant="acme",
    )
    [row] = exceptions(store)
    assert row.id is not None

    with pytest.raises(ResolutionError) as caught:
        settle(store, _decision(row.id, invoices=("INV-1", "NOPE")))
    assert caught.value.field == "invoices[1]"
    assert exceptions(store, status=EXCEPTION_OPEN) == [row]
    assert money_in.all_matches(store) == []

    _, done = settle(store, _decision(row.id, invoices=("INV-1",)))
    assert [m.payment_id for m in done.matches] == ["bank:E7:INV-1"]
    with pytest.raises(ResolutionError) as again:
        settle(store, _decision(row.id, invoices=("INV-1",), actor="bob"))
    assert (again.value.field, again.value.status) == ("exception_id", 409)
    assert len(money_in.all_matches(store)) == 1
