"""GET /exceptions, POST /exceptions/{id}/confirm and /reassign: the money-in queue over HTTP.

The same code path as `cobranza exceptions` (reconciliation/exception_resolution.py). Answers:
200 done; 401 no or the wrong bearer token, 403 none configured (api/support_auth.py);
404 no such exception; 409 already resolved; 422 a field is wrong, named in the body
as {"error", "field"} (FastAPI's own 422 lists `loc` and `msg` for a malformed body).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from temporalio.client import Client

from cobranza.api.support_auth import support_guard
from cobranza.reconciliation.exception_resolution import (
    Resolution,
    ResolutionError,
    ResolutionRequest,
    exception_summary,
    resolve,
)
from cobranza.store import money_in
from cobranza.store.store import Store

STATUSES = (money_in.EXCEPTION_OPEN, money_in.EXCEPTION_CONFIRMED, money_in.EXCEPTION_REASSIGNED)


class ConfirmBody(BaseModel):
    """Close the exception as it stands: no invoice gets the money."""

    model_config = ConfigDict(extra="forbid")

    actor: str = Field(min_length=1, max_length=200, description="who decided")
    reason: str = Field(min_length=1, max_length=500, description="refund, not ours, ...")


class ReassignBody(ConfirmBody):
    """Give the money to invoices (in order) or to a customer's open invoices (oldest due)."""

    invoices: list[str] = Field(default_factory=list, description="invoice ids, in order")
    customer_id: str | None = Field(default=None, min_length=1)
    tenant: str | None = Field(default=None, min_length=1, description="default: the exception's")

    @model_validator(mode="after")
    def _one_target(self) -> ReassignBody:
        if not self.invoices and self.customer_id is None:
            raise ValueError("give invoices or customer_id")
        return self


def _answer(done: Resolution) -> dict[str, Any]:
    return {
        "exception_id": done.exception_id,
        "status": done.status,
        "matches": [
            {
                "invoice_id": m.invoice_id,
                "amount": str(m.amount.to_decimal()),
                "currency": m.currency,
                "payment_id": m.payment_id,
            }
            for m in done.matches
        ],
        "unallocated": None if done.unallocated is None else str(done.unallocated.to_decimal()),
        "resumed": done.resumed,
        "kept_paused": done.kept_paused,
        "errors": done.errors,
    }


def _rejected(exc: ResolutionError) -> JSONResponse:
    return JSONResponse({"error": exc.reason, "field": exc.field}, status_code=exc.status)


def exceptions_router(client: Client, store: Store, support_token: str | None) -> APIRouter:
    router = APIRouter(
        prefix="/exceptions",
        tags=["exceptions"],
        dependencies=[Depends(support_guard(support_token))],
    )

    @router.get("")
    async def list_exceptions(
        status: str = Query(money_in.EXCEPTION_OPEN, description=" or ".join(STATUSES)),
        customer_id: str | None = None,
    ) -> Any:
        """The queue oldest first, with each exception's age in days."""
        if status not in STATUSES:
            error = ResolutionError("status", f"{status!r} is not one of {', '.join(STATUSES)}")
            return _rejected(error)
        rows = await asyncio.to_thread(
            money_in.exceptions, store, status=status, customer_id=customer_id
        )
        now = datetime.now(UTC)
        return {"exceptions": [exception_summary(r, now) for r in rows]}

    @router.post("/{exception_id}/confirm")
    async def confirm(exception_id: int, body: ConfirmBody) -> Any:
        try:
            request = ResolutionRequest(
                exception_id=exception_id, actor=body.actor, note=body.reason
            )
            done = await resolve(store, client, request)
        except ResolutionError as exc:
            return _rejected(exc)
        return _answer(done)

    @router.post("/{exception_id}/reassign")
    async def reassign(exception_id: int, body: ReassignBody) -> Any:
        try:
            request = ResolutionRequest(
                exception_id=exception_id,
                actor=body.actor,
                note=body.reason,
                invoices=tuple(body.invoices),
                customer_id=body.customer_id,
                tenant=body.tenant,
            )
            done = await resolve(store, client, request)
        except ResolutionError as exc:
            return _rejected(exc)
        return _answer(done)

    return router
