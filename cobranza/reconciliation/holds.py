"""Reconciliation's holds: a payer's open invoices paused while their money waits for a person.

Used by `cobranza reconcile` (statement exceptions) and the webhook ingress (webhook
exceptions); lifted by resolving the exception (exception_resolution.release_customer).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from cobranza.domain.invoice import InvoiceStatus, PauseRequest
from cobranza.store import money_in, money_in_holds
from cobranza.store.money_in import MoneyInExceptionRow
from cobranza.store.store import Store
from cobranza.workflows.invoice import InvoiceCollectionWorkflow

ACTOR = "reconciliation"


def open_invoices_of(store: Store, tenant: str, customer_id: str) -> list[str]:
    """Workflow ids of the customer's invoices the store does not show closed."""
    return [
        s.workflow_id
        for s in store.invoices(tenant)
        if s.customer_id == customer_id and not s.status.is_closed
    ]


async def hold_customer(store: Store, client: Client, row: MoneyInExceptionRow) -> list[str]:
    """Pause the customer's open invoices while their money waits for a person; the paused.

    Each invoice decided is recorded (money_in_holds), so calling again for the same open
    exception holds only what an earlier call left: an invoice a person resumed meanwhile stays
    resumed. A resolved exception holds nothing. A workflow-service fault (unavailable, timed
    out) propagates with the invoices not yet decided left for the next call.
    """
    if row.id is None or row.customer_id is None or row.tenant is None:
        return []
    if row.status != money_in.EXCEPTION_OPEN:
        return []
    if await asyncio.to_thread(money_in_holds.finished, store, [row.id]):
        return []
    done = await asyncio.to_thread(money_in_holds.decided, store, row.id)
    reason = f"unmatched money in exception {row.id}: {row.reason}"[:500]
    held = []
    for workflow_id in await asyncio.to_thread(
        open_invoices_of, store, row.tenant, row.customer_id
    ):
        if workflow_id in done:
            continue
        outcome = await _pause(client.get_workflow_handle(workflow_id), reason)
        await asyncio.to_thread(money_in_holds.record_decision, store, row.id, workflow_id, outcome)
        if outcome == money_in_holds.PAUSED:
            held.append(workflow_id)
    await asyncio.to_thread(money_in_holds.finish, store, row.id)
    return held


async def _pause(handle: WorkflowHandle[Any, Any], reason: str) -> str:
    """Pause one invoice for reconciliation, unless it is paused already or cannot be."""
    try:
        # Asked of the workflow, not the store: a pause is recorded there only with the
        # next activity. A pause already in place stays its owner's, until date and all.
        view = await handle.query(InvoiceCollectionWorkflow.status)
        if view.status is InvoiceStatus.PAUSED:
            return money_in_holds.ALREADY_PAUSED
        await handle.execute_update(
            InvoiceCollectionWorkflow.pause, PauseRequest(actor=ACTOR, reason=reason)
        )
    except WorkflowUpdateFailedError:
        # The validator refused: closed, disputed or promised, so it sends no reminders anyway.
        return money_in_holds.NOT_PAUSABLE
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise  # the service failed, not the invoice: the hold must be tried again
        return money_in_holds.NOT_PAUSABLE  # no such workflow, or it completed meanwhile
    return money_in_holds.PAUSED


async def hold_pending(
    store: Store, client: Client, source_prefix: str
) -> tuple[list[str], list[str]]:
    """Hold the payers of open exceptions from `source_prefix` not fully held yet: those just
    queued, and those an earlier run could not finish. (invoices paused, errors)"""
    rows = await asyncio.to_thread(money_in.exceptions, store, status=money_in.EXCEPTION_OPEN)
    held, errors = [], []
    for row in rows:
        if not row.source.startswith(source_prefix):
            continue
        try:
            held.extend(await hold_customer(store, client, row))
        except RPCError as exc:
            errors.append(
                f"exception {row.id}: payer not held yet (workflow service: {exc.message}); "
                "the next run holds it"
            )
    return held, errors
