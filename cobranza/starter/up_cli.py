"""`cobranza up`: the live stack (dev server with Web UI, sandbox, worker) until stopped."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cobranza.starter.console import stdout_console
from cobranza.starter.dataset import load_ibm_csv
from cobranza.starter.policy_catalog import STANDARD_POLICY, read_policy_file, segment_chooser
from cobranza.starter.shutdown import Stopped, until_signalled
from cobranza.starter.simulate import Simulator
from cobranza.starter.stack import Stack, local_stack


@dataclass(frozen=True)
class StackPorts:
    temporal: int
    ui: int
    sandbox: int
    smtp: int


def up(
    load: Annotated[
        Path | None, typer.Option(help="simulate this CSV first if the server has no invoices")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="only the first N invoices of --load")] = None,
    port: Annotated[int, typer.Option(help="Temporal frontend port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port")] = 8233,
    sandbox_port: Annotated[
        int, typer.Option(help="HTTP port of the sandbox (gateway, CRM, ERP, SMS)")
    ] = 8700,
    smtp_port: Annotated[int, typer.Option(help="SMTP port of the sandbox's mail sink")] = 2525,
) -> None:
    """Run the live stack (dev server with Web UI, sandbox, worker) until stopped.

    SIGTERM or SIGINT (Ctrl-C) shuts down the worker, the sandbox and the dev server, then
    exits 0.
    """
    ports = StackPorts(port, ui_port, sandbox_port, smtp_port)
    stopped = asyncio.run(until_signalled(_up(load, limit, ports, stdout_console())))
    if isinstance(stopped, Stopped):
        Console(stderr=True).print(
            f"{stopped.signal.name}: stopped the worker, the sandbox and the dev server"
        )


async def _up(load: Path | None, limit: int | None, ports: StackPorts, out: Console) -> None:
    async with local_stack(
        port=ports.temporal,
        ui=True,
        ui_port=ports.ui,
        http_port=ports.sandbox,
        smtp_port=ports.smtp,
    ) as stack:
        out.print(
            f"Temporal Web UI: http://localhost:{ports.ui}   frontend: 127.0.0.1:{ports.temporal}"
        )
        if stack.server_log is not None:
            out.print(f"Dev server log: {stack.server_log.resolve()}")
        out.print(
            f"Sandbox: {stack.sandbox.http_url} "
            f"(SMTP {stack.sandbox.smtp_host}:{stack.sandbox.smtp_port})"
        )
        if load is not None:
            await _load_into(stack, load, limit, out)
        out.print(
            "Try: temporal workflow list --query \"CustomerId='0379-NEVHP'\"   (Ctrl-C stops)"
        )
        await asyncio.Event().wait()


async def _load_into(stack: Stack, load: Path, limit: int | None, out: Console) -> None:
    """Collect the first `limit` invoices of the CSV on the live server, skipping ones there."""
    sim = load_ibm_csv(load).first(limit)
    policy = read_policy_file(STANDARD_POLICY)
    simulator = Simulator(stack.env, stack.task_queue, policy, chooser=segment_chooser())
    run = await simulator.run(sim)
    out.print(
        f"{len(run.invoices)} invoices of {load} are in the server "
        f"({sum(r.already_done for r in run.invoices)} from an earlier run)"
    )


def register(app: typer.Typer) -> None:
    """Add `up` to the main command."""
    app.command("up")(up)
