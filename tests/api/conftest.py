"""Ingress fixtures: dev server, worker, sandbox (gateway, CRM), store; the ingress on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from cobranza.api.app import build_app
from cobranza.api.ingress import Ingress
from cobranza.api.mercadopago import MercadoPagoApi
from cobranza.api.server import ApiServer
from cobranza.api.settings import ApiSettings
from cobranza.integrations.http_clients import HttpCrm
from cobranza.integrations.sandbox.mercadopago import SANDBOX_MERCADOPAGO_TOKEN
from cobranza.starter.stack import Stack, local_stack

from .webhook_requests import MERCADOPAGO_SECRET, STRIPE_SECRET, SUPPORT_TOKEN, RunningIngress


@pytest_asyncio.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    db = tmp_path_factory.mktemp("webhooks") / "store.db"
    async with local_stack(
        temporal_db=None, database_url=f"sqlite:///{db}", fast_timers=True
    ) as started:
        yield started


@pytest_asyncio.fixture(scope="module")
async def api(stack: Stack) -> AsyncIterator[RunningIngress]:
    settings = ApiSettings(
        stripe_webhook_secret=STRIPE_SECRET,
        mercadopago_webhook_secret=MERCADOPAGO_SECRET,
        mercadopago_access_token=SANDBOX_MERCADOPAGO_TOKEN,
        mercadopago_api_url=stack.sandbox.http_url,
        default_tenant="webhooks",
        support_token=SUPPORT_TOKEN,
    )
    async with httpx.AsyncClient(timeout=30) as http, HttpCrm(stack.sandbox.http_url) as crm:
        ingress = Ingress(stack.env.client, stack.store, settings.default_tenant, crm)
        payments = MercadoPagoApi(http, settings.mercadopago_api_url, SANDBOX_MERCADOPAGO_TOKEN)
        async with ApiServer(build_app(settings, ingress, payments)) as server:
            yield RunningIngress(stack=stack, server=server, http=http, ingress=ingress)


@pytest_asyncio.fixture
async def terminate_opened(api: RunningIngress) -> AsyncIterator[None]:
    """After the test, pass or fail, terminate the invoice workflows it opened and left running.

    pytest resumes a fixture after its test whatever the outcome, so a failed assertion no longer
    leaves workflows on the dev server for the rest of the module to trip over.
    """
    yield
    await api.terminate_opened()
