"""The exceptions queue: idempotent on (source, key), readable, resolved once."""

from __future__ import annotations

from datetime import UTC, datetime

from cobranza.domain.money import Money
from cobranza.store import Store
from cobranza.store.money_in import (
    EXCEPTION_CONFIRMED,
    EXCEPTION_OPEN,
    exceptions,
    queue_exception,
    resolve_exception,
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
