"""Gateway events that autopay needs, end to end over loopback (L-05, L-06).

A signed payment_method.attached makes the customer's open autopay invoice charge at once
through the sandbox gateway; a processing bank debit settles through the sandbox's own signed
webhook (payment_intent.succeeded or payment_intent.payment_failed for our intent), which the
ingress turns into payment_settled; payment_intent.processing is acknowledged and ignored,
because the charge's answer already told the workflow.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from cobranza.api.stripe_events import parse_stripe_event
from cobranza.domain.autopay import AutopaySetup
from cobranza.domain.charges import PaymentMethod
from cobranza.domain.declines import CardNetwork
from cobranza.domain.declines_file import load_retry_rules
from cobranza.domain.invoice import Customer, Invoice, InvoiceStatus, TimelineKind
from cobranza.domain.money import Money
from cobranza.domain.views import CollectionInput, CollectionResult, InvoiceView
from cobranza.integrations.sandbox.gateway_book import ChargeRecord, gateway_book
from cobranza.starter.cli import DEFAULT_POLICY, read_policy
from cobranza.store.money_in import exceptions
from cobranza.store.webhooks import EventStatus, webhook_events
from cobranza.workflows.invoice import InvoiceCollectionWorkflow, start_search_attributes

from .webhook_requests import STRIPE_SECRET, RunningIngress

SANDBOX_KEY = {"Authorization": "Bearer sk_test_ingress"}
ZONE = "America/Mexico_City"


def autopay_invoice(invoice_id: str, amount: str = "750.00") -> Invoice:
    """An MXN invoice that fell due yesterday, so autopay may charge it at any moment."""
    today = datetime.now(ZoneInfo(ZONE)).date()
    customer = Customer(
        tenant="webhooks",
        customer_id=f"C-{invoice_id}",
        name="Autopay Test SA",
        email="ap@autopay-test.example.com",
        country="MX",
        timezone=ZONE,
        locale="es_MX",
    )
    return Invoice(
        invoice_id=invoice_id,
        customer=customer,
        amount=Money.parse(amount, "MXN"),
        issued_on=today - timedelta(days=31),
        due_on=today - timedelta(days=1),
    )


async def start(
    api: RunningIngress, invoice: Invoice, method: PaymentMethod | None
) -> WorkflowHandle[Any, Any]:
    input = CollectionInput(
        invoice=invoice,
        policy=read_policy(DEFAULT_POLICY).model_copy(update={"issue_template": None}),
        contact_gate=False,
        task_queue=api.stack.task_queue,
        autopay=AutopaySetup(method=method, rules=load_retry_rules()),
    )
    return await api.stack.env.client.start_workflow(
        InvoiceCollectionWorkflow.run,
        input,
        id=invoice.workflow_id,
        task_queue=api.stack.task_queue,
        search_attributes=start_search_attributes(input),
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )


async def until(handle: WorkflowHandle[Any, Any], ok: Any) -> InvoiceView:
    """Long-poll the history (no sleep) until the workflow's view satisfies `ok`."""
    async with asyncio.timeout(60):  # a bound so a wrong routing fails instead of hanging
        async for event in handle.fetch_history_events(wait_new_event=True):
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                view = await handle.query(InvoiceCollectionWorkflow.status)
                if ok(view):
                    return view
    raise AssertionError(f"{handle.id} closed before the condition held")


def charges_of(api: RunningIngress, invoice: Invoice) -> list[ChargeRecord]:
    book = gateway_book(api.stack.sandbox.state)
    return [c for c in book.charges() if c.customer == invoice.customer.customer_id]


async def point_gateway_at_ingress(api: RunningIngress) -> None:
    response = await api.http.put(
        f"{api.stack.sandbox.http_url}/sandbox/gateway/webhook_endpoint",
        json={"url": f"{api.server.url}/webhooks/stripe", "secret": STRIPE_SECRET},
    )
    assert response.status_code == 200, response.text


async def attach(api: RunningIngress, token: str, customer: str) -> dict[str, Any]:
    response = await api.http.post(
        f"{api.stack.sandbox.http_url}/gateway/v1/payment_methods/{token}/attach",
        data={"customer": customer},
        headers=SANDBOX_KEY,
    )
    assert response.status_code == 200, response.text
    method: dict[str, Any] = response.json()
    return method


def attached_event(method: dict[str, Any], tenant: str = "webhooks") -> dict[str, Any]:
    """The event Stripe sends when a method is attached: the PaymentMethod with its customer."""
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": "payment_method.attached",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {**method, "metadata": {"tenant": tenant}}},
    }


async def test_an_attached_method_is_charged_at_once_and_closes_the_invoice(
    api: RunningIngress,
) -> None:
    # The sandbox also posts payment_intent.succeeded for the charge: it must add nothing.
    await point_gateway_at_ingress(api)
    invoice = autopay_invoice("AP-ATTACH")
    handle = await start(api, invoice, None)
    await until(handle, lambda v: v.autopay is not None and "no payment method" in v.autopay)
    assert charges_of(api, invoice) == []
    method = await attach(api, "pm_card_visa", invoice.customer.customer_id)

    response = await api.post_stripe(attached_event(method))

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "signalled"
    assert response.json()["workflow_id"] == invoice.workflow_id
    result = await handle.result()
    assert isinstance(result, CollectionResult)
    assert result.view.status is InvoiceStatus.PAID
    (charge,) = charges_of(api, invoice)
    assert (charge.payment_method, charge.status, charge.amount) == (
        method["id"],
        "succeeded",
        75000,
    )
    assert charge.idempotency_key == f"{invoice.workflow_id}/charge/1"
    assert result.view.paid == "750.00" and len(result.view.payment_ids) == 1
    postings = [
        p
        for p in api.stack.sandbox.state.list_postings()
        if p.invoice_id == invoice.invoice_id and p.kind == "payment"
    ]
    assert len(postings) == 1
    told = [
        (d.type, d.status_code)
        for d in gateway_book(api.stack.sandbox.state).deliveries
        if d.payment_intent == charge.payment_intent
    ]
    assert told == [("payment_intent.succeeded", 200)]
    added = [
        e
        for e in result.timeline
        if e.kind is TimelineKind.CHARGE_ATTEMPT and e.details.get("event") == "method_added"
    ]
    assert len(added) == 1


async def test_an_attached_method_for_a_customer_without_open_autopay_is_queued(
    api: RunningIngress,
) -> None:
    method = await attach(api, "pm_card_mastercard", "C-NOBODY")
    event = attached_event(method)

    response = await api.post_stripe(event)

    assert response.status_code == 202, response.text
    (queued,) = [x for x in exceptions(api.stack.store) if x.key == event["id"]]
    assert "customer C-NOBODY (tenant webhooks): no open invoice on autopay" in queued.reason


async def test_a_processing_debit_settles_through_the_gateway_webhook(api: RunningIngress) -> None:
    await point_gateway_at_ingress(api)
    invoice = autopay_invoice("AP-DEBIT-OK")
    debit = PaymentMethod(method_id="pm_processing", fingerprint="fp-debit", kind="us_bank_account")
    handle = await start(api, invoice, debit)
    await until(handle, lambda v: v.status is InvoiceStatus.PROCESSING)
    (charge,) = charges_of(api, invoice)
    # The sandbox told the ingress too (payment_intent.processing): acknowledged, nothing to do.
    processing = [
        d
        for d in gateway_book(api.stack.sandbox.state).deliveries
        if d.payment_intent == charge.payment_intent
    ]
    assert [(d.type, d.status_code) for d in processing] == [("payment_intent.processing", 200)]
    (row,) = [e for e in webhook_events(api.stack.store) if e.event_id == processing[0].event_id]
    assert row.status == EventStatus.IGNORED.value

    settled = await api.http.post(
        f"{api.stack.sandbox.http_url}/sandbox/gateway/payment_intents/"
        f"{charge.payment_intent}/settle",
        json={"outcome": "succeeded"},
    )

    assert settled.status_code == 200, settled.text
    assert settled.json()["webhook"]["status_code"] == 200
    result = await handle.result()
    assert isinstance(result, CollectionResult)
    assert result.view.status is InvoiceStatus.PAID
    assert len(charges_of(api, invoice)) == 1


async def test_a_processing_debit_that_fails_resumes_dunning(api: RunningIngress) -> None:
    await point_gateway_at_ingress(api)
    invoice = autopay_invoice("AP-DEBIT-NSF")
    debit = PaymentMethod(method_id="pm_processing", fingerprint="fp-nsf", kind="us_bank_account")
    handle = await start(api, invoice, debit)
    await until(handle, lambda v: v.status is InvoiceStatus.PROCESSING)
    (charge,) = charges_of(api, invoice)

    settled = await api.http.post(
        f"{api.stack.sandbox.http_url}/sandbox/gateway/payment_intents/"
        f"{charge.payment_intent}/settle",
        json={"outcome": "failed", "decline_code": "insufficient_funds"},
    )

    assert settled.status_code == 200, settled.text
    assert settled.json()["webhook"]["status_code"] == 200
    view = await until(handle, lambda v: v.status is not InvoiceStatus.PROCESSING)
    assert not view.status.is_closed
    assert view.autopay is not None and "insufficient_funds" in view.autopay
    await handle.terminate("test done")


async def test_an_attached_method_leaves_an_invoice_not_on_autopay_alone(
    api: RunningIngress,
) -> None:
    invoice, handle = await api.open_invoice("AP-PLAIN")
    method = await attach(api, "pm_card_visa", invoice.customer.customer_id)
    event = attached_event(method)

    response = await api.post_stripe(event)

    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "queued"
    assert f"1 other running: {invoice.workflow_id}" in response.json()["detail"]
    timeline = await handle.query(InvoiceCollectionWorkflow.timeline)
    assert not [e for e in timeline if e.kind is TimelineKind.CHARGE_ATTEMPT]
    assert charges_of(api, invoice) == []
    await handle.terminate("test done")


def test_the_attached_method_is_read_as_the_gateway_adapter_reads_it() -> None:
    card = {
        "id": "pm_1",
        "object": "payment_method",
        "type": "card",
        "customer": {"id": "cus_9", "object": "customer"},
        "card": {"brand": "mastercard", "fingerprint": "fp_abc", "last4": "4444"},
    }

    event = parse_stripe_event(attached_event(card, tenant="acme"))

    assert event.customer_id == "cus_9" and event.invoice.tenant == "acme"
    assert event.payment_method == PaymentMethod(
        method_id="pm_1", fingerprint="fp_abc", network=CardNetwork.MASTERCARD, kind="card"
    )
