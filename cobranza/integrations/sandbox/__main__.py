"""Command line: run the sandbox until interrupted (`python -m cobranza.integrations.sandbox`)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from cobranza.integrations.sandbox.server import Sandbox

cli = typer.Typer(add_completion=False, help=__doc__)


@cli.command()
def run(
    http_port: int = typer.Option(8700, help="HTTP port for gateway, CRM, ERP, SMS; 0 picks one"),
    smtp_port: int = typer.Option(2525, help="SMTP sink port; 0 picks one"),
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    latency_ms: int = typer.Option(0, help="delay added to each call"),
    error_rate: float = typer.Option(0.0, help="share of HTTP calls answered 503"),
    smtp_error_rate: float = typer.Option(0.0, help="share of mails answered 451"),
    seed: int | None = typer.Option(None, help="seed for injected faults and ids"),
) -> None:
    """Serve the emulators; read what they received at /smtp/messages, /crm/tasks, ..."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with Sandbox(
        http_port,
        smtp_port,
        host=host,
        latency_ms=latency_ms,
        error_rate=error_rate,
        smtp_error_rate=smtp_error_rate,
        seed=seed,
    ) as sandbox:
        typer.echo(f"HTTP  {sandbox.http_url}  (docs at {sandbox.http_url}/docs)")
        typer.echo(f"SMTP  {sandbox.smtp_host}:{sandbox.smtp_port}")
        typer.echo("Ctrl-C to stop")
        stop.wait()


if __name__ == "__main__":
    cli()
