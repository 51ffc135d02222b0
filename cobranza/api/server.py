"""Serving the ingress: inside the caller's event loop (tests, bench) or as `cobranza api`."""

from __future__ import annotations

import asyncio
import socket
import sys
from contextlib import suppress
from types import TracebackType
from typing import Self

import httpx
import uvicorn
from fastapi import FastAPI

from cobranza.api.app import build_app
from cobranza.api.ingress import Ingress
from cobranza.api.mercadopago import MercadoPagoApi
from cobranza.api.settings import ApiSettings
from cobranza.integrations.http_clients import HttpCrm
from cobranza.starter.temporal_connect import connect_named
from cobranza.store.store import Store

PAYMENTS_API_TIMEOUT_S = 10.0
# The CRM is called before a webhook is answered: a slow one must not make the gateway time out.
CRM_TIMEOUT_S = 5.0


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that tells its starter when it is ready to accept requests."""

    def __init__(self, config: uvicorn.Config, ready: asyncio.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()


class ApiServer:
    """An app served by uvicorn on loopback inside the running event loop; port 0 = free port.

    Use as `async with ApiServer(app) as server: httpx.post(server.url + "/webhooks/stripe")`.
    Sharing the loop lets the app use a Temporal client created by the caller.
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self.port = 0
        self._server: _AnnouncingServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self.port = sock.getsockname()[1]
        ready = asyncio.Event()
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = _AnnouncingServer(config, ready)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait({self._task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():
            waiting.cancel()
            self._task.result()  # raises what stopped the server from starting
            raise RuntimeError(f"ingress on {self.url} stopped before it started")
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with suppress(asyncio.CancelledError):
                await self._task
        self._server = self._task = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def run_api(settings: ApiSettings, host: str, port: int) -> None:
    """The `cobranza api` process: connect to Temporal and the store, serve until stopped."""
    client = await connect_named(settings.temporal_address, "COBRANZA_TEMPORAL_ADDRESS")
    store = Store.from_url(settings.database_url)
    store.create_all()
    try:
        async with (
            httpx.AsyncClient(timeout=PAYMENTS_API_TIMEOUT_S) as http,
            HttpCrm(settings.crm_url, timeout=CRM_TIMEOUT_S) as crm,
        ):
            token = settings.mercadopago_access_token
            mercadopago = (
                MercadoPagoApi(http, settings.mercadopago_api_url, token) if token else None
            )
            ingress = Ingress(client, store, settings.default_tenant, crm)
            for error in await ingress.exceptions.open_tasks():  # left by a CRM outage
                sys.stderr.write(f"warning: {error}\n")
            app = build_app(settings, ingress, mercadopago)
            await uvicorn.Server(uvicorn.Config(app, host=host, port=port)).serve()
    finally:
        store.dispose()
