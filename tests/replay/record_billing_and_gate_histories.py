"""Records RecurringBillingWorkflow and ContactGateWorkflow histories for the replay tests.

    .venv/bin/python tests/replay/record_billing_and_gate_histories.py

Runs the local stack (dev server with per-workflow time, sandbox, SQLite store, worker) and
writes, under histories/:

- `subscription-SUB-R-DUNNING-run<N>.json`: one file per run of a three-month subscription whose
  first invoice is left unpaid until dunning level 1. Run 1 issues and continues as new; run 2
  suspends the service through the ERP, then issues; run 3 finds the invoice paid, restores the
  service, issues the last period; run 4 watches the last invoice close and completes.
- `subscription-SUB-R-PAUSE-run<N>.json`: run 1 issues; run 2 takes a pause, a resume (the
  skipped period is not billed) and a cancel as updates, a refused cancel as a signal, and
  completes once the open invoice is paid.
- `contact-gate-<scenario>.json`: the customer's ContactGateWorkflow (still running, as it does
  until its history is long) after three invoices booked their contacts through it: in
  `C-consolidation` they share every slot (one message lists the three); in `CL-caps` a Chilean
  customer's reminders on consecutive days are deferred by the 48-hour gap.

The invoices' own histories are not written: record_histories.py covers that workflow. Re-record
only on purpose: a committed history is what running executions look like, and the replay test
proves new code still replays it (use workflow.patched() otherwise).
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml
from history_files import write_history  # beside this script
from temporalio.client import WorkflowHistory

from cobranza.domain.billing import (
    CancelSubscription,
    PauseSubscription,
    ResumeSubscription,
    Subscription,
    SubscriptionInput,
    SubscriptionStatus,
    first_check_at,
    issue_instant,
    period_invoice,
)
from cobranza.domain.invoice import Customer, PaymentReceived
from cobranza.domain.money import Money
from cobranza.domain.policy import Escalation, EscalationAction, Policy, Reminder
from cobranza.starter.cli import DEFAULT_POLICY, read_policy
from cobranza.starter.scenario import load_scenario
from cobranza.starter.simulate import Simulator
from cobranza.starter.stack import Stack, local_stack
from cobranza.starter.subscription_sim import SubscriptionDriver, publishes_level
from cobranza.workflows.contact_gate import gate_workflow_id
from cobranza.workflows.subscription import RecurringBillingWorkflow

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE.parent / "scenarios"
AGENT = {"actor": "agent-7", "reason": "customer called"}


def write(kind: str, name: str, history: WorkflowHistory) -> None:
    write_history(history, f"{kind}-{name}")


# ---- RecurringBillingWorkflow ----------------------------------------------------------------


def billing_policy() -> Policy:
    """Due-day email, a collector call on day 25 (level 1), write-off on day 60 (level 2)."""
    return Policy(
        id="replay-subscriptions",
        version=1,
        send_time=time(10, 0),
        issue_template=None,
        reminders=(Reminder(day=0, template="due_today"),),
        escalation=(
            Escalation(level=1, day=25, action=EscalationAction.COLLECTOR_TASK, note="Call"),
            Escalation(level=2, day=60, action=EscalationAction.WRITE_OFF),
        ),
    )


def subscription_input(subscription_id: str, customer_id: str, **changes: Any) -> SubscriptionInput:
    customer = Customer(
        tenant="replay",
        customer_id=customer_id,
        name="Ana Pérez",
        email=f"{customer_id.lower()}@customers.example.com",
        country="MX",
        timezone="America/Mexico_City",
        locale="es_MX",
    )
    fields: dict[str, Any] = dict(
        subscription_id=subscription_id,
        customer=customer,
        amount=Money.parse("499.00", "MXN"),
        start_date=date(2024, 1, 31),
        anchor_day=31,
        net_days=10,
        policy="replay-subscriptions",
        suspend_at_level=1,
    )
    fields.update(changes)
    return SubscriptionInput(
        subscription=Subscription(**fields), policy=billing_policy(), contact_gate=False
    )


def paid(input: SubscriptionInput, n: int, at: datetime) -> PaymentReceived:
    sub = input.subscription
    return PaymentReceived(
        payment_id=f"{sub.subscription_id}-pay-{n}", amount=sub.amount, received_at=at
    )


async def write_runs(driver: SubscriptionDriver, workflow_id: str, name: str) -> None:
    for n, run_id in enumerate(driver.run_ids, start=1):
        handle = driver.client.get_workflow_handle(workflow_id, run_id=run_id)
        write("subscription", f"{name}-run{n}", await handle.fetch_history())


async def record_dunning(stack: Stack) -> None:
    """Three months; period 1 reaches level 1 unpaid (suspend), then is paid (restore)."""
    input = subscription_input("SUB-R-DUNNING", "C-SUB-D", periods=3)
    sub, send = input.subscription, input.policy.send_time
    driver = SubscriptionDriver(stack)
    handle = await driver.start(input)
    late = first_check_at(sub, input.policy, 1)
    for n in (1, 2, 3):
        await driver.advance(handle, issue_instant(sub, n, send) + timedelta(minutes=1))
        await driver.issued(handle)
        actions = [(a["action"], a["period"]) for a in driver.service_actions(sub.subscription_id)]
        if n == 1:
            child = driver.invoice(period_invoice(sub, 1).workflow_id)
            await driver.advance(child, late - timedelta(minutes=30))
            await driver.until(child, publishes_level(1))
            continue
        if n == 2:
            assert actions == [("suspend", 1)], actions
            await driver.pay(period_invoice(sub, 1).workflow_id, paid(input, 1, late))
        else:
            assert actions == [("suspend", 1), ("restore", 1)], actions
        on_time = issue_instant(sub, n, send) + timedelta(minutes=1)
        await driver.pay(period_invoice(sub, n).workflow_id, paid(input, n, on_time))
    await driver.advance(handle, first_check_at(sub, input.policy, 3) + timedelta(minutes=1))
    final = await handle.result()
    assert final.status is SubscriptionStatus.ENDED and final.issued == 3, final
    await write_runs(driver, handle.id, sub.subscription_id)


async def record_pause(stack: Stack) -> None:
    """Period 1 issued; paused over period 2, resumed, cancelled; completes once 1 is paid."""
    input = subscription_input(
        "SUB-R-PAUSE",
        "C-SUB-P",
        start_date=date(2025, 3, 15),
        anchor_day=None,
        suspend_at_level=2,
    )
    sub, send = input.subscription, input.policy.send_time
    driver = SubscriptionDriver(stack)
    handle = await driver.start(input)
    await driver.advance(handle, issue_instant(sub, 1, send) + timedelta(minutes=1))
    await driver.issued(handle)
    await handle.execute_update(RecurringBillingWorkflow.pause, PauseSubscription(**AGENT))
    await driver.advance(handle, issue_instant(sub, 2, send) + timedelta(days=1))
    await handle.execute_update(RecurringBillingWorkflow.resume, ResumeSubscription(**AGENT))
    await handle.execute_update(RecurringBillingWorkflow.cancel, CancelSubscription(**AGENT))
    again = CancelSubscription(actor="agent-9", reason="again")
    await handle.signal(RecurringBillingWorkflow.cancel_signal, again)
    on_time = issue_instant(sub, 1, send)
    await driver.pay(period_invoice(sub, 1).workflow_id, paid(input, 1, on_time))
    await driver.advance(handle, first_check_at(sub, input.policy, 1) + timedelta(minutes=1))
    final = await handle.result()
    assert final.status is SubscriptionStatus.CANCELLED and final.skipped == [2], final
    await write_runs(driver, handle.id, sub.subscription_id)


# ---- ContactGateWorkflow ---------------------------------------------------------------------


def caps_scenario(folder: Path) -> Path:
    """One Chilean customer, three invoices due on consecutive days, paid a week after."""
    # Day -3 reminders fall on Sunday 5 (moved to Monday), Monday 6 and Tuesday 7 April 2026:
    # the law's 48 hours between contacts push the second and third later.
    dues = {"INV-CL-A": "2026-04-08", "INV-CL-B": "2026-04-09", "INV-CL-C": "2026-04-10"}
    scenario = {
        "name": "CL-caps three invoices of one Chilean customer due on consecutive days",
        "customers": [
            {
                "customer_id": "C-CL",
                "country": "CL",
                "timezone": "America/Santiago",
                "locale": "es_CL",
                "email": "c-cl@customers.example.com",
            }
        ],
        "invoices": [
            {
                "invoice_id": invoice_id,
                "customer": "C-CL",
                "amount": "10000",
                "currency": "CLP",
                "issued_on": "2026-03-09",
                "due_on": due_on,
            }
            for invoice_id, due_on in dues.items()
        ],
        "events": [
            {
                "at": "2026-04-17T12:00:00-04:00",
                "invoice": invoice_id,
                "kind": "payment",
                "amount": "10000",
                "payment_id": f"P-{invoice_id}",
            }
            for invoice_id in dues
        ],
        "until": "2026-04-20T00:00:00-04:00",
    }
    path = folder / "CL-caps.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    return path


async def record_gate(stack: Stack, path: Path, name: str) -> None:
    sim = load_scenario(path)
    assert not sim.errors, sim.errors
    policy = sim.policy or read_policy(DEFAULT_POLICY)
    simulator = Simulator(stack.env, stack.task_queue, policy, contact_gate=True)
    await simulator.run(sim)
    gate = stack.env.client.get_workflow_handle(gate_workflow_id(sim.invoices[0].customer))
    write("contact-gate", name, await gate.fetch_history())


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with local_stack(temporal_db=None, database_url=f"sqlite:///{tmp}/store.db") as stack:
            await record_dunning(stack)
            await record_pause(stack)
            await record_gate(stack, SCENARIOS / "C-consolidation.yaml", "C-consolidation")
            await record_gate(stack, caps_scenario(Path(tmp)), "CL-caps")


if __name__ == "__main__":
    asyncio.run(main())
