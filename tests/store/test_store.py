"""Store writes are idempotent, atomic and ordered, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from cobranza.domain.invoice import InvoiceStatus, TimelineKind
from cobranza.domain.money import Money
from cobranza.store import MessageNotFound, Store

from .factories import T0, entry, message_fields, payment, recording, snapshot


def test_same_snapshot_twice_changes_nothing(store: Store) -> None:
    snap = snapshot()
    store.record(recording(snap))
    store.record(recording(snap))

    assert store.count_invoices() == 1
    assert store.get_invoice(snap.workflow_id) == snap


def test_newer_snapshot_replaces_and_stale_snapshot_is_ignored(store: Store) -> None:
    first = snapshot()
    paid = first.model_copy(
        update={
            "paid_minor": 100_00,
            "status": InvoiceStatus.PAID,
            "updated_at": T0 + timedelta(days=5),
        }
    )
    stale = first.model_copy(update={"dunning_level": 2, "updated_at": T0 + timedelta(days=2)})

    store.record(recording(first))
    store.record(recording(paid))
    store.record(recording(stale))

    assert store.get_invoice(first.workflow_id) == paid


def test_snapshot_keeps_exact_minor_units_and_aware_instants(store: Store) -> None:
    snap = snapshot(currency="JPY", amount_minor=9_007_199_254_740_993, closed_at=T0)
    store.record(recording(snap))

    stored = store.get_invoice(snap.workflow_id)
    assert stored is not None
    assert stored.amount_minor == 9_007_199_254_740_993
    assert stored.closed_at == T0 and stored.closed_at.utcoffset() == timedelta(0)


def test_timeline_entries_are_deduplicated_by_sequence(store: Store) -> None:
    snap = snapshot()
    issued = entry(snap, 1, TimelineKind.ISSUED)
    reminded = entry(snap, 2, TimelineKind.MESSAGE, step="reminder:-3")

    store.record(recording(snap, issued))
    store.record(recording(snap, issued, reminded))
    store.record(recording(snap, reminded))

    rows = store.timeline(workflow_id=snap.workflow_id)
    assert [(r.seq, r.kind, r.details) for r in rows] == [
        (1, "issued", {}),
        (2, "message", {"step": "reminder:-3"}),
    ]


def test_timeline_is_ordered_by_instant_then_invoice_then_sequence(store: Store) -> None:
    a, b = snapshot("A"), snapshot("B", tenant="other")
    store.record(recording(b, entry(b, 1, at=T0), entry(b, 2, at=T0)))
    store.record(recording(a, entry(a, 2, at=T0), entry(a, 1, at=T0 + timedelta(hours=1))))

    assert [(r.workflow_id, r.seq) for r in store.timeline()] == [
        (a.workflow_id, 2),
        (b.workflow_id, 1),
        (b.workflow_id, 2),
        (a.workflow_id, 1),
    ]
    assert [r.seq for r in store.timeline(tenant="other")] == [1, 2]


def test_record_is_atomic_when_the_timeline_insert_fails(store: Store) -> None:
    snap = snapshot()
    # A sequence number no BIGINT column can hold makes the database refuse the entry.
    broken = entry(snap, 2**63, at=T0)

    with pytest.raises((StatementError, OverflowError)):
        store.record(recording(snap, entry(snap, 1), broken))

    assert store.get_invoice(snap.workflow_id) is None
    assert store.count_timeline() == 0


def test_begin_message_returns_the_existing_row_on_retry(store: Store) -> None:
    first = store.begin_message(**message_fields())
    again = store.begin_message(**message_fields(address="changed@example.com"))

    assert first.status == again.status == "sending"
    assert again.id == first.id and again.address == "ana@example.com"
    assert store.count_messages() == 1


def test_mark_message_sent_is_idempotent_and_keeps_the_first_provider_id(store: Store) -> None:
    fields = message_fields()
    store.begin_message(**fields)
    sent_at = T0 + timedelta(days=27, minutes=1)

    first = store.mark_message_sent(fields["dedupe_key"], "prov-1", sent_at)
    second = store.mark_message_sent(fields["dedupe_key"], "prov-2", sent_at + timedelta(hours=1))
    retried = store.begin_message(**fields)

    assert first.status == second.status == retried.status == "sent"
    assert retried.provider_message_id == "prov-1" and retried.sent_at == sent_at
    assert retried.invoice_ids == ["INV-1"]
    assert store.count_messages(status="sent") == 1


def test_mark_message_sent_needs_a_begun_message(store: Store) -> None:
    with pytest.raises(MessageNotFound, match="begin_message"):
        store.mark_message_sent("nobody", "prov-1", T0)


def test_message_writes_carry_their_recording(store: Store) -> None:
    snap = snapshot(reminders_sent=1, updated_at=T0 + timedelta(days=27))
    fields = message_fields()
    store.begin_message(**fields)
    store.mark_message_sent(
        fields["dedupe_key"],
        "prov-1",
        T0,
        recording=recording(snap, entry(snap, 3, TimelineKind.MESSAGE)),
    )

    stored = store.get_invoice(snap.workflow_id)
    assert stored is not None and stored.reminders_sent == 1
    assert store.count_timeline(workflow_id=snap.workflow_id) == 1


def test_payment_crm_task_and_erp_posting_are_stored_once(store: Store) -> None:
    snap = snapshot(paid_minor=100_00, status=InvoiceStatus.PAID)
    rec = recording(snap, entry(snap, 5, TimelineKind.PAYMENT))
    pay = payment()
    payment_args = {"workflow_id": snap.workflow_id, "tenant": "acme", "invoice_id": "INV-1"}
    task: dict[str, Any] = {
        "idempotency_key": "task:INV-1:3",
        "task_id": "T-9",
        "tenant": "acme",
        "customer_id": "CUST-1",
        "invoice_id": "INV-1",
        "kind": "collector_call",
        "title": "Call Ana",
        "created_at": T0,
    }
    posting: dict[str, Any] = {
        "idempotency_key": "erp:INV-1:payment:PAY-1",
        "posting_id": "P-1",
        "tenant": "acme",
        "invoice_id": "INV-1",
        "customer_id": "CUST-1",
        "kind": "payment",
        "status": InvoiceStatus.PAID,
        "outstanding": Money.zero("MXN"),
        "amount": pay.amount,
        "payment_id": pay.payment_id,
        "posted_at": T0,
    }

    assert store.record_payment(**payment_args, payment=pay, recording=rec) is True
    assert store.record_payment(**payment_args, payment=pay, recording=rec) is False
    assert store.record_crm_task(**task) is True
    assert store.record_crm_task(**task) is False
    assert store.record_erp_posting(**posting, recording=rec) is True
    assert store.record_erp_posting(**posting) is False

    assert store.count_payments() == store.count_crm_tasks() == store.count_erp_postings() == 1
    assert store.payments(snap.workflow_id)[0].amount_minor == 100_00
    assert store.erp_postings()[0].status == "paid"
    assert store.count_timeline(workflow_id=snap.workflow_id) == 1
    assert store.get_invoice(snap.workflow_id) == snap


def test_sqlite_store_runs_in_wal_mode_with_a_busy_timeout(store: Store) -> None:
    if store.dialect != "sqlite":
        pytest.skip("WAL and busy timeout are SQLite settings")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert int(conn.execute(text("PRAGMA busy_timeout")).scalar() or 0) > 0


def test_release_message_drops_only_an_unsent_claim(store: Store) -> None:
    fields = message_fields()
    store.begin_message(**fields)
    assert store.release_message(fields["dedupe_key"]) is True
    assert store.get_message(fields["dedupe_key"]) is None
    store.begin_message(**fields)
    store.mark_message_sent(fields["dedupe_key"], "<id@x>", T0)
    assert store.release_message(fields["dedupe_key"]) is False
    row = store.get_message(fields["dedupe_key"])
    assert row is not None and row.status == "sent"
