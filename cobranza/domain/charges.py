"""What a workflow asks of the payment gateway when it charges a method on file, and the answer.

The contract between the collection workflow (which decides when to charge) and the
`charge_invoice` activity (which talks to the gateway). A decline is data, never an
exception: the workflow decides what comes next from its category (`domain/card_retries`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cobranza.domain.declines import CardNetwork, Decline
from cobranza.domain.money import Money


def charge_idempotency_key(workflow_id: str, attempt: int) -> str:
    """One key per invoice and attempt: a retried or replayed activity never charges twice."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    return f"{workflow_id}/charge/{attempt}"


class PaymentMethod(BaseModel):
    """A method on file at the gateway: enough to charge it and to apply network rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method_id: str = Field(min_length=1, description="the gateway's id of the method")
    fingerprint: str = Field(min_length=1, description="stable card or account fingerprint")
    network: CardNetwork = CardNetwork.OTHER
    kind: str = Field(default="card", description="card, bank_debit, ...")


class ChargeRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    workflow_id: str = Field(min_length=1)
    tenant: str
    invoice_id: str
    customer_id: str
    attempt: int = Field(ge=1, description="1 for the first charge of this invoice")
    amount: Money
    method: PaymentMethod | None = Field(
        default=None, description="None: charge the customer's default method, if any"
    )

    @property
    def idempotency_key(self) -> str:
        return charge_idempotency_key(self.workflow_id, self.attempt)


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    PROCESSING = "processing"  # a bank debit that settles later: wait, never retry
    NO_PAYMENT_METHOD = "no_payment_method"


class ChargeOutcome(BaseModel):
    """The gateway's answer to one attempt, as recorded in the workflow's history."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempt: int = Field(ge=1)
    idempotency_key: str
    status: ChargeStatus
    payment_id: str | None = Field(default=None, description="the gateway's payment intent id")
    method: PaymentMethod | None = None
    decline: Decline | None = None
    at: AwareDatetime = Field(description="when the gateway answered")

    @model_validator(mode="after")
    def _consistent(self) -> ChargeOutcome:
        if self.status is ChargeStatus.DECLINED and self.decline is None:
            raise ValueError("a declined charge carries its decline codes")
        if self.status in (ChargeStatus.SUCCEEDED, ChargeStatus.PROCESSING) and not self.payment_id:
            raise ValueError(f"a {self.status.value} charge carries the gateway's payment_id")
        return self


class PaymentMethodAdded(BaseModel):
    """Signal: the customer put a new method on file (gateway event or API); charge at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: PaymentMethod
    added_at: datetime


class PaymentSettled(BaseModel):
    """Signal: a charge that was `processing` settled, one way or the other."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    payment_id: str = Field(min_length=1)
    succeeded: bool
    settled_at: datetime
    decline: Decline | None = None
