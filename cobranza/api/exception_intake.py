"""What the ingress cannot apply goes to the money-in exceptions queue with a CRM task and a hold.

The same follow-up as a bank line that does not match (reconciliation/statement_run.py): a CRM
task per exception, and the payer's open invoices paused by "reconciliation" until a person
confirms or reassigns the money, which releases them (reconciliation/exception_resolution.py).

Order: the row is stored first, so nothing that arrived is lost whatever fails after. The task
is opened next; a CRM that is down leaves the row without `crm_task_id` and the webhook still
gets its 202. A 5xx would only make the gateway redeliver an event already kept, and a gateway
that sees 5xx for days disables the endpoint, stopping the money with it. Rows without a task
are tried again whenever the ingress next queues or is redelivered an exception, and when
`cobranza api` starts. The hold is last: a workflow service that fails it is our fault of the
moment, so the webhook gets a 503 and the redelivery holds what is left.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio.client import Client

from cobranza.domain.money import Money
from cobranza.integrations.http_clients import HttpCrm
from cobranza.reconciliation.exception_tasks import open_exception_tasks, without_task
from cobranza.reconciliation.holds import hold_customer
from cobranza.store import money_in
from cobranza.store.money_in import MoneyInExceptionRow
from cobranza.store.store import Store

SOURCE_PREFIX = "webhook:"
# Rows of the backlog (tasks a CRM outage left unopened) one webhook tries besides its own; the
# gateway waits for the answer, so the rest wait for the next webhook or `cobranza api` start.
BACKLOG_PER_WEBHOOK = 3


@dataclass
class Intake:
    """What queueing one event did."""

    exception_id: int | None
    crm_task_id: str | None
    held: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def note(self) -> str:
        """For the webhook's answer: the task still to open and the invoices held, if any."""
        notes = [f"held {len(self.held)} invoice(s): {', '.join(self.held)}"] if self.held else []
        if self.crm_task_id is None and self.exception_id is not None:
            why = "; ".join(self.errors) or "no CRM configured"
            notes.append(f"CRM task to open later ({why})")
        return "".join(f"; {n}" for n in notes)


class ExceptionIntake:
    """Queues events for a person; `crm` None opens no tasks (tests and benchmarks without one)."""

    def __init__(self, store: Store, client: Client, crm: HttpCrm | None) -> None:
        self.store = store
        self.client = client
        self.crm = crm

    async def queue(
        self,
        *,
        provider: str,
        key: str,
        reason: str,
        payload: dict[str, object],
        amount: Money | None = None,
        reference: str | None = None,
        customer_id: str | None = None,
        tenant: str | None = None,
    ) -> Intake:
        """Store the exception (once per event), open the tasks still missing, hold the payer.

        A known `customer_id` with `tenant` is held while the exception is open, each invoice
        once (reconciliation/holds.py): a redelivery after a workflow-service fault holds what
        the first delivery could not, never pauses again an invoice a person resumed, and an
        exception a person already resolved holds nothing. That fault propagates, so the
        gateway gets a 503 and redelivers.
        """
        source = f"{SOURCE_PREFIX}{provider}"
        await asyncio.to_thread(
            money_in.queue_exception,
            self.store,
            source=source,
            key=key,
            reason=reason,
            amount=amount,
            reference=reference,
            customer_id=customer_id,
            tenant=tenant,
            payload=payload,
        )
        row = await asyncio.to_thread(money_in.exception_by_key, self.store, source, key)
        assert row is not None  # stored above, and rows are never deleted
        errors = await self.open_tasks(first=row, backlog=BACKLOG_PER_WEBHOOK)
        row = await asyncio.to_thread(money_in.exception_by_key, self.store, source, key)
        assert row is not None
        held = await hold_customer(self.store, self.client, row)
        own = [e for e in errors if e.startswith(f"exception {row.id}:")]
        return Intake(row.id, row.crm_task_id, held, own)

    async def open_tasks(
        self, *, first: MoneyInExceptionRow | None = None, backlog: int | None = None
    ) -> list[str]:
        """Open the CRM task of `first`, then of open webhook exceptions that have none, oldest
        first (at most `backlog` of them; all when None); the errors.

        With a limit, the first refusal ends the round: someone waits on the answer.
        """
        if self.crm is None:
            return []
        waiting = await asyncio.to_thread(without_task, self.store, SOURCE_PREFIX)
        others = [r for r in waiting if first is None or r.id != first.id]
        rows = ([first] if first is not None else []) + (
            others if backlog is None else others[:backlog]
        )
        return await open_exception_tasks(
            self.store, self.crm, rows, stop_at_failure=backlog is not None
        )
