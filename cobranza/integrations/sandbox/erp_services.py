"""Emulator of an ERP's service switch: suspend and restore a subscription's service.

`POST /erp/v1/services/{id}/suspend` and `/restore` take an Idempotency-Key (one action per key,
as with the other emulators) and answer the action with the service's state. Suspending a
suspended service, or restoring an active one, changes nothing and records no action.
`GET /erp/v1/services/{id}` reads one service; `GET /sandbox/erp/service_actions` lists every
action taken, so a test can assert "suspended once, restored once".
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cobranza.integrations.sandbox.state import SandboxState, StoredResponse

ServiceState = Literal["active", "suspended"]
_AFTER: dict[str, ServiceState] = {"suspend": "suspended", "restore": "active"}


class ServiceActionBody(BaseModel):
    customer_id: str = Field(min_length=1)
    invoice_id: str = ""
    period: int | None = None
    reason: str = Field(min_length=1)


class ServiceActionRecord(BaseModel):
    id: str
    service_id: str
    action: Literal["suspend", "restore"]
    customer_id: str
    invoice_id: str
    period: int | None
    reason: str
    idempotency_key: str | None
    created_at: datetime


class ServiceRecord(BaseModel):
    service_id: str
    state: ServiceState
    actions: list[ServiceActionRecord]


class ServiceLedger:
    """The state of every service and the actions that changed it; forgotten on reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.forget()

    def forget(self) -> None:
        with self._lock:
            self._states: dict[str, ServiceState] = {}
            self._actions: list[ServiceActionRecord] = []

    def act(self, record: ServiceActionRecord) -> tuple[ServiceState, bool]:
        with self._lock:
            before = self._states.get(record.service_id, "active")
            after = _AFTER[record.action]
            if before == after:
                return after, False
            self._states[record.service_id] = after
            self._actions.append(record)
            return after, True

    def service(self, service_id: str) -> ServiceRecord:
        with self._lock:
            return ServiceRecord(
                service_id=service_id,
                state=self._states.get(service_id, "active"),
                actions=[a for a in self._actions if a.service_id == service_id],
            )

    def actions(self) -> list[ServiceActionRecord]:
        with self._lock:
            return list(self._actions)


def build_services_router(state: SandboxState) -> APIRouter:
    router = APIRouter()
    ledger = ServiceLedger()
    state.on_reset(ledger.forget)

    @router.post("/erp/v1/services/{service_id}/{action}")
    async def switch(
        service_id: str,
        action: str,
        body: ServiceActionBody,
        idempotency_key: str | None = Header(default=None),
    ) -> JSONResponse:
        if action not in _AFTER:
            raise HTTPException(404, f"no action {action!r}: expected suspend or restore")

        def create() -> StoredResponse:
            record = ServiceActionRecord(
                id=state.new_id("svc"),
                service_id=service_id,
                action="suspend" if action == "suspend" else "restore",
                idempotency_key=idempotency_key,
                created_at=datetime.now(UTC),
                **body.model_dump(),
            )
            now, changed = ledger.act(record)
            answer = {
                "action_id": record.id,
                "service_id": service_id,
                "state": now,
                "changed": changed,
            }
            return StoredResponse(status=200, body=answer)

        request = {"action": action, "service_id": service_id, **body.model_dump()}
        stored = state.idempotent("erp_services", idempotency_key, request, create)
        return JSONResponse(stored.body, status_code=stored.status)

    @router.get("/erp/v1/services/{service_id}")
    async def read(service_id: str) -> ServiceRecord:
        return ledger.service(service_id)

    @router.get("/sandbox/erp/service_actions")
    async def actions() -> list[ServiceActionRecord]:
        return ledger.actions()

    return router
