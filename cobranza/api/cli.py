"""The `cobranza api` command: the webhook ingress against a running Temporal and store."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from cobranza.api.server import run_api
from cobranza.api.settings import ApiSettings, SettingsError
from cobranza.starter.temporal_connect import TemporalUnreachable


def api(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8800,
) -> None:
    """Serve POST /webhooks/stripe and /webhooks/mercadopago; /exceptions and GET /reports
    behind COBRANZA_SUPPORT_TOKEN.

    Secrets come from the environment: COBRANZA_STRIPE_WEBHOOK_SECRET,
    COBRANZA_MERCADOPAGO_WEBHOOK_SECRET, COBRANZA_MERCADOPAGO_ACCESS_TOKEN; also
    COBRANZA_MERCADOPAGO_API_URL, COBRANZA_WEBHOOK_TOLERANCE_S (300), COBRANZA_DEFAULT_TENANT,
    COBRANZA_TEMPORAL_ADDRESS (127.0.0.1:7233), COBRANZA_CRM_URL (where exceptions open
    their tasks; default the sandbox's, http://127.0.0.1:8700) and DATABASE_URL (the store).
    """
    try:
        settings = ApiSettings.from_env()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    missing = [
        name
        for name, value in (
            ("COBRANZA_STRIPE_WEBHOOK_SECRET", settings.stripe_webhook_secret),
            ("COBRANZA_MERCADOPAGO_WEBHOOK_SECRET", settings.mercadopago_webhook_secret),
        )
        if not value
    ]
    for name in missing:
        typer.echo(f"warning: {name} is not set: that gateway's webhooks get 401", err=True)
    try:
        asyncio.run(run_api(settings, host, port))
    except TemporalUnreachable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    app.command("api")(api)
