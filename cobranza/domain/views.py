"""What a workflow tells its callers: the status view, the final result, the lifecycle input."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from cobranza.domain.autopay import AutopaySetup
from cobranza.domain.compliance_profile import ComplianceProfile
from cobranza.domain.effects import InvoiceSnapshot
from cobranza.domain.invoice import Invoice, InvoiceStatus, TimelineEntry
from cobranza.domain.lifecycle import CollectionState
from cobranza.domain.policy import Policy
from cobranza.domain.segmentation import PolicyChoice


class CollectionInput(BaseModel):
    """The one input of InvoiceCollectionWorkflow; new fields get defaults so old runs load."""

    invoice: Invoice
    policy: Policy
    policy_choice: PolicyChoice | None = Field(
        default=None, description="The segmentation rule that chose the policy, and why."
    )
    clock_offset: timedelta = Field(
        default=timedelta(0),
        description=(
            "How far the server's clock runs ahead of the invoice's own timeline. Zero in "
            "production; a replay of past payment history (cobranza simulate) sets it so "
            "dates stay the dataset's."
        ),
    )
    compliance: ComplianceProfile | None = Field(
        default=None,
        description="Contact rules of the customer's country, pinned when the lifecycle starts.",
    )
    # On by default: every message of a lifecycle is booked at the customer's gate. The
    # dataset replay turns it off for speed (ADR 3); `cobranza simulate --contact-gate` on.
    contact_gate: bool = Field(
        default=True,
        description="Book each message at the customer's contact gate (caps, consolidation).",
    )
    autopay: AutopaySetup | None = Field(
        default=None,
        description=(
            "On autopay: the method on file (or none) and the retry rules. The invoice is "
            "charged at the due instant and whenever a new method is added."
        ),
    )
    state: CollectionState | None = None
    task_queue: str = "cobranza"


class NextAction(BaseModel):
    action: str
    at: datetime | None
    reason: str


class InvoiceView(BaseModel):
    """Answer to the status query and to every support update."""

    invoice_id: str
    customer_id: str
    status: InvoiceStatus
    currency: str
    amount: str
    paid: str
    credited: str
    written_off: str
    outstanding: str
    dunning_level: int
    policy: str
    policy_reason: str | None = None
    next_action: NextAction
    payment_ids: list[str]
    promise_date: str | None = None
    disputed: bool = False
    autopay: str | None = Field(default=None, description="latest charge and what is next")
    as_of: datetime


class CollectionResult(BaseModel):
    view: InvoiceView
    snapshot: InvoiceSnapshot
    timeline: list[TimelineEntry]
