"""The interfaces activities call to reach the outside world; adapters and sandboxes fit them."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from cobranza.domain.charges import ChargeOutcome, ChargeRequest, PaymentMethod
from cobranza.domain.effects import PaymentLink
from cobranza.domain.invoice import Channel, Invoice, InvoiceStatus
from cobranza.domain.local_methods import PaymentReference
from cobranza.domain.money import Money

CrmTaskKind = Literal["collector_call", "dispute", "promise", "broken_promise", "unmatched_payment"]
ErpPostingKind = Literal["issued", "payment", "status", "credit_note"]


class OutboundMessage(BaseModel):
    """A rendered message ready to leave; `dedupe_key` lets the provider side spot a resend."""

    model_config = ConfigDict(frozen=True)

    dedupe_key: str = Field(min_length=1)
    channel: Channel = Channel.EMAIL
    to: str = Field(min_length=1)
    subject: str = ""
    text: str
    html: str | None = None


class SentMessage(BaseModel):
    """The provider's acknowledgement of one message."""

    model_config = ConfigDict(frozen=True)

    provider_message_id: str
    address: str


class Messenger(Protocol):
    async def send(self, message: OutboundMessage) -> SentMessage:
        """Hand the message to the provider; raises Transient/PermanentIntegrationError."""
        ...


class PaymentGateway(Protocol):
    async def create_payment_link(
        self, invoice_id: str, customer_id: str, amount: Money, idempotency_key: str
    ) -> PaymentLink:
        """A hosted page where the customer pays `amount`; one link per idempotency key."""
        ...


class ChargeGateway(Protocol):
    """Charges a method on file; the payment-link side is `PaymentGateway`."""

    async def charge(self, request: ChargeRequest) -> ChargeOutcome:
        """One attempt under `request.idempotency_key`; a decline is an outcome, not an error."""
        ...

    async def payment_methods(self, customer_id: str) -> list[PaymentMethod]:
        """The customer's methods on file, newest first."""
        ...

    async def attach_payment_method(
        self, customer_id: str, method_id: str, idempotency_key: str
    ) -> PaymentMethod:
        """Put a method on the customer's file."""
        ...

    def payment_reference(self, invoice: Invoice) -> PaymentReference | None:
        """A local bank-transfer reference (CLABE, PIX, PSE) for the invoice, if any."""
        ...


class Crm(Protocol):
    async def create_task(
        self,
        idempotency_key: str,
        customer_id: str,
        invoice_id: str,
        kind: CrmTaskKind,
        title: str,
        body: str = "",
    ) -> str:
        """Open a task for a person (collector, support) and return its id."""
        ...


class Erp(Protocol):
    async def post(
        self,
        idempotency_key: str,
        invoice_id: str,
        customer_id: str,
        kind: ErpPostingKind,
        status: InvoiceStatus,
        amount: Money | None,
        payment_id: str | None,
        outstanding: Money,
    ) -> str:
        """Post an invoice event or a payment to the ledger and return the posting id."""
        ...
