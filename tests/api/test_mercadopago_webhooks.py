"""Mercado Pago webhooks end to end: signed notification, payment fetched from the sandbox API."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from cobranza.domain.invoice import InvoiceStatus, TimelineKind
from cobranza.domain.money import Money
from cobranza.domain.views import CollectionResult, InvoiceView
from cobranza.store.money_in import MoneyInExceptionRow, exceptions
from cobranza.store.webhooks import EventStatus, WebhookEventRow, webhook_events
from cobranza.workflows.invoice import InvoiceCollectionWorkflow

from .webhook_requests import (
    RunningIngress,
    make_invoice,
    mercadopago_notification_id,
    post_mercadopago,
    put_mercadopago_payment,
)

# Every invoice a test opens is terminated after it, whether its assertions passed or not.
pytestmark = pytest.mark.usefixtures("terminate_opened")


async def closed(handle: WorkflowHandle[Any, Any]) -> CollectionResult:
    result = await handle.result()
    assert isinstance(result, CollectionResult)
    return result


async def payments_on_timeline(handle: WorkflowHandle[Any, Any]) -> list[str]:
    timeline = await handle.query(InvoiceCollectionWorkflow.timeline)
    return [e.details["payment_id"] for e in timeline if e.kind is TimelineKind.PAYMENT]


def erp_payments(api: RunningIngress, invoice_id: str) -> list[Any]:
    return [
        p
        for p in api.stack.sandbox.state.list_postings()
        if p.invoice_id == invoice_id and p.kind == "payment"
    ]


def queued(api: RunningIngress, payment_id: int) -> list[MoneyInExceptionRow]:
    """What waits for a person about this payment, whichever notification brought it."""
    return [x for x in exceptions(api.stack.store) if x.reference == f"mercadopago:{payment_id}"]


def events_since(api: RunningIngress, before: int) -> list[WebhookEventRow]:
    """The events the ingress recorded since it had recorded `before` of them."""
    return webhook_events(api.stack.store, "mercadopago")[before:]


async def test_a_signed_notification_fetches_the_payment_and_closes_the_invoice(
    api: RunningIngress,
) -> None:
    invoice, handle = await api.open_invoice("MP-VALID", amount="12.34", currency="BRL")
    await put_mercadopago_payment(api, 17014025134, invoice)

    response = await post_mercadopago(api, 17014025134)

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "signalled"
    result = await closed(handle)
    assert result.view.status is InvoiceStatus.PAID
    assert result.view.paid == "12.34" and result.view.currency == "BRL"
    assert result.view.payment_ids == ["mercadopago:17014025134"]


async def test_a_bad_signature_gets_401_and_fetches_nothing(api: RunningIngress) -> None:
    invoice, handle = await api.open_invoice("MP-BADSIG", amount="12.34", currency="BRL")
    await put_mercadopago_payment(api, 17014025135, invoice)
    before = len(webhook_events(api.stack.store, "mercadopago"))

    response = await post_mercadopago(api, 17014025135, secret="not-the-secret")

    assert response.status_code == 401
    assert "x-signature" in response.json()["error"]
    view: InvoiceView = await handle.query(InvoiceCollectionWorkflow.status)
    assert view.status is InvoiceStatus.OPEN and view.payment_ids == []
    assert len(webhook_events(api.stack.store, "mercadopago")) == before


@pytest.mark.parametrize("unit", ["s", "ms"])  # Mercado Pago has sent ts in both
async def test_a_stale_timestamp_gets_401_and_records_nothing(
    api: RunningIngress, unit: str
) -> None:
    payment_id = 17014025136 if unit == "s" else 17014025137
    invoice, handle = await api.open_invoice(f"MP-STALE-{unit}", amount="12.34", currency="BRL")
    await put_mercadopago_payment(api, payment_id, invoice)
    stale = int(time.time()) - 301
    events_before = len(webhook_events(api.stack.store, "mercadopago"))
    exceptions_before = len(exceptions(api.stack.store))

    response = await post_mercadopago(api, payment_id, ts=stale if unit == "s" else stale * 1000)

    assert response.status_code == 401
    assert "tolerance" in response.json()["error"]
    view: InvoiceView = await handle.query(InvoiceCollectionWorkflow.status)
    assert view.status is InvoiceStatus.OPEN and view.paid == "0.00" and view.payment_ids == []
    assert len(webhook_events(api.stack.store, "mercadopago")) == events_before
    assert len(exceptions(api.stack.store)) == exceptions_before


async def test_three_deliveries_of_one_notification_make_one_payment(api: RunningIngress) -> None:
    invoice, handle = await api.open_invoice("MP-DUP", amount="12.34", currency="BRL")
    await put_mercadopago_payment(api, 17014025138, invoice)
    notification = mercadopago_notification_id()
    before = len(webhook_events(api.stack.store, "mercadopago"))

    first = await post_mercadopago(api, 17014025138, notification_id=notification)
    again = await asyncio.gather(
        post_mercadopago(api, 17014025138, notification_id=notification),
        post_mercadopago(api, 17014025138, notification_id=notification),
    )

    assert first.status_code == 200 and first.json()["outcome"] == "signalled"
    assert [r.status_code for r in again] == [200, 200]
    assert [r.json()["outcome"] for r in again] == ["duplicate", "duplicate"]
    result = await closed(handle)
    assert result.view.status is InvoiceStatus.PAID and result.view.paid == "12.34"
    assert result.view.payment_ids == ["mercadopago:17014025138"]
    assert await payments_on_timeline(handle) == ["mercadopago:17014025138"]
    assert api.stack.store.count_payments(invoice.workflow_id) == 1
    assert len(erp_payments(api, "MP-DUP")) == 1
    [row] = events_since(api, before)
    assert row.deliveries == 3


async def test_a_rejected_attempt_notified_after_the_approval_changes_nothing(
    api: RunningIngress,
) -> None:
    invoice, handle = await api.open_invoice("MP-ORDER", amount="12.34", currency="BRL")
    await put_mercadopago_payment(
        api, 17014025139, invoice, status="rejected", status_detail="cc_rejected_call_for_authorize"
    )
    await put_mercadopago_payment(api, 17014025140, invoice)

    assert (await post_mercadopago(api, 17014025140)).status_code == 200
    result = await closed(handle)
    response = await post_mercadopago(api, 17014025139)

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "ignored"
    assert "stale" in response.json()["detail"]
    assert result.view.status is InvoiceStatus.PAID
    assert result.view.payment_ids == ["mercadopago:17014025140"]
    snapshot = api.stack.store.get_invoice(invoice.workflow_id)
    assert snapshot is not None and snapshot.status is InvoiceStatus.PAID
    assert queued(api, 17014025139) == []


async def test_a_created_notification_after_the_updated_one_counts_the_money_once(
    api: RunningIngress,
) -> None:
    """Both notifications fetch the same approved payment; the invoice, half paid by it, stays
    open for the other half and is credited once."""
    invoice, handle = await api.open_invoice("MP-ORDER2", amount="24.68", currency="BRL")
    await put_mercadopago_payment(api, 17014025141, invoice)

    updated = await post_mercadopago(api, 17014025141, action="payment.updated")
    created = await post_mercadopago(api, 17014025141, action="payment.created")

    assert updated.status_code == 200 and updated.json()["outcome"] == "signalled"
    assert created.status_code == 200 and created.json()["outcome"] == "duplicate"
    view: InvoiceView = await handle.query(InvoiceCollectionWorkflow.status)
    assert view.status is InvoiceStatus.OPEN
    assert (view.paid, view.outstanding) == ("12.34", "12.34")
    assert view.payment_ids == ["mercadopago:17014025141"]
    assert await payments_on_timeline(handle) == ["mercadopago:17014025141"]


async def test_a_refund_notified_before_the_creation_never_credits_the_invoice(
    api: RunningIngress,
) -> None:
    """The payment was approved and refunded before either notification arrived: each one
    fetches it refunded, so the money is never applied and the refund waits for a person."""
    invoice, handle = await api.open_invoice("MP-ORDER3", amount="12.34", currency="BRL")
    await put_mercadopago_payment(api, 17014025142, invoice, status="refunded", status_detail="")

    first = await post_mercadopago(api, 17014025142, action="payment.updated")
    late = await post_mercadopago(api, 17014025142, action="payment.created")

    assert first.status_code == 202, first.text
    assert first.json()["workflow_id"] == invoice.workflow_id
    assert late.status_code == 200 and late.json()["outcome"] == "duplicate"
    [row] = queued(api, 17014025142)  # one refund, one row for a person
    assert "refunded" in row.reason and (row.amount_minor, row.currency) == (1234, "BRL")
    view: InvoiceView = await handle.query(InvoiceCollectionWorkflow.status)
    assert view.paid == "0.00" and view.payment_ids == []


async def test_an_unknown_invoice_goes_to_the_exceptions_queue(api: RunningIngress) -> None:
    nowhere = make_invoice("MP-NOWHERE", Money.parse("12.34", "BRL"))
    await put_mercadopago_payment(api, 17014025143, nowhere)
    notification = mercadopago_notification_id()
    before = len(webhook_events(api.stack.store, "mercadopago"))

    response = await post_mercadopago(api, 17014025143, notification_id=notification)
    again = await post_mercadopago(api, 17014025143, notification_id=notification)

    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "queued"
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    [row] = queued(api, 17014025143)
    assert row.source == "webhook:mercadopago"
    assert "no invoice workflow invoice-webhooks-MP-NOWHERE" in row.reason
    assert (row.amount_minor, row.currency) == (1234, "BRL")
    assert row.reference == "mercadopago:17014025143"
    [event] = events_since(api, before)
    assert event.status == EventStatus.QUEUED.value and event.deliveries == 2


async def test_an_unknown_invoices_payment_notified_created_then_updated_is_queued_once(
    api: RunningIngress,
) -> None:
    """Mercado Pago notifies a new approved payment twice, as payment.created and as
    payment.updated, each with its own notification id: a person must see its money once."""
    nowhere = make_invoice("MP-NOWHERE-2", Money.parse("12.34", "BRL"))
    await put_mercadopago_payment(api, 17014025144, nowhere)

    created = await post_mercadopago(api, 17014025144, action="payment.created")
    updated = await post_mercadopago(api, 17014025144, action="payment.updated")

    assert created.status_code == 202, created.text
    assert updated.status_code == 200 and updated.json()["outcome"] == "duplicate"
    [row] = queued(api, 17014025144)
    assert (row.amount_minor, row.currency) == (1234, "BRL")
