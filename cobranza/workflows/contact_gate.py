"""ContactGateWorkflow: one per customer; every contact with that person is booked through it."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from cobranza.domain.compliance_profile import ComplianceProfile
    from cobranza.domain.contact_gate import (
        Claim,
        ContactRequest,
        GateLedger,
        Grant,
        Withdrawal,
    )
    from cobranza.domain.invoice import Customer

# Continue-as-new well before the server's limits; the ledger prunes old slots itself.
HISTORY_BUDGET = 2_000


class GateInput(BaseModel):
    customer: Customer
    profile: ComplianceProfile | None = None
    ledger: GateLedger | None = None


class ClaimRequest(BaseModel):
    slot_id: str
    workflow_id: str


def gate_workflow_id(customer: Customer) -> str:
    return f"customer-{customer.tenant}-{customer.customer_id}"


@workflow.defn(name="ContactGateWorkflow")
class ContactGateWorkflow:
    """Serialises a customer's contact requests: caps hold however many invoices ask at once."""

    @workflow.init
    def __init__(self, input: GateInput) -> None:
        self._input = input
        self._ledger = input.ledger or GateLedger(customer=input.customer, profile=input.profile)

    @workflow.run
    async def run(self, input: GateInput) -> None:
        workflow.set_current_details(f"Contact gate of customer {input.customer.customer_id}")
        await workflow.wait_condition(self._history_long)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._input.model_copy(update={"ledger": self._ledger}))

    def _history_long(self) -> bool:
        info = workflow.info()
        too_long = info.get_current_history_length() > HISTORY_BUDGET
        return info.is_continue_as_new_suggested() or too_long

    @workflow.update
    def request_contact(self, req: ContactRequest) -> Grant:
        # The ledger works on the business instants the invoices send; with the holidays
        # package reading translations through gettext, the sandbox must step aside here.
        with workflow.unsafe.sandbox_unrestricted():
            return self._ledger.request(req)

    @workflow.update
    def claim_slot(self, req: ClaimRequest) -> Claim:
        return self._ledger.claim(req.slot_id, req.workflow_id)

    @workflow.update
    def withdraw(self, w: Withdrawal) -> None:
        self._ledger.withdraw(w)

    @workflow.query
    def ledger(self) -> GateLedger:
        return self._ledger
