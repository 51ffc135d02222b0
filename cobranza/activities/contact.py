"""Activities that book, claim and release contact slots at the customer's gate workflow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from cobranza.activities import names
from cobranza.domain.contact_gate import Claim, Grant
from cobranza.domain.gate_calls import GateClaimCall, GateRequestCall, GateWithdrawCall
from cobranza.workflows.contact_gate import (
    ClaimRequest,
    ContactGateWorkflow,
    GateInput,
    gate_workflow_id,
)


@dataclass
class ContactActivities:
    """Updates on the gate go through a client: workflows cannot update one another directly."""

    client: Client

    def all(self) -> list[Callable[..., Any]]:
        return [self.request_contact, self.claim_contact, self.withdraw_contact]

    @activity.defn(name=names.REQUEST_CONTACT)
    async def request_contact(self, call: GateRequestCall) -> Grant:
        # Update-with-start: the first contact of a customer starts its gate; the request
        # is idempotent per (invoice, step), so a retry gets the same slot back.
        start = WithStartWorkflowOperation(
            ContactGateWorkflow.run,
            GateInput(customer=call.customer, profile=call.profile),
            id=gate_workflow_id(call.customer),
            task_queue=call.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Contact gate of customer {call.customer.customer_id}",
        )
        return await self.client.execute_update_with_start_workflow(
            ContactGateWorkflow.request_contact, call.request, start_workflow_operation=start
        )

    @activity.defn(name=names.CLAIM_CONTACT)
    async def claim_contact(self, call: GateClaimCall) -> Claim:
        handle = self.client.get_workflow_handle_for(
            ContactGateWorkflow.run, gate_workflow_id(call.customer)
        )
        return await handle.execute_update(
            ContactGateWorkflow.claim_slot,
            ClaimRequest(slot_id=call.slot_id, workflow_id=call.workflow_id),
        )

    @activity.defn(name=names.WITHDRAW_CONTACT)
    async def withdraw_contact(self, call: GateWithdrawCall) -> None:
        handle = self.client.get_workflow_handle_for(
            ContactGateWorkflow.run, gate_workflow_id(call.customer)
        )
        await handle.execute_update(ContactGateWorkflow.withdraw, call.withdrawal)
