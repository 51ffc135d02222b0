"""What a gateway event means for an invoice, whichever gateway sent it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

from cobranza.domain.charges import PaymentMethod
from cobranza.domain.declines import Decline
from cobranza.domain.invoice import invoice_workflow_id
from cobranza.domain.money import Money


class EventAction(StrEnum):
    """What the ingress does with an event."""

    PAYMENT_RECEIVED = "payment_received"  # signal: money arrived
    PAYMENT_FAILED = "payment_failed"  # signal: an attempt failed (stale ones change nothing)
    DISPUTE = "dispute"  # the invoice's dispute support action
    REFUND = "refund"  # money went back: a person decides what the invoice owes now
    IGNORE = "ignore"  # an event type we accept and do not act on
    # Our own autopay charge that was `processing` settled (L-05): signal payment_settled.
    PAYMENT_SETTLED = "payment_settled"
    # A customer put a payment method on file (L-06): their open autopay invoices charge at once.
    METHOD_ADDED = "method_added"


class InvoiceRef(BaseModel):
    """How an event names its invoice: a workflow id, or tenant and invoice id."""

    workflow_id: str | None = None
    tenant: str | None = None
    invoice_id: str | None = None

    def resolve(self, default_tenant: str) -> str | None:
        if self.workflow_id:
            return self.workflow_id
        if self.invoice_id:
            return invoice_workflow_id(self.tenant or default_tenant, self.invoice_id)
        return None


class GatewayEvent(BaseModel):
    """One verified gateway event, reduced to what the invoice workflow needs."""

    provider: str
    event_id: str = Field(min_length=1)
    event_type: str
    action: EventAction
    invoice: InvoiceRef = Field(default_factory=InvoiceRef)
    # The gateway's payment (or attempt) id, prefixed by provider: re-deliveries and sibling
    # events of one payment (payment_intent.succeeded, charge.succeeded) carry the same one.
    payment_id: str | None = None
    refs: list[str] = Field(
        default_factory=list, description="Gateway object ids that lead to the same invoice."
    )
    amount: Money | None = None
    happened_at: datetime
    method: str = "card"
    reason: str = ""
    succeeded: bool | None = Field(default=None, description="payment_settled: which way")
    decline: Decline | None = Field(default=None, description="payment_settled: why it failed")
    customer_id: str | None = Field(
        default=None, description="whose money (metadata customer_id); method_added: whose method"
    )
    payment_method: PaymentMethod | None = Field(default=None, description="method_added")

    @field_validator("happened_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("happened_at must carry a UTC offset")
        return value

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.event_id}"
