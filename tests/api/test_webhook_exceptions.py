"""Webhook exceptions follow the bank-file path: one CRM task each, and the payer's reminders held.

Real HTTP throughout: signed webhooks to the ingress, its tasks to the sandbox CRM, support
actions to POST /exceptions/{id}/confirm; invoice workflows on the dev server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from temporalio.client import Client

from cobranza.api.app import build_app
from cobranza.api.exception_intake import BACKLOG_PER_WEBHOOK, SOURCE_PREFIX
from cobranza.api.ingress import Ingress
from cobranza.api.server import ApiServer
from cobranza.api.settings import ApiSettings
from cobranza.domain.invoice import Invoice, InvoiceStatus
from cobranza.domain.views import InvoiceView
from cobranza.integrations.sandbox.state import CrmTaskRecord
from cobranza.reconciliation.exception_resolution import last_pause, paused_by_reconciliation
from cobranza.reconciliation.exception_tasks import without_task
from cobranza.store import money_in
from cobranza.store.money_in import MoneyInExceptionRow
from cobranza.workflows.invoice import InvoiceCollectionWorkflow

from .webhook_requests import STRIPE_SECRET, SUPPORT, RunningIngress, stripe_event

# Every invoice a test opens is terminated after it, whether its assertions passed or not.
pytestmark = pytest.mark.usefixtures("terminate_opened")


def queued(api: RunningIngress, event_id: str) -> list[MoneyInExceptionRow]:
    return [x for x in money_in.exceptions(api.stack.store) if x.key == event_id]


def tasks_for(api: RunningIngress, event_id: str) -> list[CrmTaskRecord]:
    key = f"money-in-exception-webhook:stripe-{event_id}"
    return [t for t in api.stack.sandbox.tasks() if t.idempotency_key == key]


def row_and_task(api: RunningIngress, event_id: str) -> tuple[MoneyInExceptionRow, CrmTaskRecord]:
    """The event's one exception row and its one CRM task, linked by the row's task id."""
    [row] = queued(api, event_id)
    [task] = tasks_for(api, event_id)
    assert row.crm_task_id == task.id
    return row, task


@asynccontextmanager
async def crm_down(api: RunningIngress) -> AsyncIterator[None]:
    """Every sandbox CRM call answers 503 (the sandbox's error knob) until the block ends."""
    knobs_url = f"{api.stack.sandbox.http_url}/sandbox/knobs"
    before = (await api.http.get(knobs_url)).json()
    assert (await api.http.put(knobs_url, json={**before, "error_rate": 1.0})).is_success
    try:
        yield
    finally:
        assert (await api.http.put(knobs_url, json=before)).is_success


def money_from(invoice: Invoice, object_id: str) -> dict[str, Any]:
    """A payment for an invoice we do not have, whose metadata names a customer we know."""
    event = stripe_event("payment_intent.succeeded", object_id=object_id)
    event["data"]["object"]["metadata"] = {
        "invoice_id": f"{invoice.invoice_id}-TYPO",
        "tenant": invoice.tenant,
        "customer_id": invoice.customer.customer_id,
    }
    return event


async def pause_reason(api: RunningIngress, invoice: Invoice) -> tuple[InvoiceStatus, str | None]:
    handle = api.stack.env.client.get_workflow_handle(invoice.workflow_id)
    view: InvoiceView = await handle.query(InvoiceCollectionWorkflow.status)
    return view.status, last_pause(await handle.query(InvoiceCollectionWorkflow.timeline))


async def test_an_unknown_invoice_gets_one_row_and_one_crm_task(api: RunningIngress) -> None:
    event = stripe_event("payment_intent.succeeded", invoice_id="EXC-NOWHERE")

    response = await api.post_stripe(event)
    again = await api.post_stripe(event)

    assert response.status_code == 202, response.text
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    row, task = row_and_task(api, event["id"])
    assert (task.kind, task.customer_id, task.invoice_id) == (
        "unmatched_payment",
        "unknown",
        "unmatched",
    )
    assert "20.00 USD" in task.title and "no invoice workflow" in task.title
    assert json.loads(task.body)["exception"] == row.id


async def test_an_unreadable_signed_event_gets_its_task_too(api: RunningIngress) -> None:
    event = stripe_event("payment_intent.succeeded", invoice_id="EXC-UNREADABLE")
    event["created"] = "yesterday"

    response = await api.post_stripe(event)

    assert response.status_code == 202, response.text
    [row] = [
        x for x in money_in.exceptions(api.stack.store) if event["id"] in x.payload.get("body", "")
    ]
    assert row.crm_task_id is not None
    [task] = [t for t in api.stack.sandbox.tasks() if t.id == row.crm_task_id]
    assert "unreadable stripe event" in task.title


async def test_a_task_the_crm_refused_is_opened_on_the_redelivery(api: RunningIngress) -> None:
    event = stripe_event("payment_intent.succeeded", invoice_id="EXC-CRM-DOWN")

    async with crm_down(api):
        first = await api.post_stripe(event)
    assert first.status_code == 202, first.text
    assert "CRM task to open later" in first.json()["detail"]
    [row] = queued(api, event["id"])
    assert row.crm_task_id is None and tasks_for(api, event["id"]) == []

    again = await api.post_stripe(event)

    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    row_and_task(api, event["id"])


async def test_a_task_the_crm_refused_is_opened_with_the_next_exception(
    api: RunningIngress,
) -> None:
    missed = stripe_event("payment_intent.succeeded", invoice_id="EXC-MISSED")
    async with crm_down(api):
        assert (await api.post_stripe(missed)).status_code == 202
    assert tasks_for(api, missed["id"]) == []
    later = stripe_event("payment_intent.succeeded", invoice_id="EXC-LATER")

    assert (await api.post_stripe(later)).status_code == 202

    row_and_task(api, missed["id"])
    row_and_task(api, later["id"])


async def test_one_webhook_opens_its_own_task_and_only_a_few_of_the_backlog(
    api: RunningIngress,
) -> None:
    """A backlog left by a CRM outage is worked off a few rows per webhook, oldest first, so
    the gateway's wait for an answer does not grow with the outage."""
    missed = [
        stripe_event("payment_intent.succeeded", invoice_id=f"EXC-BACKLOG-{n}") for n in range(6)
    ]
    async with crm_down(api):
        for event in missed:
            assert (await api.post_stripe(event)).status_code == 202
    waiting = len(without_task(api.stack.store, SOURCE_PREFIX))
    assert waiting >= len(missed)
    new = stripe_event("payment_intent.succeeded", invoice_id="EXC-BACKLOG-NEW")

    assert (await api.post_stripe(new)).status_code == 202

    row_and_task(api, new["id"])
    assert len(without_task(api.stack.store, SOURCE_PREFIX)) == waiting - BACKLOG_PER_WEBHOOK
    rounds = -(-(waiting - BACKLOG_PER_WEBHOOK) // BACKLOG_PER_WEBHOOK)
    for _ in range(rounds):  # each redelivery takes a few more
        assert (await api.post_stripe(missed[-1])).status_code == 200
    assert without_task(api.stack.store, SOURCE_PREFIX) == []
    for event in missed:
        row_and_task(api, event["id"])


async def test_a_known_payers_money_holds_their_invoices_until_resolved(
    api: RunningIngress,
) -> None:
    invoice, _ = await api.open_invoice("EXC-HOLD")
    assert api.stack.store.get_invoice(invoice.workflow_id) is not None
    event = money_from(invoice, "pi_exc_hold")

    response = await api.post_stripe(event)

    assert response.status_code == 202, response.text
    assert f"held 1 invoice(s): {invoice.workflow_id}" in response.json()["detail"]
    row, task = row_and_task(api, event["id"])
    assert (row.customer_id, row.tenant) == (invoice.customer.customer_id, invoice.tenant)
    assert task.customer_id == invoice.customer.customer_id
    status, reason = await pause_reason(api, invoice)
    assert status is InvoiceStatus.PAUSED and paused_by_reconciliation(reason)

    resolved = await api.http.post(
        f"{api.server.url}/exceptions/{row.id}/confirm",
        json={"actor": "ana", "reason": "paid a typo'd invoice number: refunded"},
        headers=SUPPORT,
    )

    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resumed"] == [invoice.workflow_id]
    status, _ = await pause_reason(api, invoice)
    assert status is InvoiceStatus.OPEN


async def test_a_refund_on_an_open_invoice_holds_its_customer(api: RunningIngress) -> None:
    invoice, _ = await api.open_invoice("EXC-REFUND")
    refund = stripe_event("charge.refunded", invoice=invoice)

    response = await api.post_stripe(refund)

    assert response.status_code == 202, response.text
    assert response.json()["workflow_id"] == invoice.workflow_id
    row, _ = row_and_task(api, refund["id"])
    assert (row.customer_id, row.tenant) == (invoice.customer.customer_id, invoice.tenant)
    status, reason = await pause_reason(api, invoice)
    assert status is InvoiceStatus.PAUSED and paused_by_reconciliation(reason)


async def test_an_unknown_payer_is_held_nowhere(api: RunningIngress) -> None:
    bystander, _ = await api.open_invoice("EXC-BYSTANDER")
    event = stripe_event("payment_intent.succeeded", invoice_id="EXC-NO-PAYER")

    response = await api.post_stripe(event)

    assert response.status_code == 202 and "held" not in response.json()["detail"]
    row, _ = row_and_task(api, event["id"])
    assert row.customer_id is None
    status, _ = await pause_reason(api, bystander)
    assert status is InvoiceStatus.OPEN


async def test_a_hold_the_workflow_service_failed_gets_503_and_the_redelivery_holds(
    api: RunningIngress, failing_service: Client
) -> None:
    """The refund is kept, but the payer cannot be held while the workflow service fails: the
    gateway gets a 503 (so it redelivers), and the redelivery holds the payer."""
    invoice, _ = await api.open_invoice("EXC-HOLD-RETRY")
    refund = stripe_event("charge.refunded", invoice=invoice)
    settings = ApiSettings(stripe_webhook_secret=STRIPE_SECRET, default_tenant="webhooks")
    failing = Ingress(failing_service, api.stack.store, settings.default_tenant)
    async with ApiServer(build_app(settings, failing, None)) as server:
        down = RunningIngress(stack=api.stack, server=server, http=api.http, ingress=failing)
        first = await down.post_stripe(refund)

    assert first.status_code == 503, first.text
    assert "workflow service" in first.json()["error"]
    [row] = queued(api, refund["id"])
    assert (row.customer_id, row.status) == (invoice.customer.customer_id, "open")
    status, _ = await pause_reason(api, invoice)
    assert status is InvoiceStatus.OPEN

    redelivered = await api.post_stripe(refund)

    assert redelivered.status_code == 202, redelivered.text
    assert f"held 1 invoice(s): {invoice.workflow_id}" in redelivered.json()["detail"]
    assert [r.id for r in queued(api, refund["id"])] == [row.id]
    status, reason = await pause_reason(api, invoice)
    assert status is InvoiceStatus.PAUSED and paused_by_reconciliation(reason)
