"""The webhook event store on SQLite and PostgreSQL: claims, finishes and object references."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from store.conftest import store  # noqa: F401  (the SQLite + PostgreSQL store fixture)

from cobranza.store.store import Store
from cobranza.store.webhooks import (
    EventStatus,
    claim_event,
    ensure_webhook_tables,
    finish_event,
    remember_refs,
    webhook_events,
    workflow_for_refs,
)

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_a_repeated_claim_counts_deliveries_and_the_first_finish_stays(
    store: Store,  # noqa: F811
) -> None:
    ensure_webhook_tables(store)
    ensure_webhook_tables(store)  # harmless twice
    first = claim_event(
        store, provider="stripe", event_id="evt_1", event_type="invoice.paid", received_at=T0
    )
    assert first.status == EventStatus.RECEIVED and first.deliveries == 1

    finish_event(
        store,
        provider="stripe",
        event_id="evt_1",
        status=EventStatus.SIGNALLED,
        finished_at=T0 + timedelta(seconds=1),
        workflow_id="invoice-t-1",
    )
    finish_event(
        store,
        provider="stripe",
        event_id="evt_1",
        status=EventStatus.QUEUED,
        finished_at=T0 + timedelta(seconds=2),
    )
    again = claim_event(
        store, provider="stripe", event_id="evt_1", event_type="invoice.paid", received_at=T0
    )

    assert again.status == EventStatus.SIGNALLED and again.deliveries == 2
    assert again.workflow_id == "invoice-t-1"
    assert again.finished_at == T0 + timedelta(seconds=1)
    other = claim_event(
        store, provider="mercadopago", event_id="evt_1", event_type="payment", received_at=T0
    )
    assert other.status == EventStatus.RECEIVED  # the same id from another gateway is new
    assert [e.provider for e in webhook_events(store)] == ["stripe", "mercadopago"]


def test_an_event_cannot_be_finished_as_received(store: Store) -> None:  # noqa: F811
    ensure_webhook_tables(store)
    with pytest.raises(ValueError, match="not received"):
        finish_event(
            store, provider="stripe", event_id="e", status=EventStatus.RECEIVED, finished_at=T0
        )


def test_refs_lead_back_to_the_first_invoice_named(store: Store) -> None:  # noqa: F811
    ensure_webhook_tables(store)
    remember_refs(store, provider="stripe", refs=["pi_1", "ch_1", "ch_1", ""], workflow_id="w-1")
    remember_refs(store, provider="stripe", refs=["ch_1", "ch_2"], workflow_id="w-2")

    assert workflow_for_refs(store, provider="stripe", refs=["dp_9", "ch_1"]) == "w-1"
    assert workflow_for_refs(store, provider="stripe", refs=["ch_2"]) == "w-2"
    assert workflow_for_refs(store, provider="mercadopago", refs=["ch_1"]) is None
    assert workflow_for_refs(store, provider="stripe", refs=[]) is None
