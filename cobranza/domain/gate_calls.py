"""Typed inputs of the activities that reach a customer's contact gate."""

from __future__ import annotations

from pydantic import BaseModel

from cobranza.domain.compliance_profile import ComplianceProfile
from cobranza.domain.contact_gate import ContactRequest, Withdrawal
from cobranza.domain.invoice import Customer


class GateRequestCall(BaseModel):
    """Ask for a slot, starting the customer's gate if it is not running yet."""

    customer: Customer
    profile: ComplianceProfile | None
    request: ContactRequest
    task_queue: str


class GateClaimCall(BaseModel):
    customer: Customer
    slot_id: str
    workflow_id: str


class GateWithdrawCall(BaseModel):
    customer: Customer
    withdrawal: Withdrawal
