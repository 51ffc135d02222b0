"""Builds and runs a worker: the lifecycle workflow plus activities wired to real integrations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from cobranza.activities.charging import ChargingActivities
from cobranza.activities.collection import CollectionActivities
from cobranza.activities.contact import ContactActivities
from cobranza.activities.subscription import SubscriptionActivities
from cobranza.domain.creditor import DEMO_CREDITOR, Creditor
from cobranza.domain.invoice import Channel
from cobranza.integrations.channels import ChannelMessenger
from cobranza.integrations.erp_services import HttpServiceControl
from cobranza.integrations.gateway import SANDBOX_API_KEY, StripeGateway
from cobranza.integrations.http_clients import HttpCrm, HttpErp, HttpGateway
from cobranza.integrations.sandbox.twilio import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_SMS_FROM,
)
from cobranza.integrations.smtp import SmtpMessenger
from cobranza.integrations.template_check import check_templates
from cobranza.integrations.twilio import TwilioMessenger
from cobranza.store.store import Store
from cobranza.workflows.contact_gate import ContactGateWorkflow
from cobranza.workflows.invoice import InvoiceCollectionWorkflow
from cobranza.workflows.subscription import RecurringBillingWorkflow

if TYPE_CHECKING:
    from cobranza.integrations.sandbox.server import Sandbox

TASK_QUEUE = "cobranza"
SENDER = "Cobranza Demo <collections@creditor.example.com>"


@dataclass(frozen=True)
class Endpoints:
    """Where the outside systems listen: the sandbox locally, real providers in production.

    The SMS/WhatsApp fields default to the sandbox's provider on `http_url`; production sets
    `twilio_url` (https://api.twilio.com), its own account, sender numbers and a callback URL.
    """

    http_url: str
    smtp_host: str
    smtp_port: int
    sender: str = SENDER
    twilio_url: str | None = None
    twilio_account_sid: str = SANDBOX_ACCOUNT_SID
    twilio_auth_token: str = SANDBOX_AUTH_TOKEN
    sms_from: str = SANDBOX_SMS_FROM
    whatsapp_from: str | None = None
    status_callback_url: str | None = None
    # The card gateway: None means the sandbox's Stripe emulator at `http_url`/gateway.
    gateway_api_base: str | None = None
    gateway_api_key: str = SANDBOX_API_KEY

    @classmethod
    def for_sandbox(cls, sandbox: Sandbox) -> Endpoints:
        """Every endpoint of a running sandbox, delivery status callbacks included."""
        return cls.for_sandbox_at(sandbox.http_url, sandbox.smtp_host, sandbox.smtp_port)

    @classmethod
    def for_sandbox_at(cls, http_url: str, smtp_host: str, smtp_port: int) -> Endpoints:
        """A sandbox served elsewhere (another process): its HTTP base URL and SMTP address."""
        # Imported here: the sandbox package pulls in FastAPI, which a production worker skips.
        from cobranza.integrations.sandbox.twilio import STATUS_CALLBACK_PATH

        return cls(
            http_url=http_url,
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            twilio_url=http_url,
            status_callback_url=f"{http_url}{STATUS_CALLBACK_PATH}",
        )


@asynccontextmanager
async def collection_activities(
    store: Store, endpoints: Endpoints, creditor: Creditor = DEMO_CREDITOR
) -> AsyncIterator[CollectionActivities]:
    """The activities wired to `endpoints`, once the templates are known to obey the law."""
    # Load time, not send time: a template missing a required line stops the worker here.
    check_templates(creditor=creditor)
    gateway = HttpGateway(endpoints.http_url)
    crm = HttpCrm(endpoints.http_url)
    erp = HttpErp(endpoints.http_url)
    texts = TwilioMessenger(
        endpoints.twilio_url or endpoints.http_url,
        endpoints.twilio_account_sid,
        endpoints.twilio_auth_token,
        sms_from=endpoints.sms_from,
        whatsapp_from=endpoints.whatsapp_from,
        status_callback=endpoints.status_callback_url,
    )
    messenger = ChannelMessenger(
        {
            Channel.EMAIL: SmtpMessenger(
                endpoints.smtp_host, endpoints.smtp_port, endpoints.sender
            ),
            Channel.SMS: texts,
            Channel.WHATSAPP: texts,
        }
    )
    try:
        yield CollectionActivities(
            store=store, messenger=messenger, gateway=gateway, crm=crm, erp=erp, creditor=creditor
        )
    finally:
        for client in (gateway, crm, erp, texts):
            await client.aclose()


@asynccontextmanager
async def charging_activities(
    store: Store, endpoints: Endpoints
) -> AsyncIterator[ChargingActivities]:
    """The charge activity wired to the Stripe-compatible gateway of `endpoints`."""
    if endpoints.gateway_api_base is None:
        gateway = StripeGateway.for_sandbox(endpoints.http_url)
    else:
        gateway = StripeGateway(endpoints.gateway_api_base, endpoints.gateway_api_key)
    try:
        yield ChargingActivities(store=store, gateway=gateway)
    finally:
        await gateway.aclose()


@asynccontextmanager
async def subscription_activities(
    client: Client, endpoints: Endpoints
) -> AsyncIterator[SubscriptionActivities]:
    """Recurring billing: the server to read invoices' progress from, the ERP's service switch."""
    services = HttpServiceControl(endpoints.http_url)
    try:
        yield SubscriptionActivities(client=client, services=services)
    finally:
        await services.aclose()


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every worker and replayer uses, so replays see what production saw."""
    # Our own pure modules and these libraries are safe to share with the sandbox: passing
    # them through avoids re-importing them for every run, which costs throughput, and lets
    # holidays/dateutil import (they read the clock and locale while loading, not after).
    restrictions = SandboxRestrictions.default.with_passthrough_modules(
        "cobranza.domain",
        "pydantic",
        "pydantic_core",
        "babel",
        "iso4217",
        "annotated_types",
        "holidays",
        "dateutil",
        # cobranza.domain.contact_points validates addresses with these (no I/O at run time).
        "phonenumbers",
        "email_validator",
        "idna",
        "dns",
    )
    return SandboxedWorkflowRunner(restrictions=restrictions)


def build_worker(
    client: Client,
    activities: CollectionActivities,
    task_queue: str = TASK_QUEUE,
    charging: ChargingActivities | None = None,
    subscriptions: SubscriptionActivities | None = None,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[InvoiceCollectionWorkflow, ContactGateWorkflow, RecurringBillingWorkflow],
        activities=[
            *activities.all(),
            *ContactActivities(client).all(),
            *(charging.all() if charging is not None else []),
            *(subscriptions.all() if subscriptions is not None else []),
        ],
        workflow_runner=workflow_runner(),
        max_concurrent_activities=64,
    )


async def run_worker(
    client: Client,
    store: Store,
    endpoints: Endpoints,
    task_queue: str = TASK_QUEUE,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve `task_queue` until `stop` is set (or forever): the process `cobranza worker` runs."""
    async with (
        collection_activities(store, endpoints) as activities,
        charging_activities(store, endpoints) as charging,
        subscription_activities(client, endpoints) as subscriptions,
    ):
        worker = build_worker(client, activities, task_queue, charging, subscriptions)
        async with worker:
            await (stop or asyncio.Event()).wait()
