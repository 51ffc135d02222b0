"""Webhook requests for the ingress tests: fixture events aimed at test invoices, signed, posted."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from cobranza.api.ingress import Ingress
from cobranza.api.server import ApiServer
from cobranza.api.signatures import sign_mercadopago, sign_stripe
from cobranza.domain.invoice import Customer, Invoice
from cobranza.domain.money import Money
from cobranza.domain.views import CollectionInput
from cobranza.starter.cli import DEFAULT_POLICY, read_policy
from cobranza.starter.stack import Stack
from cobranza.workflows.invoice import InvoiceCollectionWorkflow, start_search_attributes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
STRIPE_SECRET = "whsec_test_ingress"
MERCADOPAGO_SECRET = "mp-test-webhook-secret"
SUPPORT_TOKEN = "test-support-token"
SUPPORT = {"Authorization": f"Bearer {SUPPORT_TOKEN}"}


def stripe_fixture(event_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "stripe" / f"{event_type}.json").read_text())
    return loaded


def mercadopago_fixture() -> dict[str, Any]:
    path = FIXTURES / "mercadopago" / "sdk_payment_approved_card.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def stripe_event(
    event_type: str,
    *,
    invoice: Invoice | None = None,
    invoice_id: str | None = None,
    object_id: str | None = None,
    created: datetime | None = None,
) -> dict[str, Any]:
    """A fixture event with its own event id, pointed at an invoice through metadata."""
    event = copy.deepcopy(stripe_fixture(event_type))
    event["id"] = f"evt_{uuid.uuid4().hex[:24]}"
    event["created"] = int((created or datetime.now(UTC)).timestamp())
    obj = event["data"]["object"]
    if object_id is not None:
        obj["id"] = object_id
    if invoice is not None:
        obj["metadata"] = {"invoice_id": invoice.invoice_id, "tenant": invoice.tenant}
    elif invoice_id is not None:
        obj["metadata"] = {"invoice_id": invoice_id, "tenant": "webhooks"}
    return event


@dataclass
class RunningIngress:
    """The running ingress and the stack behind it."""

    stack: Stack
    server: ApiServer
    http: httpx.AsyncClient
    ingress: Ingress
    opened: list[WorkflowHandle[Any, Any]] = field(default_factory=list)

    async def post_stripe(
        self, event: dict[str, Any], *, secret: str = STRIPE_SECRET, timestamp: int | None = None
    ) -> httpx.Response:
        body = json.dumps(event).encode()
        header = sign_stripe(body, secret, timestamp)
        return await self.http.post(
            f"{self.server.url}/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )

    async def open_invoice(
        self, invoice_id: str, amount: str = "20.00", currency: str = "USD"
    ) -> tuple[Invoice, WorkflowHandle[Any, Any]]:
        """An issued invoice due in 30 days whose workflow is waiting for its first reminder."""
        invoice = make_invoice(invoice_id, Money.parse(amount, currency))
        input = CollectionInput(
            invoice=invoice,
            # No invoice email: these tests are about money in, not about messaging.
            policy=read_policy(DEFAULT_POLICY).model_copy(update={"issue_template": None}),
            contact_gate=False,
            task_queue=self.stack.task_queue,
        )
        handle = await self.stack.env.client.start_workflow(
            InvoiceCollectionWorkflow.run,
            input,
            id=invoice.workflow_id,
            task_queue=self.stack.task_queue,
            search_attributes=start_search_attributes(input),
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        self.opened.append(handle)
        await issued(handle)
        return invoice, handle

    async def terminate_opened(self) -> None:
        """Terminate every invoice workflow opened so far that is still running, and forget them."""
        opened, self.opened = self.opened, []
        for handle in opened:
            try:
                await handle.terminate("test over")
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: already closed
                    raise


async def issued(handle: WorkflowHandle[Any, Any]) -> None:
    """Wait (long-polling the history, no sleep) until the workflow sleeps on its first step.

    A payment that lands while the invoice is still being issued is reopened by the issue
    (a lifecycle race reported to the workflow's owner); real invoices are issued long before.
    """
    async for event in handle.fetch_history_events(wait_new_event=True):
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            return


def make_invoice(invoice_id: str, amount: Money, tenant: str = "webhooks") -> Invoice:
    zone = "America/Mexico_City"
    today = datetime.now(ZoneInfo(zone)).date()
    customer = Customer(
        tenant=tenant,
        customer_id=f"C-{invoice_id}",
        name="Webhook Test SA",
        email="ap@webhook-test.example.com",
        country="MX",
        timezone=zone,
        locale="es_MX",
    )
    return Invoice(
        invoice_id=invoice_id,
        customer=customer,
        amount=amount,
        issued_on=today - timedelta(days=1),
        due_on=today + timedelta(days=30),
    )


async def put_mercadopago_payment(
    api: RunningIngress,
    payment_id: int,
    invoice: Invoice,
    *,
    status: str = "approved",
    status_detail: str = "accredited",
) -> dict[str, Any]:
    """The SDK's payment, renumbered, naming the invoice and in `status`, stored in the sandbox.

    Putting the same id again replaces it: the payment moved on, as Mercado Pago's API shows it.
    """
    payment = mercadopago_fixture()
    payment.update(
        id=payment_id,
        external_reference=invoice.invoice_id,
        status=status,
        status_detail=status_detail,
    )
    if status == "refunded":
        payment["transaction_amount_refunded"] = payment["transaction_amount"]
    payment["metadata"] = {"tenant": invoice.tenant}
    response = await api.http.post(
        f"{api.stack.sandbox.http_url}/mercadopago/payments", content=json.dumps(payment)
    )
    assert response.status_code == 201, response.text
    return payment


def mercadopago_notification_id() -> int:
    return int(uuid.uuid4().int % 10**12)


async def post_mercadopago(
    api: RunningIngress,
    payment_id: int,
    *,
    secret: str = MERCADOPAGO_SECRET,
    notification_id: int | None = None,
    action: str = "payment.updated",
    ts: int | None = None,
) -> httpx.Response:
    """The notification Mercado Pago sends for a payment update, signed over its manifest.

    `notification_id` repeats a delivery (Mercado Pago retries with the notification's own id);
    each delivery is its own HTTP request, so it gets its own x-request-id.
    """
    data_id, request_id = str(payment_id), str(uuid.uuid4())
    body = {
        "id": mercadopago_notification_id() if notification_id is None else notification_id,
        "live_mode": False,
        "type": "payment",
        "date_created": datetime.now(UTC).isoformat(),
        "user_id": 810882223,
        "api_version": "v1",
        "action": action,
        "data": {"id": data_id},
    }
    signature = sign_mercadopago(secret, data_id=data_id, request_id=request_id, ts=ts)
    return await api.http.post(
        f"{api.server.url}/webhooks/mercadopago",
        params={"data.id": data_id, "type": "payment"},
        content=json.dumps(body),
        headers={"x-signature": signature, "x-request-id": request_id},
    )
