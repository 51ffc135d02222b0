"""The local stack in one process: Temporal dev server, integration sandbox, store and worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from cobranza.integrations.sandbox.server import Sandbox
from cobranza.starter.temporal_env import start_server
from cobranza.store.store import Store
from cobranza.worker import (
    TASK_QUEUE,
    Endpoints,
    build_worker,
    charging_activities,
    collection_activities,
    subscription_activities,
)

STATE_DIR = Path(".cobranza")


@dataclass
class Stack:
    env: WorkflowEnvironment
    sandbox: Sandbox
    store: Store
    task_queue: str
    server_log: Path | None = None  # where the dev server writes; None: our stderr


@asynccontextmanager
async def local_stack(
    *,
    temporal_db: Path | None = STATE_DIR / "temporal.db",
    database_url: str | None = None,
    port: int | None = None,
    ui: bool = False,
    ui_port: int | None = None,
    http_port: int = 0,
    smtp_port: int = 0,
    time_skipping: bool = True,
    task_queue: str = TASK_QUEUE,
    serve: bool = True,
    fast_timers: bool = False,
) -> AsyncIterator[Stack]:
    """Start everything, yield it, and shut it all down in reverse order, even on error.

    With `serve=False` nothing serves the task queue: the caller runs workers elsewhere.
    `fast_timers` is for tests: see `start_server`.
    """
    store = Store.from_url(database_url)
    store.create_all()
    server_log = temporal_db.with_name("temporal-server.log") if temporal_db else None
    try:
        env = await _started_even_if_cancelled(
            start_server(
                db_file=temporal_db,
                port=port,
                ui=ui,
                ui_port=ui_port,
                time_skipping=time_skipping,
                fast_timers=fast_timers,
                log_file=server_log,
            )
        )
    except BaseException:
        store.dispose()
        raise
    try:
        with Sandbox(http_port, smtp_port, seed=7) as sandbox:
            stack = Stack(env, sandbox, store, task_queue, server_log)
            if not serve:
                yield stack
                return
            endpoints = Endpoints.for_sandbox(sandbox)
            async with (
                collection_activities(store, endpoints) as activities,
                charging_activities(store, endpoints) as charging,
                subscription_activities(env.client, endpoints) as subscriptions,
            ):
                worker = build_worker(env.client, activities, task_queue, charging, subscriptions)
                async with worker:
                    yield stack
    finally:
        await env.shutdown()
        store.dispose()


async def _started_even_if_cancelled(
    starting: Coroutine[Any, Any, WorkflowEnvironment],
) -> WorkflowEnvironment:
    """The started server; cancelled meanwhile (SIGTERM while `cobranza up` starts), it lets the
    start finish, shuts the server down and re-raises: the server's process, once spawned,
    would otherwise outlive us."""
    start = asyncio.ensure_future(starting)
    try:
        return await asyncio.shield(start)
    except asyncio.CancelledError:
        env = await start
        await env.shutdown()
        raise
