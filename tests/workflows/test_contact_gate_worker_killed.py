"""A worker killed while it hands a consolidated reminder to the mail server sends no second one.

The worker runs as its own process (`cobranza worker`) against the test's dev server, sandbox
and SQLite store. The sandbox's SMTP sink holds every mail for a moment, so the test can see a
reminder claimed in the store ('sending') and kill -9 the worker in the middle of that send.
A second worker takes over; the activity is retried, finds the claim and does not send again.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from cobranza.domain.invoice import InvoiceStatus
from cobranza.integrations.smtp import message_id_for
from cobranza.starter.scenario import load_scenario
from cobranza.starter.simulate import Simulator
from cobranza.starter.stack import Stack, local_stack
from cobranza.starter.worker_process import worker_process
from cobranza.store.tables import MessageRow

from .test_contact_gate import (
    ISSUE_TEMPLATE,
    assert_within_chilean_caps,
    twenty_invoices_scenario,
    under_tenant,
)

TENANT = "gatekilled"
SMTP_HOLD_MS = 1_500
DEADLINE_S = 240.0


async def until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    """Poll a condition of another process's making (the store), with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.02)


def reminders_in_flight(stack: Stack) -> list[MessageRow]:
    return [
        row
        for row in stack.store.messages(tenant=TENANT)
        if row.status == "sending" and row.template != ISSUE_TEMPLATE
    ]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
async def test_worker_killed_mid_send_sends_no_second_message_for_the_slot(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'store.db'}"
    loaded = load_scenario(twenty_invoices_scenario(tmp_path))
    assert loaded.policy is not None
    sim = under_tenant(loaded, TENANT)
    async with local_stack(
        temporal_db=None,
        database_url=database_url,
        serve=False,
        task_queue="gate-killed",
        fast_timers=True,
    ) as stack:
        stack.sandbox.state.knobs.smtp_latency_ms = SMTP_HOLD_MS
        simulator = Simulator(stack.env, stack.task_queue, loaded.policy, contact_gate=True)
        with worker_process(stack, database_url, tmp_path / "worker-1.log") as first:
            run = asyncio.create_task(simulator.run(sim))
            try:
                await until(
                    lambda: bool(reminders_in_flight(stack)) or run.done(),
                    "a consolidated reminder being sent",
                )
                assert not run.done(), "the run ended before any reminder was sent"
                (killed,) = reminders_in_flight(stack)
                os.kill(first.pid, signal.SIGKILL)
                first.wait(timeout=30)
                stack.sandbox.state.knobs.smtp_latency_ms = 0
            except BaseException:
                run.cancel()
                raise
        with worker_process(stack, database_url, tmp_path / "worker-2.log"):
            result = await asyncio.wait_for(run, DEADLINE_S)
        emails = Counter(e.message_id for e in stack.sandbox.messages())
        rows = stack.store.messages(tenant=TENANT)

    # The slot the kill interrupted stays claimed: at most one mail for it, never a second.
    after = next(r for r in rows if r.dedupe_key == killed.dedupe_key)
    assert emails[message_id_for(killed.dedupe_key)] <= 1
    assert after.status in ("sending", "sent"), after.status
    assert len(killed.invoice_ids) > 1, "the interrupted reminder was not a consolidated one"
    # Every slot got exactly one mail (or, for the interrupted one, at most one) ...
    for row in rows:
        count = emails[message_id_for(row.dedupe_key)]
        assert count == 1 or (row.dedupe_key == killed.dedupe_key and count == 0), row
    assert sum(emails.values()) in (len(rows), len(rows) - 1)
    # ... the caps held across both workers, and the lifecycles all went on to the horizon.
    reminders = [r for r in rows if r.template != ISSUE_TEMPLATE]
    assert_within_chilean_caps([r.sent_at or r.scheduled_at for r in reminders])
    assert {r.view.status for r in result.invoices} == {InvoiceStatus.OVERDUE}
    reminded = {i for r in reminders for i in r.invoice_ids}
    assert reminded == {i.invoice_id for i in sim.invoices}
