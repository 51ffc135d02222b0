"""The charge activity: one attempt to charge an invoice's method on file, at most once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from cobranza.activities import names
from cobranza.domain.charges import ChargeOutcome, ChargeRequest
from cobranza.integrations.errors import IdempotencyConflict, PermanentIntegrationError
from cobranza.integrations.protocols import ChargeGateway
from cobranza.store.charges import record_charge_attempt, recorded_charge
from cobranza.store.store import Store


@dataclass
class ChargingActivities:
    """Charges through the gateway and records each attempt; built once per worker."""

    store: Store
    gateway: ChargeGateway

    def all(self) -> list[Callable[..., Any]]:
        return [self.charge_invoice]

    @activity.defn(name=names.CHARGE_INVOICE)
    async def charge_invoice(self, request: ChargeRequest) -> ChargeOutcome:
        """Charge once per idempotency key, whatever number of times this activity runs.

        Two guards: the store (an attempt already recorded is answered from it, even after the
        gateway forgot the key, as Stripe does after 24 hours) and the gateway's idempotency
        key (a worker killed between the charge and the record gets the first answer back).
        Declines are outcomes; a transient fault raises so Temporal retries with the same key.
        """
        key = request.idempotency_key
        recorded = await asyncio.to_thread(recorded_charge, self.store, key)
        if recorded is not None:
            mismatch = recorded.differs_from(request)
            if mismatch is not None:
                raise ApplicationError(mismatch, type="IdempotencyConflict", non_retryable=True)
            return recorded.to_outcome()
        try:
            outcome = await self.gateway.charge(request)
        except IdempotencyConflict as exc:
            # The same attempt asked for different money or card: a workflow bug, never retried.
            raise ApplicationError(
                str(exc), type="IdempotencyConflict", non_retryable=True
            ) from exc
        except PermanentIntegrationError as exc:
            raise ApplicationError(
                str(exc), type="PermanentIntegrationError", non_retryable=True
            ) from exc
        new = await asyncio.to_thread(record_charge_attempt, self.store, request, outcome)
        if not new:
            # Another run of this attempt recorded first: its answer is the one that stands.
            first = await asyncio.to_thread(recorded_charge, self.store, key)
            return outcome if first is None else first.to_outcome()
        return outcome
