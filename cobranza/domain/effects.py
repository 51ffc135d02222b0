"""Typed inputs and outputs of activities: what the workflow asks of the outside world."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cobranza.domain.invoice import (
    Channel,
    Customer,
    Invoice,
    InvoiceStatus,
    PaymentReceived,
    TimelineEntry,
)
from cobranza.domain.money import Money


class InvoiceSnapshot(BaseModel):
    """The read-model row of one invoice as the workflow sees it at an instant."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    tenant: str
    invoice_id: str
    customer_id: str
    # The name the customer is known by: reconciliation takes it as a payer's name. None for
    # snapshots written before it was carried.
    customer_name: str | None = None
    country: str
    currency: str
    amount_minor: int
    paid_minor: int
    credited_minor: int = 0
    written_off_minor: int = 0
    status: InvoiceStatus
    dunning_level: int
    issued_on: date
    due_on: date
    closed_at: datetime | None = None
    # Midnight after the due date where the customer lives; None for rows written before it.
    overdue_from: datetime | None = None
    policy_ref: str
    reminders_sent: int = 0
    disputed: bool = False
    updated_at: datetime

    @property
    def outstanding_minor(self) -> int:
        return self.amount_minor - self.paid_minor - self.credited_minor - self.written_off_minor


class SequencedEntry(BaseModel):
    """A timeline entry with its per-invoice sequence number: the natural key for upserts."""

    seq: int
    entry: TimelineEntry


class Recording(BaseModel):
    """What an effect activity also writes to the store in the same call."""

    snapshot: InvoiceSnapshot
    entries: list[SequencedEntry] = Field(default_factory=list)


class LineItem(BaseModel):
    """One invoice listed in a message: its own outstanding amount, what was received and what
    credit notes took off it."""

    invoice_id: str
    amount: Money
    outstanding: Money
    paid: Money
    credited: Money | None = None  # None: no credit note (or a message asked for before them)
    due_on: date
    days_overdue: int = 0
    payment_link: str | None = None


class ContactEvidence(BaseModel):
    """Why a message went when it did: the law applied, the rules that moved it, the grant."""

    rule_set: str | None = Field(
        default=None, description="compliance profile and version, e.g. 'BR-SP@v1'; None: none"
    )
    rules: list[str] = Field(default_factory=list, description="ids of the rules that moved it")
    due_at: datetime | None = Field(default=None, description="when the policy wanted it out")
    granted_at: datetime = Field(description="the first lawful instant it was granted")


class MessageRequest(BaseModel):
    dedupe_key: str
    customer: Customer
    channel: Channel
    template: str
    items: list[LineItem]
    step: str
    scheduled_at: datetime
    recording: Recording
    evidence: ContactEvidence | None = None
    send_within: timedelta | None = Field(
        default=None,
        description="how long after scheduled_at the contact may still go out (the law was "
        "checked for scheduled_at; retries against a provider that is down must not carry it "
        "into another hour); None: no bound, as for lifecycles started before it existed",
    )


class MessageReceipt(BaseModel):
    dedupe_key: str
    provider_message_id: str
    address: str
    sent_at: datetime
    content_sha256: str
    duplicate: bool = False


class PaymentLinkRequest(BaseModel):
    invoice: Invoice
    idempotency_key: str
    recording: Recording


class PaymentLink(BaseModel):
    url: str
    link_id: str


class CrmTaskRequest(BaseModel):
    idempotency_key: str
    customer: Customer
    invoice_id: str
    kind: Literal["collector_call", "dispute", "promise", "broken_promise"]
    title: str
    body: str = ""
    recording: Recording


class CrmTaskReceipt(BaseModel):
    task_id: str
    duplicate: bool = False


class ErpPosting(BaseModel):
    """An invoice status change, a payment or a credit note posted to the ERP, once per
    idempotency key; `amount` is the payment's or the credit note's."""

    idempotency_key: str
    invoice_id: str
    customer_id: str
    kind: Literal["issued", "payment", "status", "credit_note"]
    status: InvoiceStatus
    amount: Money | None = None
    payment_id: str | None = None
    outstanding: Money
    payment: PaymentReceived | None = None
    recording: Recording


class ErpReceipt(BaseModel):
    posting_id: str
    duplicate: bool = False
