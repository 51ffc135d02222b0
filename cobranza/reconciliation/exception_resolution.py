"""Money-in exceptions acted on: post matches, hold and release customers, confirm or reassign.

One code path for `cobranza exceptions confirm|reassign` and `POST /exceptions/{id}/...`.
Reconciliation pauses a customer's open invoices (actor "reconciliation") while their money
waits for a person; resolving the last such exception lifts only those pauses, never one a
person made for another reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict
from temporalio.client import Client
from temporalio.service import RPCError

from cobranza.domain.invoice import PaymentReceived
from cobranza.domain.matching import OpenItem
from cobranza.domain.money import Money

# Re-exported: callers read a pause's owner through this module, where these used to live.
from cobranza.reconciliation.holds import last_pause as last_pause
from cobranza.reconciliation.holds import paused_by_reconciliation as paused_by_reconciliation
from cobranza.reconciliation.holds import release_customer, release_owed
from cobranza.store import money_in
from cobranza.store.money_in import MatchRow, MoneyInExceptionRow
from cobranza.store.store import Store
from cobranza.workflows.invoice import InvoiceCollectionWorkflow


class ResolutionError(ValueError):
    """A confirm or reassign that cannot be applied; nothing was changed.

    `field` names the input at fault (`actor`, `invoices[1]`, `customer_id`, ...); `status`
    is the HTTP status the API answers with.
    """

    def __init__(self, field: str, reason: str, status: int = 422) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.status = status


class ResolutionRequest(BaseModel):
    """A person's decision on one exception: confirm it as it stands (neither invoices nor a
    customer), or reassign its money to invoices in order or to a customer's open invoices.

    Checked by `check_resolution`, not here, so that a bad field is a ResolutionError naming it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    exception_id: int
    actor: str
    note: str
    invoices: tuple[str, ...] = ()
    customer_id: str | None = None
    tenant: str | None = None

    @property
    def reassigning(self) -> bool:
        return bool(self.invoices) or self.customer_id is not None


@dataclass
class Resolution:
    """What resolving an exception did."""

    exception_id: int
    status: str
    matches: list[MatchRow] = field(default_factory=list)
    unallocated: Money | None = None
    resumed: list[str] = field(default_factory=list)
    kept_paused: list[str] = field(default_factory=list)
    # What was left undone (a match not posted, an invoice not resumed), each with who
    # finishes it; the exception is resolved all the same, so the caller must be told.
    errors: list[str] = field(default_factory=list)


def received_at(day: date) -> datetime:
    """A booking date as an instant: noon UTC, the same calendar day in every American zone."""
    return datetime.combine(day, time(12, 0), UTC)


def exception_summary(row: MoneyInExceptionRow, now: datetime) -> dict[str, Any]:
    """One exception as the CLI and the API show it: amounts as decimal strings, age in days."""
    return {
        "id": row.id,
        "source": row.source,
        "key": row.key,
        "status": row.status,
        "amount": None if row.amount is None else str(row.amount.to_decimal()),
        "currency": row.currency,
        "reference": row.reference,
        "customer_id": row.customer_id,
        "tenant": row.tenant,
        "reason": row.reason,
        "queued_at": row.queued_at.isoformat(),
        "age_days": (now - row.queued_at).days,
        "crm_task_id": row.crm_task_id,
    }


async def post_matches(store: Store, client: Client) -> tuple[list[str], list[str]]:
    """Signal every unposted match to its workflow; (posted payment ids, errors)."""
    posted, errors = [], []
    for match in await asyncio.to_thread(money_in.unposted_matches, store):
        payment = PaymentReceived(
            payment_id=match.payment_id,
            amount=match.amount,
            received_at=received_at(match.booked_on),
            method="transfer",
            reference=match.entry_id,
        )
        handle = client.get_workflow_handle(match.workflow_id)
        try:
            await handle.signal(InvoiceCollectionWorkflow.payment_received, payment)
        except RPCError as exc:
            errors.append(f"{match.payment_id}: {match.workflow_id}: {exc.message}")
            continue
        await asyncio.to_thread(money_in.mark_posted, store, match.payment_id, datetime.now(UTC))
        posted.append(match.payment_id)
    return posted, errors


def _check_request(request: ResolutionRequest) -> None:
    invoices = request.invoices
    if not request.actor.strip():
        raise ResolutionError("actor", "who decided must not be empty")
    if not request.note.strip():
        raise ResolutionError("reason", "say why (refund, not ours, customer called, ...)")
    if invoices and request.customer_id:
        raise ResolutionError("customer_id", "give invoices or a customer, not both")
    for n, invoice_id in enumerate(invoices):
        if not invoice_id.strip():
            raise ResolutionError(f"invoices[{n}]", "an invoice id must not be empty")
    if len(set(invoices)) != len(invoices):
        raise ResolutionError("invoices", "an invoice is named twice")


def plan_allocation(
    store: Store, row: MoneyInExceptionRow, request: ResolutionRequest
) -> list[tuple[OpenItem, Money]]:
    """The exception's money over the invoices named in order, or over the customer's open
    invoices oldest due first, each up to what it still owes."""
    invoices, customer_id = request.invoices, request.customer_id
    amount = row.amount
    field_name = "invoices" if invoices else "customer_id"
    if amount is None:
        raise ResolutionError(field_name, f"exception {row.id} has no amount to reassign")
    scope = request.tenant or row.tenant
    items = money_in.open_items(store, scope)
    if invoices:
        by_id: dict[str, list[OpenItem]] = {}
        for i in items:
            by_id.setdefault(i.invoice_id, []).append(i)
        chosen = []
        for n, invoice_id in enumerate(invoices):
            found = by_id.get(invoice_id, [])
            if len(found) > 1:
                tenants = ", ".join(sorted(i.tenant for i in found))
                raise ResolutionError("tenant", f"{invoice_id} is open in tenants {tenants}")
            item = found[0] if found else None
            if item is None:
                raise ResolutionError(
                    f"invoices[{n}]", f"{invoice_id} is not an open invoice of {scope or 'any'}"
                )
            if item.outstanding.currency != amount.currency:
                raise ResolutionError(
                    f"invoices[{n}]",
                    f"{invoice_id} is in {item.outstanding.currency}, the money in "
                    f"{amount.currency}",
                )
            chosen.append(item)
    else:
        chosen = sorted(
            (
                i
                for i in items
                if i.customer_id == customer_id and i.outstanding.currency == amount.currency
            ),
            key=lambda i: (i.due_on, i.issued_on, i.invoice_id),
        )
        if not chosen:
            raise ResolutionError(
                "customer_id",
                f"{customer_id} has no open invoice in {amount.currency} (tenant {scope or 'any'})",
            )
    left = amount.minor
    plan = []
    for item in chosen:
        take = min(left, item.outstanding.minor)
        if take > 0:
            plan.append((item, Money(minor=take, currency=amount.currency)))
            left -= take
    return plan


def check_resolution(
    store: Store, request: ResolutionRequest
) -> tuple[MoneyInExceptionRow, list[tuple[OpenItem, Money]]]:
    """Every check of a confirm or reassign, reading only: the open exception and the plan
    (empty for a confirm). Raises ResolutionError naming the input at fault."""
    _check_request(request)
    exception_id = request.exception_id
    row = money_in.get_exception(store, exception_id)
    if row is None:
        raise ResolutionError("exception_id", f"no exception {exception_id}", status=404)
    if row.status != money_in.EXCEPTION_OPEN:
        raise ResolutionError(
            "exception_id", f"exception {exception_id} is already {row.status}", 409
        )
    if not request.reassigning:
        return row, []
    return row, plan_allocation(store, row, request)


def settle(store: Store, request: ResolutionRequest) -> tuple[MoneyInExceptionRow, Resolution]:
    """The store side of a resolution: every check first, then the exception closes and its
    matches are stored in one transaction, so two people resolving it at once cannot both
    succeed. Nothing is signalled yet."""
    exception_id = request.exception_id
    row, plan = check_resolution(store, request)
    reassigning = request.reassigning
    status = money_in.EXCEPTION_REASSIGNED if reassigning else money_in.EXCEPTION_CONFIRMED
    unallocated = None
    if reassigning and row.amount is not None:
        rest = row.amount.minor - sum(m.minor for _, m in plan)
        unallocated = Money(minor=rest, currency=row.amount.currency) if rest else None
    resolution: dict[str, Any] = {
        "note": request.note,
        "invoices": [item.invoice_id for item, _ in plan],
        "customer_id": request.customer_id,
        "unallocated": None if unallocated is None else str(unallocated.to_decimal()),
    }
    created = money_in.settle_exception(
        store,
        row,
        status=status,
        actor=request.actor,
        resolution=resolution,
        allocations=plan,
        at=datetime.now(UTC),
    )
    if created is None:
        raise ResolutionError(
            "exception_id", f"exception {exception_id} was resolved meanwhile", 409
        )
    return row, Resolution(exception_id, status, matches=created, unallocated=unallocated)


async def resolve(store: Store, client: Client, request: ResolutionRequest) -> Resolution:
    """Confirm (neither invoices nor customer) or reassign an open exception, post what it
    matched, then lift reconciliation's holds on the customer if nothing else of theirs waits.
    What the workflow service could not do is in `errors` and left for the next run.

    Store work runs in a thread: the API serves webhooks on the same event loop.
    """
    row, done = await asyncio.to_thread(settle, store, request)
    _, unposted = await post_matches(store, client)
    done.errors.extend(
        f"payment not posted yet ({e}); the next `cobranza reconcile` posts it" for e in unposted
    )
    why = f"exception {request.exception_id} {done.status} by {request.actor}: {request.note}"
    why = why[:500]
    released = await release_customer(store, client, row.tenant, row.customer_id, why)
    done.resumed, done.kept_paused = released.resumed, released.kept_paused
    done.errors.extend(released.errors)
    # Releases an earlier resolution could not finish are retried here too, not left waiting
    # for the next reconcile run.
    own = None if row.tenant is None or row.customer_id is None else (row.tenant, row.customer_id)
    done.errors.extend((await release_owed(store, client, besides=own)).errors)
    return done
