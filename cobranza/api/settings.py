"""Settings of the HTTP ingress, read from environment variables; secrets never live in the repo."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cobranza.api.mercadopago import PUBLIC_API_URL
from cobranza.api.signatures import DEFAULT_TOLERANCE_S
from cobranza.reconciliation.exception_tasks import DEFAULT_CRM_URL

ENV_PREFIX = "COBRANZA_"


class SettingsError(ValueError):
    """A setting is missing or malformed; names the environment variable."""


@dataclass(frozen=True)
class ApiSettings:
    """Everything the ingress needs to know. A gateway without a secret is refused (401)."""

    stripe_webhook_secret: str | None = None
    mercadopago_webhook_secret: str | None = None
    mercadopago_access_token: str | None = None
    mercadopago_api_url: str = PUBLIC_API_URL
    tolerance_s: int = DEFAULT_TOLERANCE_S
    default_tenant: str = "default"
    temporal_address: str = "127.0.0.1:7233"
    database_url: str | None = None
    # Where queued exceptions open their tasks; the same default as `cobranza reconcile --crm-url`.
    crm_url: str = DEFAULT_CRM_URL
    # Bearer token of the support endpoints (/exceptions); without one they are off.
    support_token: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiSettings:
        """Read COBRANZA_* variables (and DATABASE_URL, as the store does)."""
        source = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = source.get(ENV_PREFIX + name, "").strip()
            return value or None

        tolerance = get("WEBHOOK_TOLERANCE_S")
        if tolerance is not None and not tolerance.isdigit():
            raise SettingsError(
                f"{ENV_PREFIX}WEBHOOK_TOLERANCE_S: expected whole seconds, got {tolerance!r}"
            )
        return cls(
            stripe_webhook_secret=get("STRIPE_WEBHOOK_SECRET"),
            mercadopago_webhook_secret=get("MERCADOPAGO_WEBHOOK_SECRET"),
            mercadopago_access_token=get("MERCADOPAGO_ACCESS_TOKEN"),
            mercadopago_api_url=get("MERCADOPAGO_API_URL") or PUBLIC_API_URL,
            tolerance_s=int(tolerance) if tolerance else DEFAULT_TOLERANCE_S,
            default_tenant=get("DEFAULT_TENANT") or "default",
            temporal_address=get("TEMPORAL_ADDRESS") or "127.0.0.1:7233",
            database_url=source.get("DATABASE_URL", "").strip() or None,
            crm_url=get("CRM_URL") or DEFAULT_CRM_URL,
            support_token=get("SUPPORT_TOKEN"),
        )
