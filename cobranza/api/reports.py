"""GET /reports: the collection report of the store as JSON, the same one `cobranza report` writes.

Behind the support token, as /exceptions (api/support_auth.py): it names customers' debts.
Answers 200 with the report; 422 {"error", "field"} for an `as_of` without a UTC offset or a
`tenant` the store has no invoice of.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from cobranza.api.support_auth import support_guard
from cobranza.store.report_request import (
    ReportRequestError,
    default_as_of,
    parse_as_of,
    report_for,
)
from cobranza.store.store import Store


def reports_router(store: Store, support_token: str | None) -> APIRouter:
    router = APIRouter(
        prefix="/reports", tags=["reports"], dependencies=[Depends(support_guard(support_token))]
    )

    @router.get("")
    async def collection_report(
        tenant: str | None = Query(None, description="default: every tenant"),
        as_of: str | None = Query(
            None, description="ISO 8601 with a UTC offset, or a date (its end in UTC); now"
        ),
    ) -> Any:
        """Aging, DSO, outcomes, recovery and money in; amounts as decimal strings per currency."""
        try:
            instant = parse_as_of(as_of, default_as_of(), field="as_of")
            built = await asyncio.to_thread(report_for, store, instant, tenant, "tenant")
        except ReportRequestError as exc:
            return JSONResponse({"error": exc.reason, "field": exc.field}, status_code=422)
        return JSONResponse(built.model_dump(mode="json"))

    return router
