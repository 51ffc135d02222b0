"""Reconciliation's holds: a payer's open invoices paused while their money waits, then lifted.

Used by `cobranza reconcile` (statement exceptions) and the webhook ingress (webhook
exceptions); lifted by resolving the exception (exception_resolution.resolve), and, when the
workflow service failed during that, by the next reconcile run or resolution (release_owed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from cobranza.domain.invoice import (
    InvoiceStatus,
    PauseRequest,
    ResumeRequest,
    TimelineEntry,
    TimelineKind,
)
from cobranza.domain.lifecycle import ALREADY_PAUSED_REFUSAL
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
    # The workflow's validator decides "paused already", not a query before the update: a
    # person pausing in between would otherwise be paused over, their pause then ours to lift.
    request = PauseRequest(actor=ACTOR, reason=reason, only_if_not_paused=True)
    try:
        await handle.execute_update(InvoiceCollectionWorkflow.pause, request)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.message == ALREADY_PAUSED_REFUSAL:
            return money_in_holds.ALREADY_PAUSED  # someone else holds it: not ours
        # Closed, disputed or promised: it sends no reminders anyway.
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
    queued, and those an earlier run could not finish; then lift the releases still owed.
    (invoices paused, errors)"""
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
    errors.extend((await release_owed(store, client)).errors)
    return held, errors


# ---- releases ------------------------------------------------------------------------------


@dataclass
class Release:
    """What lifting reconciliation's holds did: invoices resumed, those kept paused because
    someone else paused them, and the faults that left a release owed."""

    resumed: list[str] = field(default_factory=list)
    kept_paused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def extend(self, other: Release) -> None:
        self.resumed.extend(other.resumed)
        self.kept_paused.extend(other.kept_paused)
        self.errors.extend(other.errors)


def last_pause(timeline: Sequence[TimelineEntry]) -> str | None:
    """The reason written when the invoice last became paused ("paused by <actor> ...")."""
    for entry in reversed(timeline):
        if entry.kind is TimelineKind.STATE_CHANGE and entry.details.get("to") == "paused":
            return str(entry.details.get("reason", ""))
    return None


def paused_by_reconciliation(reason: str | None) -> bool:
    """True for the reason lifecycle.pause writes for actor ACTOR: "paused by <actor> until"."""
    return reason is not None and reason.startswith(
        (f"paused by {ACTOR} until ", f"paused by {ACTOR}:")
    )


async def release_customer(
    store: Store, client: Client, tenant: str | None, customer_id: str | None, why: str
) -> Release:
    """Resume the invoices reconciliation paused once none of the customer's money waits.

    The release is recorded as owed before anything is asked of the workflow service and
    cleared only once every invoice was decided, so a service fault (or a crash) part way
    leaves it for release_owed; each fault is named in `errors`.
    """
    done = Release()
    if customer_id is None or tenant is None:
        return done
    await asyncio.to_thread(money_in_holds.owe_release, store, tenant, customer_id, why)
    still_open = await asyncio.to_thread(
        money_in.exceptions, store, status=money_in.EXCEPTION_OPEN, customer_id=customer_id
    )
    if not any(r.tenant == tenant for r in still_open):
        for workflow_id in await asyncio.to_thread(open_invoices_of, store, tenant, customer_id):
            try:
                resumed = await _resume(client.get_workflow_handle(workflow_id), why)
            except RPCError as exc:
                done.errors.append(
                    f"customer {customer_id} ({tenant}): {workflow_id} not resumed yet "
                    f"(workflow service: {exc.message}); the next reconcile or resolution "
                    "resumes it"
                )
                continue
            if resumed is True:
                done.resumed.append(workflow_id)
            elif resumed is False:
                done.kept_paused.append(workflow_id)
    # With money of theirs still waiting, the customer stays held: resolving that releases.
    if not done.errors:
        await asyncio.to_thread(money_in_holds.release_done, store, tenant, customer_id)
    return done


async def _resume(handle: WorkflowHandle[Any, Any], why: str) -> bool | None:
    """True resumed, False kept paused (someone else paused it), None nothing to lift (not
    paused, or gone). A workflow-service fault propagates: the release is still owed."""
    try:
        view = await handle.query(InvoiceCollectionWorkflow.status)
        if view.status is not InvoiceStatus.PAUSED:
            return None
        timeline = await handle.query(InvoiceCollectionWorkflow.timeline)
        if not paused_by_reconciliation(last_pause(timeline)):
            return False
        await handle.execute_update(
            InvoiceCollectionWorkflow.resume, ResumeRequest(actor=ACTOR, reason=why)
        )
    except WorkflowUpdateFailedError:
        return None  # the validator refused: resumed or closed meanwhile
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
        return None  # no such workflow
    return True


async def release_owed(
    store: Store, client: Client, *, besides: tuple[str, str] | None = None
) -> Release:
    """Lift the releases an earlier resolution could not finish (all but `besides`, a
    (tenant, customer_id) being released by the caller)."""
    done = Release()
    for tenant, customer_id, why in await asyncio.to_thread(money_in_holds.releases_owed, store):
        if (tenant, customer_id) != besides:
            done.extend(await release_customer(store, client, tenant, customer_id, why))
    return done
