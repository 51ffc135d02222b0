"""Builds and runs a worker: the lifecycle workflow plus activities wired to real integrations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from cobranza.activities.collection import CollectionActivities
from cobranza.activities.contact import ContactActivities
from cobranza.integrations.http_clients import HttpCrm, HttpErp, HttpGateway
from cobranza.integrations.smtp import SmtpMessenger
from cobranza.store.store import Store
from cobranza.workflows.contact_gate import ContactGateWorkflow
from cobranza.workflows.invoice import InvoiceCollectionWorkflow

TASK_QUEUE = "cobranza"
SENDER = "Cobranza Demo <collections@creditor.example.com>"


@dataclass(frozen=True)
class Endpoints:
    """Where the outside systems listen: the sandbox locally, real providers in production."""

    http_url: str
    smtp_host: str
    smtp_port: int
    sender: str = SENDER


@asynccontextmanager
async def collection_activities(
    store: Store, endpoints: Endpoints
) -> AsyncIterator[CollectionActivities]:
    gateway = HttpGateway(endpoints.http_url)
    crm = HttpCrm(endpoints.http_url)
    erp = HttpErp(endpoints.http_url)
    messenger = SmtpMessenger(endpoints.smtp_host, endpoints.smtp_port, endpoints.sender)
    try:
        yield CollectionActivities(
            store=store, messenger=messenger, gateway=gateway, crm=crm, erp=erp
        )
    finally:
        for client in (gateway, crm, erp):
            await client.aclose()


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
    )
    return SandboxedWorkflowRunner(restrictions=restrictions)


def build_worker(
    client: Client, activities: CollectionActivities, task_queue: str = TASK_QUEUE
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[InvoiceCollectionWorkflow, ContactGateWorkflow],
        activities=[*activities.all(), *ContactActivities(client).all()],
        workflow_runner=workflow_runner(),
        max_concurrent_activities=64,
    )
