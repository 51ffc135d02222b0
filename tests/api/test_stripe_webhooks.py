"""Stripe webhooks end to end: signed HTTP on loopback, dev server, real invoice workflows."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from temporalio.client import WorkflowExecutionStatus

from cobranza.domain.invoice import InvoiceStatus, TimelineKind
from cobranza.domain.views import CollectionResult, InvoiceView
from cobranza.store.money_in import exceptions
from cobranza.store.webhooks import EventStatus, webhook_events
from cobranza.workflows.invoice import InvoiceCollectionWorkflow

from .webhook_requests import RunningIngress, stripe_event


async def closed(handle: Any) -> CollectionResult:
    result = await handle.result()
    assert isinstance(result, CollectionResult)
    return result


def payment_postings(api: RunningIngress, invoice_id: str) -> list[Any]:
    return [
        p
        for p in api.stack.sandbox.state.list_postings()
        if p.invoice_id == invoice_id and p.kind == "payment"
    ]


async def test_a_valid_payment_closes_the_invoice(api: RunningIngress) -> None:
    invoice, handle = await api.open_invoice("WH-VALID")
    event = stripe_event("payment_intent.succeeded", invoice=invoice, object_id="pi_valid")

    response = await api.post_stripe(event)

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "signalled"
    result = await closed(handle)
    assert result.view.status is InvoiceStatus.PAID
    assert result.view.payment_ids == ["stripe:pi_valid"]
    assert result.view.paid == "20.00"
    assert len(payment_postings(api, "WH-VALID")) == 1


async def test_a_bad_signature_gets_401_and_changes_nothing(api: RunningIngress) -> None:
    invoice, handle = await api.open_invoice("WH-BADSIG")
    event = stripe_event("payment_intent.succeeded", invoice=invoice, object_id="pi_badsig")
    before = len(webhook_events(api.stack.store))

    response = await api.post_stripe(event, secret="whsec_not_ours")

    assert response.status_code == 401
    assert "signature" in response.json()["error"]
    view: InvoiceView = await handle.query(InvoiceCollectionWorkflow.status)
    assert view.status is InvoiceStatus.OPEN
    assert view.payment_ids == []
    assert len(webhook_events(api.stack.store)) == before
    await handle.terminate("test over")


async def test_a_stale_timestamp_gets_401(api: RunningIngress) -> None:
    invoice, handle = await api.open_invoice("WH-STALE")
    event = stripe_event("payment_intent.succeeded", invoice=invoice, object_id="pi_stale")

    response = await api.post_stripe(event, timestamp=int(time.time()) - 301)

    assert response.status_code == 401
    assert "tolerance" in response.json()["error"]
    view: InvoiceView = await handle.query(InvoiceCollectionWorkflow.status)
    assert view.status is InvoiceStatus.OPEN and view.payment_ids == []
    await handle.terminate("test over")


async def test_three_deliveries_make_one_payment_and_one_erp_posting(api: RunningIngress) -> None:
    invoice, handle = await api.open_invoice("WH-DUP")
    event = stripe_event("payment_intent.succeeded", invoice=invoice, object_id="pi_dup")

    first = await api.post_stripe(event)
    again = await asyncio.gather(api.post_stripe(event), api.post_stripe(event))

    assert first.status_code == 200 and first.json()["outcome"] == "signalled"
    assert [r.status_code for r in again] == [200, 200]
    assert [r.json()["outcome"] for r in again] == ["duplicate", "duplicate"]
    result = await closed(handle)
    assert result.view.status is InvoiceStatus.PAID
    assert result.view.payment_ids == ["stripe:pi_dup"]
    assert api.stack.store.count_payments(invoice.workflow_id) == 1
    assert len(payment_postings(api, "WH-DUP")) == 1
    seen = [e for e in webhook_events(api.stack.store, "stripe") if e.event_id == event["id"]]
    assert len(seen) == 1 and seen[0].deliveries == 3


async def test_a_sibling_event_of_the_same_payment_adds_nothing(api: RunningIngress) -> None:
    invoice, handle = await api.open_invoice("WH-SIBLING")
    intent = stripe_event("payment_intent.succeeded", invoice=invoice, object_id="pi_sibling")
    charge = stripe_event("charge.failed", invoice=invoice, object_id="ch_sibling")
    charge["type"] = "charge.succeeded"
    charge["data"]["object"].update(
        payment_intent="pi_sibling", status="succeeded", paid=True, amount_captured=2000
    )

    assert (await api.post_stripe(intent)).status_code == 200
    result = await closed(handle)
    late = await api.post_stripe(charge)

    assert late.status_code == 200
    assert late.json()["outcome"] == "ignored"
    assert result.view.payment_ids == ["stripe:pi_sibling"]
    assert api.stack.store.count_payments(invoice.workflow_id) == 1
    assert not [x for x in exceptions(api.stack.store) if x.key == charge["id"]]


async def test_a_failure_arriving_after_the_success_changes_nothing(api: RunningIngress) -> None:
    invoice, handle = await api.open_invoice("WH-ORDER")
    earlier = stripe_event("payment_intent.payment_failed", invoice=invoice, object_id="pi_try1")
    success = stripe_event("payment_intent.succeeded", invoice=invoice, object_id="pi_try2")

    assert (await api.post_stripe(success)).status_code == 200
    result = await closed(handle)
    late = await api.post_stripe(earlier)

    assert late.status_code == 200
    assert late.json()["outcome"] == "ignored"
    assert "stale" in late.json()["detail"]
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert result.view.status is InvoiceStatus.PAID
    snapshot = api.stack.store.get_invoice(invoice.workflow_id)
    assert snapshot is not None and snapshot.status is InvoiceStatus.PAID
    assert not [x for x in exceptions(api.stack.store) if x.key == earlier["id"]]


async def test_a_stale_failure_while_the_workflow_still_runs_is_ignored_by_it(
    api: RunningIngress,
) -> None:
    invoice, handle = await api.open_invoice("WH-ORDER2", amount="40.00")
    half = stripe_event("payment_intent.succeeded", invoice=invoice, object_id="pi_half")
    failed = stripe_event("charge.failed", invoice=invoice, object_id="ch_try0")

    assert (await api.post_stripe(half)).status_code == 200
    late = await api.post_stripe(failed)

    assert late.status_code == 200 and late.json()["outcome"] == "signalled"
    view: InvoiceView = await handle.query(InvoiceCollectionWorkflow.status)
    assert view.status is InvoiceStatus.OPEN
    assert view.paid == "20.00" and view.outstanding == "20.00"
    timeline = await handle.query(InvoiceCollectionWorkflow.timeline)
    attempts = [e for e in timeline if e.kind is TimelineKind.CHARGE_ATTEMPT]
    assert [e.details["attempt_id"] for e in attempts] == ["stripe:pi_000000000000000000000000"]
    await handle.terminate("test over")


async def test_an_unknown_invoice_goes_to_the_exceptions_queue(api: RunningIngress) -> None:
    event = stripe_event("payment_intent.succeeded", invoice_id="NO-SUCH-INVOICE")

    response = await api.post_stripe(event)
    again = await api.post_stripe(event)

    assert response.status_code == 202
    assert response.json()["outcome"] == "queued"
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    queued = [x for x in exceptions(api.stack.store) if x.key == event["id"]]
    assert len(queued) == 1
    assert queued[0].source == "webhook:stripe"
    assert "no invoice workflow invoice-webhooks-NO-SUCH-INVOICE" in queued[0].reason
    assert (queued[0].amount_minor, queued[0].currency) == (2000, "USD")
    row = [e for e in webhook_events(api.stack.store) if e.event_id == event["id"]]
    assert row[0].status == EventStatus.QUEUED.value


async def test_a_dispute_opens_the_invoice_dispute(api: RunningIngress) -> None:
    invoice, handle = await api.open_invoice("WH-DISPUTE", amount="1.00")
    dispute = stripe_event("charge.dispute.created", invoice=invoice)

    response = await api.post_stripe(dispute)

    assert response.status_code == 200 and response.json()["outcome"] == "signalled"
    view: InvoiceView = await handle.query(InvoiceCollectionWorkflow.status)
    assert view.status is InvoiceStatus.DISPUTED and view.disputed
    await handle.terminate("test over")


async def test_a_refund_found_by_its_charge_is_queued_for_a_person(api: RunningIngress) -> None:
    invoice, handle = await api.open_invoice("WH-REFUND", amount="1.00")
    paid = stripe_event("charge.failed", invoice=invoice, object_id="ch_refund_me")
    paid["type"] = "charge.succeeded"
    paid["data"]["object"].update(
        status="succeeded", paid=True, amount=100, amount_captured=100, payment_intent=None
    )
    assert (await api.post_stripe(paid)).status_code == 200
    await closed(handle)
    refund = stripe_event("charge.refunded", object_id="ch_refund_me")  # no metadata

    response = await api.post_stripe(refund)

    assert response.status_code == 202
    body = response.json()
    assert body["outcome"] == "queued" and body["workflow_id"] == invoice.workflow_id
    queued = [x for x in exceptions(api.stack.store) if x.key == refund["id"]]
    assert len(queued) == 1 and "refunded 1.00 USD" in queued[0].reason
