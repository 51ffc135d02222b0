"""CRM tasks for money-in exceptions, one per exception, for the bank-file and webhook paths.

The exception row is stored first and its task opened after: a CRM that is down leaves the row
with no `crm_task_id`, and the next caller tries it again. The idempotency key is the row's
natural key, so a retry after a lost answer still makes one task.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from cobranza.integrations.errors import IntegrationError
from cobranza.integrations.http_clients import HttpCrm
from cobranza.store import money_in
from cobranza.store.money_in import MoneyInExceptionRow
from cobranza.store.store import Store

DEFAULT_CRM_URL = "http://127.0.0.1:8700"  # the sandbox of `cobranza up`


async def open_exception_tasks(
    store: Store,
    crm: HttpCrm,
    rows: Sequence[MoneyInExceptionRow],
    *,
    stop_at_failure: bool = False,
) -> list[str]:
    """Open a task for each row that has none; the errors, one per row left without a task.

    `stop_at_failure`: give up on the rest after the first refusal (a caller someone waits on:
    a CRM that is down or hangs then costs one timeout, not one per row).
    """
    errors = []
    for row in rows:
        if row.crm_task_id is not None or row.id is None:
            continue
        candidates = row.payload.get("candidates") or []
        title = f"Unmatched money {row.amount or ''} ref {row.reference or '-'}: {row.reason}"
        try:
            task_id = await crm.create_task(
                idempotency_key=f"money-in-exception-{row.source}-{row.key}",
                customer_id=row.customer_id or "unknown",
                invoice_id=candidates[0] if candidates else "unmatched",
                kind="unmatched_payment",
                title=title[:200],
                body=json.dumps({"exception": row.id, **row.payload}, sort_keys=True),
            )
        except IntegrationError as exc:
            errors.append(f"exception {row.id}: CRM task not opened: {exc}")
            if stop_at_failure:
                break
            continue
        await asyncio.to_thread(money_in.set_crm_task, store, row.id, task_id)
    return errors


def without_task(store: Store, source_prefix: str) -> list[MoneyInExceptionRow]:
    """Open exceptions from sources starting with `source_prefix` whose task is not open yet."""
    return [
        row
        for row in money_in.exceptions(store, status=money_in.EXCEPTION_OPEN)
        if row.crm_task_id is None and row.source.startswith(source_prefix)
    ]
