"""What a simulation runs on: invoices, dated events against them, a policy and a horizon."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cobranza.domain.charges import PaymentMethodAdded, PaymentSettled
from cobranza.domain.invoice import (
    CancelRequest,
    DisputeRequest,
    DisputeResolution,
    Invoice,
    PauseRequest,
    PaymentFailed,
    PaymentReceived,
    PromiseRequest,
    ResumeRequest,
    WriteOffRequest,
)
from cobranza.domain.policy import Policy
from cobranza.starter.input_errors import InputError


class EventKind(StrEnum):
    PAYMENT = "payment"
    # The gateway reports a failed attempt, possibly late and stale (L-07).
    PAYMENT_FAILED = "payment_failed"
    PAUSE = "pause"
    RESUME = "resume"
    PROMISE = "promise"
    DISPUTE = "dispute"
    RESOLVE_DISPUTE = "resolve_dispute"
    CANCEL = "cancel"
    WRITE_OFF = "write_off"
    # The backend starts collection for the same invoice again (L-10); no payload.
    RESUBMIT = "resubmit"
    # Autopay: a processing charge settles (L-05), the customer adds a method (L-06).
    PAYMENT_SETTLED = "payment_settled"
    METHOD_ADDED = "payment_method_added"


EventPayload = (
    PaymentReceived
    | PaymentFailed
    | PauseRequest
    | ResumeRequest
    | PromiseRequest
    | DisputeRequest
    | DisputeResolution
    | CancelRequest
    | WriteOffRequest
    | PaymentSettled
    | PaymentMethodAdded
)

PAYLOAD_TYPES: dict[EventKind, type[EventPayload] | None] = {
    EventKind.PAYMENT: PaymentReceived,
    EventKind.PAYMENT_FAILED: PaymentFailed,
    EventKind.PAUSE: PauseRequest,
    EventKind.RESUME: ResumeRequest,
    EventKind.PROMISE: PromiseRequest,
    EventKind.DISPUTE: DisputeRequest,
    EventKind.RESOLVE_DISPUTE: DisputeResolution,
    EventKind.CANCEL: CancelRequest,
    EventKind.WRITE_OFF: WriteOffRequest,
    EventKind.RESUBMIT: None,
    EventKind.PAYMENT_SETTLED: PaymentSettled,
    EventKind.METHOD_ADDED: PaymentMethodAdded,
}


class ScheduledEvent(BaseModel):
    """Something that happens to one invoice at an instant, and where in the input it came from."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    invoice_id: str = Field(min_length=1)
    kind: EventKind
    payload: EventPayload | None = None
    source: str = Field(description="file:line the event was read from")

    @model_validator(mode="before")
    @classmethod
    def _payload_by_kind(cls, data: Any) -> Any:
        # Several payloads share Actor's shape, so from JSON the union alone would pick the
        # first that fits (a resume read back as a pause); the kind says which one it is.
        if isinstance(data, dict) and isinstance(data.get("payload"), dict):
            payload_type = PAYLOAD_TYPES.get(EventKind(data["kind"])) if "kind" in data else None
            if payload_type is not None:
                data = {**data, "payload": payload_type.model_validate(data["payload"])}
        return data

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("an event time must carry a UTC offset")
        return value

    @model_validator(mode="after")
    def _payload_fits_kind(self) -> ScheduledEvent:
        expected = PAYLOAD_TYPES[self.kind]
        # Exact type: ResumeRequest and CancelRequest share Actor's shape, so isinstance is too lax.
        if (expected is None and self.payload is not None) or (
            expected is not None and type(self.payload) is not expected
        ):
            wanted = expected.__name__ if expected else "no payload"
            raise ValueError(
                f"a {self.kind} event carries {wanted}, got {type(self.payload).__name__}"
            )
        return self


class SimulationInput(BaseModel):
    """Everything a simulation needs, plus every fault found while reading it."""

    name: str
    invoices: list[Invoice] = Field(default_factory=list)
    events: list[ScheduledEvent] = Field(default_factory=list)
    policy: Policy | None = None
    until: datetime | None = None
    errors: list[InputError] = Field(default_factory=list)

    @field_validator("events")
    @classmethod
    def _in_time_order(cls, value: list[ScheduledEvent]) -> list[ScheduledEvent]:
        # sorted() is stable, so events at the same instant keep the order they were written in.
        return sorted(value, key=lambda e: e.at)

    def first(self, limit: int | None) -> SimulationInput:
        """The first `limit` invoices and their events; all of them when limit is None."""
        if limit is None:
            return self
        kept = {i.invoice_id for i in self.invoices[:limit]}
        return self.model_copy(
            update={
                "invoices": self.invoices[:limit],
                "events": [e for e in self.events if e.invoice_id in kept],
            }
        )

    @field_validator("until")
    @classmethod
    def _until_aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("until must carry a UTC offset")
        return value
