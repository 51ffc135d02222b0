"""What the sandbox emulators received, plus the knobs and the idempotency memory, thread-safe."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cobranza.domain.invoice import InvoiceStatus
from cobranza.domain.money import Money
from cobranza.integrations.protocols import CrmTaskKind, ErpPostingKind


class SandboxKnobs(BaseModel):
    """Fault injection, changeable while the sandbox runs (from a test or `PUT /sandbox/knobs`)."""

    model_config = ConfigDict(validate_assignment=True)

    latency_ms: int = Field(default=0, ge=0, le=60_000)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="share of HTTP calls → 503")
    smtp_error_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="share of mails → 451")
    smtp_latency_ms: int = Field(
        default=0, ge=0, le=60_000, description="extra delay before the sink accepts a mail"
    )


class PaymentLinkRecord(BaseModel):
    id: str
    url: str
    invoice_id: str
    customer_id: str
    amount: Money
    idempotency_key: str | None


class CrmTaskRecord(BaseModel):
    id: str
    customer_id: str
    invoice_id: str
    kind: CrmTaskKind
    title: str
    body: str
    idempotency_key: str | None
    created_at: datetime


class ErpPostingRecord(BaseModel):
    id: str
    invoice_id: str
    customer_id: str
    kind: ErpPostingKind
    status: InvoiceStatus
    amount: Money | None
    payment_id: str | None
    outstanding: Money
    idempotency_key: str | None
    created_at: datetime


class ReceivedEmail(BaseModel):
    """One message the SMTP sink accepted, parsed; `resend` marks a Message-ID seen before."""

    mail_from: str
    rcpt_tos: list[str]
    to: str
    subject: str
    message_id: str
    text: str | None
    html: str | None
    received_at: datetime
    resend: bool = False


class TextMessageRecord(BaseModel):
    """One SMS or WhatsApp message the provider emulator accepted, with its latest status."""

    sid: str
    account_sid: str
    channel: Literal["sms", "whatsapp"]
    to: str
    from_: str
    body: str
    status_callback: str | None
    idempotency_token: str | None
    status: str = "queued"
    error_code: int | None = None
    created_at: datetime
    callbacks: list[str] = Field(
        default_factory=list, description="'<status> -> <HTTP answer or error>' per callback"
    )


class DeliveryReport(BaseModel):
    """A delivery status callback as the receiver got it: provider message id and status."""

    message_sid: str
    status: str
    error_code: int | None
    to: str
    received_at: datetime


class IdempotencyConflictError(Exception):
    """Same key, different request body: the caller has a bug, so the sandbox refuses (409)."""


class StoredResponse(BaseModel):
    status: int
    body: dict[str, Any]
    replayed: bool = False


class SandboxState:
    """Everything the emulators keep in memory; shared by the HTTP thread, SMTP thread and tests."""

    def __init__(self, knobs: SandboxKnobs, seed: int | None = None) -> None:
        self.knobs = knobs
        self._seed = seed
        # Reentrant: a `create` callback appends records while the idempotency check holds it.
        self._lock = threading.RLock()
        # Notified when a delivery moves on, so waiters wake at once instead of polling.
        self._delivery_moved = threading.Condition(self._lock)
        self._on_reset: list[Callable[[], None]] = []
        self.reset()

    def on_reset(self, forget: Callable[[], None]) -> None:
        """Call `forget` on every reset: emulators that keep their own records (the gateway)."""
        with self._lock:
            self._on_reset.append(forget)

    def reset(self) -> None:
        with self._lock:
            # Two generators so that injected faults do not shift the ids, and vice versa.
            self._faults = random.Random(self._seed)
            self._ids = random.Random(None if self._seed is None else self._seed + 1)
            self._responses: dict[tuple[str, str], tuple[str, StoredResponse]] = {}
            self.payment_links: list[PaymentLinkRecord] = []
            self.tasks: list[CrmTaskRecord] = []
            self.postings: list[ErpPostingRecord] = []
            self.emails: list[ReceivedEmail] = []
            self.text_messages: list[TextMessageRecord] = []
            self.delivery_reports: list[DeliveryReport] = []
            self._deliveries_running = 0
            for forget in self._on_reset:
                forget()
            self._delivery_moved.notify_all()

    def new_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}_{self._ids.getrandbits(64):016x}"

    def new_sid(self, prefix: str) -> str:
        """A Twilio-shaped id: two letters and 32 hex digits."""
        with self._lock:
            return f"{prefix}{self._ids.getrandbits(128):032x}"

    def inject_fault(self, rate: float) -> bool:
        if rate <= 0.0:
            return False
        with self._lock:
            return self._faults.random() < rate

    def idempotent(
        self,
        scope: str,
        key: str | None,
        request: dict[str, Any],
        create: Callable[[], StoredResponse],
    ) -> StoredResponse:
        """Run `create` once per (scope, key); later calls with the same body get its answer back.

        As with Stripe, the key is bound to the request it first came with: the same key with a
        different body raises `IdempotencyConflictError` instead of being silently replayed.
        """
        fingerprint = hashlib.sha256(
            json.dumps(request, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        with self._lock:
            if key is None:
                return create()
            stored = self._responses.get((scope, key))
            if stored is None:
                response = create()
                self._responses[(scope, key)] = (fingerprint, response)
                return response
            first_fingerprint, response = stored
            if first_fingerprint != fingerprint:
                raise IdempotencyConflictError(
                    f"Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Key {key!r} was first used on {scope} with a "
                    f"different request body."
                )
            return response.model_copy(update={"replayed": True})

    def add_email(self, email: ReceivedEmail) -> ReceivedEmail:
        with self._lock:
            seen = any(e.message_id == email.message_id for e in self.emails)
            recorded = email.model_copy(update={"resend": seen})
            self.emails.append(recorded)
            return recorded

    def add_text_message(self, record: TextMessageRecord) -> None:
        with self._lock:
            self.text_messages.append(record)

    def set_text_status(self, sid: str, status: str, error_code: int | None) -> None:
        self._update_text(sid, lambda r: {"status": status, "error_code": error_code})

    def note_callback(self, sid: str, outcome: str) -> None:
        self._update_text(sid, lambda r: {"callbacks": [*r.callbacks, outcome]})

    def _update_text(
        self, sid: str, changes: Callable[[TextMessageRecord], dict[str, Any]]
    ) -> None:
        with self._lock:
            for i, record in enumerate(self.text_messages):
                if record.sid == sid:
                    self.text_messages[i] = record.model_copy(update=changes(record))

    def delivery_started(self) -> None:
        with self._lock:
            self._deliveries_running += 1

    def delivery_finished(self) -> None:
        with self._lock:
            self._deliveries_running = max(0, self._deliveries_running - 1)
            self._delivery_moved.notify_all()

    def deliveries_running(self) -> int:
        with self._lock:
            return self._deliveries_running

    def add_delivery_report(self, report: DeliveryReport) -> None:
        with self._lock:
            self.delivery_reports.append(report)
            self._delivery_moved.notify_all()

    def wait_for_deliveries(self, done: Callable[[], bool], timeout: float) -> bool:
        """Block until `done()` holds, checked whenever a status callback arrives or a delivery
        finishes; False if `timeout` seconds pass first."""
        with self._delivery_moved:
            return self._delivery_moved.wait_for(done, timeout)

    def list_text_messages(self) -> list[TextMessageRecord]:
        with self._lock:
            return list(self.text_messages)

    def list_delivery_reports(self) -> list[DeliveryReport]:
        with self._lock:
            return list(self.delivery_reports)

    def list_payment_links(self) -> list[PaymentLinkRecord]:
        with self._lock:
            return list(self.payment_links)

    def list_tasks(self) -> list[CrmTaskRecord]:
        with self._lock:
            return list(self.tasks)

    def list_postings(self) -> list[ErpPostingRecord]:
        with self._lock:
            return list(self.postings)

    def list_emails(self) -> list[ReceivedEmail]:
        with self._lock:
            return list(self.emails)
