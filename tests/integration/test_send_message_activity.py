"""The send_message activity against the real SMTP sink and store: at most one message per key."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from cobranza.activities.collection import CollectionActivities
from cobranza.domain.effects import InvoiceSnapshot, LineItem, MessageRequest, Recording
from cobranza.domain.invoice import Channel, Customer, InvoiceStatus
from cobranza.domain.money import Money
from cobranza.integrations.errors import TransientIntegrationError
from cobranza.integrations.http_clients import HttpCrm, HttpErp, HttpGateway
from cobranza.integrations.protocols import OutboundMessage
from cobranza.integrations.sandbox.server import Sandbox
from cobranza.integrations.smtp import SmtpMessenger
from cobranza.store.store import Store

AT = datetime(2026, 4, 13, 16, 0, tzinfo=UTC)
CUSTOMER = Customer(
    customer_id="C-1",
    country="MX",
    timezone="America/Mexico_City",
    locale="es_MX",
    email="c-1@customers.example.com",
)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=3) as running:
        yield running


@pytest.fixture
def activities(sandbox: Sandbox, tmp_path: Path) -> CollectionActivities:
    store = Store.from_url(f"sqlite:///{tmp_path / 'store.db'}")
    store.create_all()
    url = sandbox.http_url
    return CollectionActivities(
        store=store,
        messenger=SmtpMessenger(sandbox.smtp_host, sandbox.smtp_port, "ar@creditor.example.com"),
        gateway=HttpGateway(url),
        crm=HttpCrm(url),
        erp=HttpErp(url),
    )


def request(key: str = "invoice-default-INV-1:step-2") -> MessageRequest:
    amount = Money.parse("1000.00", "MXN")
    snapshot = InvoiceSnapshot(
        workflow_id="invoice-default-INV-1",
        tenant="default",
        invoice_id="INV-1",
        customer_id="C-1",
        country="MX",
        currency="MXN",
        amount_minor=amount.minor,
        paid_minor=0,
        status=InvoiceStatus.OVERDUE,
        dunning_level=0,
        issued_on=date(2026, 3, 11),
        due_on=date(2026, 4, 10),
        policy_ref="standard@v1",
        updated_at=AT,
    )
    item = LineItem(
        invoice_id="INV-1",
        amount=amount,
        outstanding=amount,
        paid=Money.zero("MXN"),
        due_on=date(2026, 4, 10),
        days_overdue=3,
    )
    return MessageRequest(
        dedupe_key=key,
        customer=CUSTOMER,
        channel=Channel.EMAIL,
        template="overdue",
        items=[item],
        step="overdue",
        scheduled_at=AT,
        recording=Recording(snapshot=snapshot),
    )


def attempt(n: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=n)
    return env


async def test_a_retry_after_success_sends_nothing_more(
    activities: CollectionActivities, sandbox: Sandbox
) -> None:
    first = await attempt(1).run(activities.send_message, request())
    again = await attempt(2).run(activities.send_message, request())
    assert not first.duplicate and again.duplicate
    assert again.provider_message_id == first.provider_message_id
    assert len(sandbox.messages()) == 1


async def test_a_worker_killed_after_handing_over_never_sends_twice(
    activities: CollectionActivities, sandbox: Sandbox
) -> None:
    req = request()
    # What a first attempt did before its worker died: claim, then hand to the provider.
    activities.store.begin_message(
        dedupe_key=req.dedupe_key,
        tenant="default",
        customer_id="C-1",
        channel="email",
        address=CUSTOMER.email or "",
        template="overdue",
        step="overdue",
        invoice_ids=["INV-1"],
        scheduled_at=AT,
        content_sha256="x",
    )
    await activities.messenger.send(
        OutboundMessage(dedupe_key=req.dedupe_key, to=CUSTOMER.email or "", text="hello")
    )
    receipt = await attempt(2).run(activities.send_message, req)
    assert receipt.duplicate and receipt.provider_message_id == "unconfirmed"
    assert len(sandbox.messages()) == 1
    row = activities.store.get_message(req.dedupe_key)
    assert row is not None and row.status == "sending"  # evidence of an unconfirmed delivery


async def test_a_refused_send_frees_the_claim_so_the_retry_delivers(
    activities: CollectionActivities, sandbox: Sandbox
) -> None:
    sandbox.knobs.smtp_error_rate = 1.0
    with pytest.raises(TransientIntegrationError):
        await attempt(1).run(activities.send_message, request())
    assert activities.store.get_message(request().dedupe_key) is None
    sandbox.knobs.smtp_error_rate = 0.0
    receipt = await attempt(2).run(activities.send_message, request())
    assert not receipt.duplicate
    assert len(sandbox.messages()) == 1
