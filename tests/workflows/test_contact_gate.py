"""The contact gate end to end: one customer's invoices, one message per slot, the law's caps.

Dev server, worker, sandbox SMTP sink and a SQLite store, with the Simulator driving each
customer's invoices in lockstep through the real ContactGateWorkflow. Both scenarios start
together when the module's first test asks for them; each test awaits the one it checks.
Each scenario has its own tenant, so gate ids, store rows and emails never mix.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
import yaml

from cobranza.domain.contact_gate import SEND_SLACK, GateLedger
from cobranza.domain.invoice import Invoice, InvoiceStatus
from cobranza.integrations.sandbox.state import ReceivedEmail
from cobranza.integrations.smtp import message_id_for
from cobranza.starter.scenario import load_scenario
from cobranza.starter.simulate import SimulationRun, Simulator
from cobranza.starter.simulation_input import SimulationInput
from cobranza.starter.stack import Stack, local_stack
from cobranza.store.tables import MessageRow
from cobranza.workflows.contact_gate import ContactGateWorkflow, gate_workflow_id

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SANTIAGO = ZoneInfo("America/Santiago")
ISSUE_TEMPLATE = "invoice_issued"


@dataclass
class Sent:
    """One message row of the store and the email the SMTP sink received for it."""

    row: MessageRow
    email: ReceivedEmail

    @property
    def text(self) -> str:
        return self.email.text or ""


@dataclass
class GateCase:
    sim: SimulationInput
    result: SimulationRun
    sent: list[Sent]
    ledger: GateLedger

    @property
    def reminders(self) -> list[Sent]:
        return [s for s in self.sent if s.row.template != ISSUE_TEMPLATE]

    @property
    def issued(self) -> list[Sent]:
        return [s for s in self.sent if s.row.template == ISSUE_TEMPLATE]


def under_tenant(sim: SimulationInput, tenant: str) -> SimulationInput:
    invoices = [
        i.model_copy(update={"customer": i.customer.model_copy(update={"tenant": tenant})})
        for i in sim.invoices
    ]
    return sim.model_copy(update={"invoices": invoices})


async def run_through_gate(stack: Stack, path: Path, tenant: str) -> GateCase:
    loaded = load_scenario(path)
    assert loaded.errors == [], loaded.errors
    assert loaded.policy is not None
    sim = under_tenant(loaded, tenant)
    simulator = Simulator(stack.env, stack.task_queue, loaded.policy, contact_gate=True)
    result = await simulator.run(sim)
    emails = {e.message_id: e for e in stack.sandbox.messages()}
    sent = []
    for row in stack.store.messages(tenant=tenant):
        email = emails.get(message_id_for(row.dedupe_key))
        assert email is not None, f"no email for message {row.dedupe_key}"
        sent.append(Sent(row, email))
    gate = stack.env.client.get_workflow_handle_for(
        ContactGateWorkflow.run, gate_workflow_id(sim.invoices[0].customer)
    )
    return GateCase(sim, result, sent, await gate.query(ContactGateWorkflow.ledger))


def twenty_invoices_scenario(folder: Path) -> Path:
    """One Chilean customer, twenty invoices with the same dates, none paid."""
    # Due Wednesday 8 April 2026: the day -3 reminder falls on a Sunday, a day with no contact.
    invoices = [
        {
            "invoice_id": f"INV-CL-{n:02}",
            "customer": "C-CL",
            "amount": str(10_000 + 1_000 * n),
            "currency": "CLP",
            "issued_on": "2026-03-09",
            "due_on": "2026-04-08",
        }
        for n in range(20)
    ]
    scenario = {
        "name": "twenty invoices of one Chilean customer asking at the same instant",
        "customers": [
            {
                "customer_id": "C-CL",
                "country": "CL",
                "timezone": "America/Santiago",
                "locale": "es_CL",
                "email": "c-cl@customers.example.com",
            }
        ],
        "invoices": invoices,
        "events": [],
        "until": "2026-04-29T00:00:00-04:00",
    }
    path = folder / "C-twenty-invoices.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    return path


@pytest_asyncio.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    db = tmp_path_factory.mktemp("contact-gate") / "store.db"
    async with local_stack(
        temporal_db=None, database_url=f"sqlite:///{db}", fast_timers=True
    ) as started:
        yield started


@pytest_asyncio.fixture(scope="module")
async def cases(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, asyncio.Task[GateCase]]]:
    """Both scenarios, started at once; a test awaits the one it checks."""
    twenty = twenty_invoices_scenario(tmp_path_factory.mktemp("scenarios"))
    tasks = {
        "consolidation": asyncio.create_task(
            run_through_gate(stack, SCENARIOS / "C-consolidation.yaml", "gateconsolidation")
        ),
        "twenty": asyncio.create_task(run_through_gate(stack, twenty, "gatetwenty")),
    }
    yield tasks
    for task in tasks.values():
        task.cancel()
    await asyncio.gather(*tasks.values(), return_exceptions=True)


# ---- three invoices due together -------------------------------------------------------------

AMOUNTS_ES_MX = {"INV-3A": "1,000.00", "INV-3B": "250.50", "INV-3C": "75.25"}


async def test_consolidated_message_per_slot(cases: dict[str, asyncio.Task[GateCase]]) -> None:
    case = await cases["consolidation"]
    assert len(case.issued) == 3
    assert sorted(tuple(s.row.invoice_ids) for s in case.issued) == [
        ("INV-3A",),
        ("INV-3B",),
        ("INV-3C",),
    ]
    reminders = case.reminders
    templates = [s.row.template for s in reminders]
    assert templates == ["upcoming", "due_today", "overdue", "overdue_firm"]
    # One message row and one email per slot: the slot, not the invoice, is the dedupe key.
    assert [s.row.dedupe_key for s in reminders] == [
        f"customer-gateconsolidation-C-3:slot-{n}" for n in range(1, 5)
    ]
    assert len(case.sent) == len({s.email.message_id for s in case.sent}) == 7
    for sent in reminders:
        assert sent.row.invoice_ids == ["INV-3A", "INV-3B", "INV-3C"]
        assert sent.row.status == "sent"
        assert sent.email.to.endswith("c-3@customers.example.com")
        for invoice_id, amount in AMOUNTS_ES_MX.items():
            lines = [ln for ln in sent.text.splitlines() if f"Factura {invoice_id} " in ln]
            assert len(lines) == 1, (sent.row.template, invoice_id, sent.text)
            assert f": ${amount} pendiente" in lines[0], (sent.row.template, lines[0])
        assert "Total pendiente: $1,325.75" in sent.text


async def test_the_other_invoices_record_who_delivered_for_them(
    cases: dict[str, asyncio.Task[GateCase]],
) -> None:
    case = await cases["consolidation"]
    assert {r.view.status for r in case.result.invoices} == {InvoiceStatus.PAID}
    delivered_by = [
        e.details.get("delivered_by")
        for r in case.result.invoices
        for e in r.timeline
        if e.details.get("slot")
    ]
    assert len(delivered_by) == 4 * 3
    assert delivered_by.count(None) == 4


# ---- twenty invoices of one Chilean customer -------------------------------------------------


def sent_times(sent: list[Sent]) -> list[datetime]:
    times = []
    for s in sent:
        assert s.row.sent_at is not None, s.row.dedupe_key
        times.append(s.row.sent_at)
    return sorted(times)


def open_on(invoices: list[Invoice], at: datetime) -> list[str]:
    """Every invoice of the scenario that is issued and unpaid at `at` (none is ever paid)."""
    day = at.astimezone(SANTIAGO).date()
    return sorted(i.invoice_id for i in invoices if i.issued_on <= day)


def assert_within_chilean_caps(times: list[datetime]) -> None:
    """At most 2 messages in any 7 days, 48 h apart, one a local day, on días hábiles 8-20."""
    times = sorted(times)
    for earlier, later in itertools.pairwise(times):
        assert later - earlier >= timedelta(hours=48), (earlier, later)
    # Three messages inside any 7 days would put the 1st and 3rd of three in a row within them.
    for first, third in zip(times, times[2:], strict=False):
        assert third - first >= timedelta(days=7), (first, third)
    days = [t.astimezone(SANTIAGO).date() for t in times]
    assert len(days) == len(set(days)), days
    for t in times:
        local = t.astimezone(SANTIAGO)
        assert local.weekday() < 6 and 8 <= local.hour < 20, local


async def test_twenty_invoices_same_instant_respect_caps(
    cases: dict[str, asyncio.Task[GateCase]],
) -> None:
    case = await cases["twenty"]
    reminders = case.reminders
    assert reminders, "no reminder reached the customer"
    assert {s.email.to for s in reminders} == {"c-cl@customers.example.com"}
    assert len({s.email.message_id for s in reminders}) == len(reminders)
    assert_within_chilean_caps(sent_times(reminders))
    # The slots the gate booked beyond the horizon hold the caps too, sent ones included.
    booked = [s.at for s in case.ledger.slots]
    # Each message went out at its slot; under load a fired timer may be handled late (up to
    # SEND_SLACK, which the gate keeps the law's gaps for), and the evidence records when.
    for sent in reminders:
        assert any(timedelta(0) <= sent.row.scheduled_at - at < SEND_SLACK for at in booked)
    assert_within_chilean_caps(booked)


async def test_every_message_keeps_the_evidence_of_the_law_applied(
    cases: dict[str, asyncio.Task[GateCase]],
) -> None:
    """Content hash, channel, address, rule set and version, rules, granted and sent times,
    provider message id: one row per contact in the evidence log."""
    case = await cases["twenty"]
    for sent in case.sent:
        row = sent.row
        assert row.rule_set == "CL@v1", row
        assert row.granted_at is not None and row.sent_at is not None
        assert row.granted_at <= row.sent_at
        assert row.provider_message_id and row.content_sha256 and row.address
    # The Sunday reminder was moved by the law, and its row says by which rule, from when.
    moved = [s.row for s in case.reminders if s.row.rules]
    assert moved, [s.row for s in case.reminders]
    for row in moved:
        assert row.due_at is not None and row.granted_at is not None
        assert row.due_at < row.granted_at
        assert all(rule.startswith("cl-") for rule in row.rules), row.rules


SLOT_DEFERRED_NOT_JOINED = (
    "GateLedger._joinable only joins a slot granted on the request's own desired local day: "
    "the first invoice's day -3 reminder falls on a Sunday and is granted Monday 08:00, so "
    "each of the other nineteen opens a slot of its own, deferred by the caps 2 a week, up to "
    "July; by the horizon (3 weeks after due) seven single-invoice 'upcoming' emails went out "
    "and thirteen invoices were never reminded and still show status open"
)


async def test_twenty_invoices_every_message_lists_the_invoices_still_open(
    cases: dict[str, asyncio.Task[GateCase]],
) -> None:
    case = await cases["twenty"]
    invoices = case.sim.invoices
    for sent in case.reminders:
        at = sent.row.sent_at or sent.row.scheduled_at
        expected = open_on(invoices, at)
        assert sorted(sent.row.invoice_ids) == expected, (sent.row.template, at)
        listed = sorted(i for i in expected if f"Factura {i} " in sent.text)
        assert listed == expected, sent.text


async def test_twenty_invoices_are_all_reminded_and_overdue_by_the_horizon(
    cases: dict[str, asyncio.Task[GateCase]],
) -> None:
    case = await cases["twenty"]
    reminded = {i for s in case.reminders for i in s.row.invoice_ids}
    assert reminded == {i.invoice_id for i in case.sim.invoices}
    assert {r.view.status for r in case.result.invoices} == {InvoiceStatus.OVERDUE}
