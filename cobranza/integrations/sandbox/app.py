"""The HTTP side of the sandbox: gateway, CRM, ERP and SMS emulators plus read-outs of them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from html import escape
from typing import Any

from fastapi import APIRouter, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, field_validator

from cobranza.domain.invoice import InvoiceStatus
from cobranza.domain.money import Money
from cobranza.integrations.protocols import CrmTaskKind, ErpPostingKind
from cobranza.integrations.sandbox.erp_services import build_services_router
from cobranza.integrations.sandbox.gateway import build_gateway_router
from cobranza.integrations.sandbox.mercadopago import build_router as build_mercadopago_router
from cobranza.integrations.sandbox.state import (
    CrmTaskRecord,
    ErpPostingRecord,
    IdempotencyConflictError,
    PaymentLinkRecord,
    ReceivedEmail,
    SandboxKnobs,
    SandboxState,
    StoredResponse,
)
from cobranza.integrations.sandbox.twilio import build_router

REPLAY_HEADER = "Idempotent-Replayed"
# Only the emulated systems get latency and injected errors; read-outs and knobs stay reliable.
FAULTY_PREFIXES = ("/gateway/", "/crm/", "/erp/", "/2010-04-01/")


class PaymentLinkBody(BaseModel):
    invoice_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    amount: Money

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Money) -> Money:
        if not value.is_positive():
            raise ValueError(f"amount must be positive, got {value}")
        return value


class CrmTaskBody(BaseModel):
    customer_id: str = Field(min_length=1)
    invoice_id: str = Field(min_length=1)
    kind: CrmTaskKind
    title: str = Field(min_length=1)
    body: str = ""


class ErpPostingBody(BaseModel):
    invoice_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    kind: ErpPostingKind
    status: InvoiceStatus
    amount: Money | None = None
    payment_id: str | None = None
    outstanding: Money


def build_app(state: SandboxState) -> FastAPI:
    """Every emulator's routes on one app, with latency and errors injected into the emulators."""
    app = FastAPI(title="cobranza sandbox", docs_url="/docs", redoc_url=None)
    _inject_faults(app, state)

    @app.exception_handler(IdempotencyConflictError)
    async def idempotency_conflict(request: Request, exc: IdempotencyConflictError) -> Response:
        return _error(409, "idempotency_error", "idempotency_key_reused", str(exc))

    app.include_router(build_router(state))
    app.include_router(build_mercadopago_router(state))
    app.include_router(build_gateway_router(state))
    app.include_router(build_services_router(state))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(_payment_links_router(state))
    app.include_router(_crm_router(state))
    app.include_router(_erp_router(state))
    app.include_router(_control_router(state))
    return app


def _inject_faults(app: FastAPI, state: SandboxState) -> None:
    """The knobs' latency and error rate, applied to the emulated systems only."""

    @app.middleware("http")
    async def inject_faults(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path.startswith(FAULTY_PREFIXES):
            knobs = state.knobs
            if knobs.latency_ms:
                await asyncio.sleep(knobs.latency_ms / 1000)
            if state.inject_fault(knobs.error_rate):
                return _error(503, "api_error", "sandbox_injected", "injected failure (error_rate)")
        return await call_next(request)


def _payment_links_router(state: SandboxState) -> APIRouter:
    """Payment links under /gateway/v1, and the page each link opens."""
    router = APIRouter()

    @router.post("/gateway/v1/payment_links", status_code=201)
    async def create_payment_link(
        body: PaymentLinkBody,
        request: Request,
        idempotency_key: str | None = Header(default=None),
    ) -> Response:
        def create() -> StoredResponse:
            link_id = state.new_id("plink")
            record = PaymentLinkRecord(
                id=link_id,
                url=f"{str(request.base_url).rstrip('/')}/pay/{link_id}",
                idempotency_key=idempotency_key,
                **body.model_dump(),
            )
            state.payment_links.append(record)
            return StoredResponse(status=201, body={"object": "payment_link", **_dump(record)})

        return _answer(state.idempotent("payment_links", idempotency_key, _dump(body), create))

    @router.get("/gateway/v1/payment_links")
    async def list_payment_links() -> list[PaymentLinkRecord]:
        return state.list_payment_links()

    @router.get("/pay/{link_id}", response_class=HTMLResponse)
    async def payment_page(link_id: str) -> str:
        link = next((p for p in state.list_payment_links() if p.id == link_id), None)
        if link is None:
            raise HTTPException(status_code=404, detail=f"no payment link {link_id!r}")
        return (
            f"<!DOCTYPE html><title>Pay {escape(link.invoice_id)}</title>"
            f"<h1>Sandbox payment page</h1><p>Invoice {escape(link.invoice_id)}: "
            f"{escape(str(link.amount))}</p>"
        )

    return router


def _crm_router(state: SandboxState) -> APIRouter:
    """The CRM's task queue: create one (idempotently) and read them all back."""
    router = APIRouter()

    @router.post("/crm/tasks", status_code=201)
    async def create_task(
        body: CrmTaskBody, idempotency_key: str | None = Header(default=None)
    ) -> Response:
        def create() -> StoredResponse:
            record = CrmTaskRecord(
                id=state.new_id("task"),
                idempotency_key=idempotency_key,
                created_at=datetime.now(UTC),
                **body.model_dump(),
            )
            state.tasks.append(record)
            return StoredResponse(status=201, body=_dump(record))

        return _answer(state.idempotent("crm_tasks", idempotency_key, _dump(body), create))

    @router.get("/crm/tasks")
    async def list_tasks() -> list[CrmTaskRecord]:
        return state.list_tasks()

    return router


def _erp_router(state: SandboxState) -> APIRouter:
    """The ERP's postings ledger: post one (idempotently) and read them all back."""
    router = APIRouter()

    @router.post("/erp/postings", status_code=201)
    async def create_posting(
        body: ErpPostingBody, idempotency_key: str | None = Header(default=None)
    ) -> Response:
        def create() -> StoredResponse:
            record = ErpPostingRecord(
                id=state.new_id("post"),
                idempotency_key=idempotency_key,
                created_at=datetime.now(UTC),
                **body.model_dump(),
            )
            state.postings.append(record)
            return StoredResponse(status=201, body=_dump(record))

        return _answer(state.idempotent("erp_postings", idempotency_key, _dump(body), create))

    @router.get("/erp/postings")
    async def list_postings() -> list[ErpPostingRecord]:
        return state.list_postings()

    return router


def _control_router(state: SandboxState) -> APIRouter:
    """Received email, the fault knobs and reset: what tests read and turn, never faulty."""
    router = APIRouter()

    @router.get("/smtp/messages")
    async def list_messages() -> list[ReceivedEmail]:
        return state.list_emails()

    @router.get("/sandbox/knobs")
    async def get_knobs() -> SandboxKnobs:
        return state.knobs

    @router.put("/sandbox/knobs")
    async def set_knobs(knobs: SandboxKnobs) -> SandboxKnobs:
        for name, value in knobs.model_dump().items():
            setattr(state.knobs, name, value)
        return state.knobs

    @router.post("/sandbox/reset", status_code=204)
    async def reset() -> None:
        state.reset()

    return router


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def _answer(stored: StoredResponse) -> Response:
    headers = {REPLAY_HEADER: "true"} if stored.replayed else {}
    return JSONResponse(stored.body, status_code=stored.status, headers=headers)


def _error(status: int, kind: str, code: str, message: str) -> Response:
    """A Stripe-shaped error body, which `JsonApi` reads back into the exception message."""
    return JSONResponse({"error": {"type": kind, "code": code, "message": message}}, status)
