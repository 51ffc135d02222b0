"""Lifecycle cases L-01..L-10 run end to end: dev server, worker, sandbox, store, virtual time.

Every scenario file under tests/scenarios but the autopay cases' runs through the real
InvoiceCollectionWorkflow on one shared dev server. The cases start together when the module's
first test asks for them (each workflow has its own virtual clock, so they do not disturb one
another) and every test waits for its own. Each scenario gets its own tenant, so workflow ids,
store rows, CRM tasks, ERP postings and emails never mix between cases that reuse an invoice id
(INV-7, INV-8, INV-9).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from cobranza.domain.invoice import InvoiceStatus, TimelineEntry, TimelineKind
from cobranza.domain.money import Money
from cobranza.integrations.sandbox.state import CrmTaskRecord, ErpPostingRecord, ReceivedEmail
from cobranza.integrations.smtp import MESSAGE_ID_DOMAIN, message_id_for
from cobranza.starter.scenario import Expectation, load_expectations, load_scenario
from cobranza.starter.simulate import InvoiceRun, SimulationRun, Simulator
from cobranza.starter.simulation_input import SimulationInput
from cobranza.starter.stack import Stack, local_stack
from cobranza.store.report_model import CollectionReport
from cobranza.store.reports import build_report
from cobranza.store.tables import MessageRow
from cobranza.workflows.invoice import InvoiceCollectionWorkflow

from . import test_autopay_cases

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
# L-05 and L-06 are autopay cases: a scenario file cannot state the gateway's answers, so
# their tests are in test_autopay_cases.py and their files, a plain payment in place of the
# charge, are for `cobranza simulate` only.
AUTOPAY_CASES = frozenset({"L-05", "L-06"})
CASE_FILES = sorted(p for p in SCENARIOS.glob("L-*.yaml") if p.stem not in AUTOPAY_CASES)
MEXICO = ZoneInfo("America/Mexico_City")
BOGOTA = ZoneInfo("America/Bogota")


@dataclass
class Outcome:
    """What one invoice of a case left behind, in every place a user would look."""

    run: InvoiceRun
    handle: WorkflowHandle[Any, Any]
    emails: list[ReceivedEmail]
    messages: list[MessageRow]
    tasks: list[CrmTaskRecord]
    postings: list[ErpPostingRecord]
    payments: int

    @property
    def status(self) -> InvoiceStatus:
        return self.run.view.status

    @property
    def templates(self) -> list[str]:
        return [m.template for m in self.messages]

    def entries(self, kind: TimelineKind, **details: Any) -> list[TimelineEntry]:
        return [
            e
            for e in self.run.timeline
            if e.kind is kind and all(e.details.get(k) == v for k, v in details.items())
        ]

    def message_times(self) -> list[datetime]:
        return [e.at for e in self.entries(TimelineKind.MESSAGE)]

    def email_with(self, template: str) -> ReceivedEmail:
        """The email the sink received for the message of this template (exactly one)."""
        keys = [m.dedupe_key for m in self.messages if m.template == template]
        assert len(keys) == 1, f"{len(keys)} messages with template {template}"
        wanted = message_id_for(keys[0])
        found = [e for e in self.emails if e.message_id == wanted]
        assert len(found) == 1, f"{len(found)} emails with Message-ID {wanted}"
        return found[0]


@dataclass
class Case:
    name: str
    sim: SimulationInput
    result: SimulationRun
    invoices: dict[str, Outcome]
    expected: dict[str, Expectation]

    def __getitem__(self, invoice_id: str) -> Outcome:
        return self.invoices[invoice_id]


def tenant_of(path: Path) -> str:
    return path.stem.lower().replace("-", "")


def isolated(sim: SimulationInput, tenant: str) -> SimulationInput:
    """The same scenario under its own tenant, hence its own workflow ids."""
    invoices = [
        i.model_copy(update={"customer": i.customer.model_copy(update={"tenant": tenant})})
        for i in sim.invoices
    ]
    return sim.model_copy(update={"invoices": invoices})


async def run_case(stack: Stack, path: Path) -> Case:
    loaded = load_scenario(path)
    assert loaded.errors == [], loaded.errors
    assert loaded.policy is not None
    sim = isolated(loaded, tenant_of(path))
    result = await Simulator(stack.env, stack.task_queue, loaded.policy).run(sim)
    return Case(path.stem, sim, result, collect(stack, result), load_expectations(path))


def collect(stack: Stack, result: SimulationRun) -> dict[str, Outcome]:
    found: dict[str, Outcome] = {}
    for run in result.invoices:
        wf = run.invoice.workflow_id
        # Every effect's key starts with the workflow id: "<workflow id>:<step>".
        own = f"{wf}:"  # (INV-9B's workflow id starts with INV-9's)
        message_prefix = message_id_for(own).removesuffix(f"@{MESSAGE_ID_DOMAIN}>")
        messages = [
            m
            for m in stack.store.messages(tenant=run.invoice.tenant)
            if run.invoice.invoice_id in m.invoice_ids
        ]
        found[run.invoice.invoice_id] = Outcome(
            run=run,
            handle=stack.env.client.get_workflow_handle(wf),
            emails=[e for e in stack.sandbox.messages() if e.message_id.startswith(message_prefix)],
            messages=messages,
            tasks=[t for t in stack.sandbox.tasks() if (t.idempotency_key or "").startswith(own)],
            postings=[
                p for p in stack.sandbox.postings() if (p.idempotency_key or "").startswith(own)
            ],
            payments=stack.store.count_payments(workflow_id=wf),
        )
    return found


@pytest_asyncio.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    db = tmp_path_factory.mktemp("lifecycle") / "store.db"
    async with local_stack(
        temporal_db=None, database_url=f"sqlite:///{db}", fast_timers=True
    ) as started:
        yield started


@pytest_asyncio.fixture(scope="module")
async def cases(stack: Stack) -> AsyncIterator[dict[str, asyncio.Task[Case]]]:
    """Every scenario, started at once; a test awaits the one it checks."""
    tasks = {p.stem: asyncio.create_task(run_case(stack, p)) for p in CASE_FILES}
    yield tasks
    for task in tasks.values():
        task.cancel()
    await asyncio.gather(*tasks.values(), return_exceptions=True)


async def case(cases: dict[str, asyncio.Task[Case]], name: str) -> Case:
    return await cases[name]


def local(day: str, hour: int, zone: ZoneInfo, minute: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), zone).replace(
        hour=hour, minute=minute
    )


def report_of(stack: Stack, c: Case) -> CollectionReport:
    runs = c.result.invoices
    return build_report(
        stack.store, as_of=max(r.view.as_of for r in runs), tenant=runs[0].invoice.tenant
    )


def assert_as_expected(c: Case) -> None:
    """The scenario file's own `expect:` block, checked against the store, not the workflow."""
    for invoice_id, expected in c.expected.items():
        inv = c[invoice_id]
        assert inv.status is expected.status, invoice_id
        if expected.outstanding is not None:
            assert inv.run.view.outstanding == expected.outstanding, invoice_id
        if expected.messages is not None:
            assert len(inv.messages) == expected.messages, (invoice_id, inv.templates)
            assert len(inv.emails) == expected.messages, invoice_id
            assert all(m.status == "sent" for m in inv.messages), invoice_id
        if expected.steps is not None:
            assert inv.templates == expected.steps, invoice_id
        if expected.tasks is not None:
            assert len(inv.tasks) == expected.tasks, (invoice_id, [t.kind for t in inv.tasks])


async def advance_to(
    stack: Stack, handle: WorkflowHandle[Any, Any], at: datetime, offset: timedelta
) -> None:
    """Move one workflow's virtual clock to a business instant."""
    info = await stack.env.get_time_skipping_info(handle)
    assert info is not None
    now = info.current_time.ToDatetime().replace(tzinfo=UTC)
    step = at.astimezone(UTC) + offset - now
    # The clock runs on at wall speed after a fast-forward, so it may be there already.
    if step > timedelta(0):
        await stack.env.fast_forward(handle, step)


async def execution_status(inv: Outcome) -> WorkflowExecutionStatus | None:
    return (await inv.handle.describe()).status


# ---- the cases -----------------------------------------------------------------------------


async def test_L01_paid_before_reminder(cases: dict[str, asyncio.Task[Case]]) -> None:
    c = await case(cases, "L-01")
    assert_as_expected(c)
    inv = c["INV-1"]

    assert inv.templates == ["invoice_issued"]
    assert not any(t > local("2026-04-09", 12, MEXICO) for t in inv.message_times())
    # Closed, so no timer of it is left to fire a reminder later.
    assert await execution_status(inv) == WorkflowExecutionStatus.COMPLETED
    assert inv.run.view.next_action.action == "none"
    assert inv.payments == 1
    assert [(p.kind, p.payment_id, p.status) for p in inv.postings] == [
        ("payment", "P-L01-1", InvoiceStatus.PAID)
    ]


async def test_L02_zero_and_three_decimal_currencies(
    cases: dict[str, asyncio.Task[Case]],
) -> None:
    c = await case(cases, "L-02")
    assert_as_expected(c)
    jpy, kwd = c["INV-JPY"], c["INV-KWD"]

    due_today = jpy.email_with("due_today").text or ""
    assert "¥1,935 outstanding" in due_today
    assert "193,5" not in due_today and "19.35" not in due_today
    assert jpy.postings[0].amount == Money(minor=1935, currency="JPY")

    firm = kwd.email_with("overdue_firm").text or ""
    assert "KWD1,000.250 outstanding, KWD935.250 received of KWD1,935.500" in firm
    assert kwd.postings[0].amount == Money(minor=935_250, currency="KWD")
    assert kwd.postings[0].outstanding == Money(minor=1_000_250, currency="KWD")


async def test_L03_partial_payment(stack: Stack, cases: dict[str, asyncio.Task[Case]]) -> None:
    c = await case(cases, "L-03")
    assert_as_expected(c)
    inv = c["INV-3"]

    assert inv.run.view.paid == "400.00"
    paid_at = local("2026-04-10", 9, MEXICO)
    later = [m for m in inv.messages if m.scheduled_at > paid_at]
    assert [m.template for m in later] == ["due_today", "overdue", "overdue_firm", "final_notice"]
    for message in later:
        text = inv.email_with(message.template).text or ""
        assert "$600.00 pendiente" in text, message.template
        assert "$400.00 recibido de $1,000.00" in text, message.template
    before = inv.email_with("upcoming").text or ""
    assert "1,000.00" in before and "600.00" not in before
    # Escalation carries on on the balance: collector task, then the final notice.
    assert [t.kind for t in inv.tasks] == ["collector_call"]
    assert inv.run.view.dunning_level == 2
    report = report_of(stack, c)
    assert report.outcomes.partially_paid == 1
    assert report.amount_collected == {"MXN": "400.00"}
    assert report.amount_outstanding == {"MXN": "600.00"}


async def test_L04_due_date_in_customer_time_zone(
    stack: Stack, cases: dict[str, asyncio.Task[Case]]
) -> None:
    c = await case(cases, "L-04")
    assert_as_expected(c)
    paid, unpaid = c["INV-4A"], c["INV-4B"]

    # 19:00 in Bogotá on the due date is already the 11th in UTC: still paid on time.
    (to_paid,) = paid.entries(TimelineKind.STATE_CHANGE, to="paid")
    assert to_paid.details["from"] == "open"
    assert to_paid.at.astimezone(UTC).date() == date(2026, 3, 11)

    # The unpaid one is still open at the end of the due date (the scenario stops at 23:59
    # Bogotá, 04:59 UTC the next day) and becomes overdue at exactly 00:00 Bogotá.
    assert not unpaid.entries(TimelineKind.STATE_CHANGE, to="overdue")
    # A fired timer is only handled once the clock has passed it, hence a minute past.
    a_minute_past = local("2026-03-11", 0, BOGOTA, minute=1)
    await advance_to(stack, unpaid.handle, a_minute_past, c.result.clock_offset)
    view = await unpaid.handle.query(InvoiceCollectionWorkflow.status)
    assert view.status is InvoiceStatus.OVERDUE
    timeline = await unpaid.handle.query(InvoiceCollectionWorkflow.timeline)
    (overdue,) = [e for e in timeline if e.details.get("to") == "overdue"]
    assert overdue.details["from"] == "open"
    assert overdue.at == local("2026-03-11", 0, BOGOTA)

    text = unpaid.email_with("due_today").text or ""
    assert "10 de marzo de 2026" in text
    # Paid at 19:00 Bogotá on the due date: on time in the report too, whatever UTC says.
    assert report_of(stack, c).outcomes.paid_on_time == 1


async def test_L07_duplicate_webhooks(cases: dict[str, asyncio.Task[Case]]) -> None:
    c = await case(cases, "L-07")
    assert_as_expected(c)
    inv = c["INV-7"]

    assert inv.run.view.payment_ids == ["evt-L07-succeeded"]
    assert len(inv.entries(TimelineKind.PAYMENT)) == 1
    assert len(inv.entries(TimelineKind.STATE_CHANGE, to="paid")) == 1
    assert inv.payments == 1
    assert [(p.kind, p.payment_id) for p in inv.postings] == [("payment", "evt-L07-succeeded")]
    # The stale failure arrived after the success: no charge attempt recorded, still paid.
    assert not inv.entries(TimelineKind.CHARGE_ATTEMPT)
    assert inv.run.view.status is InvoiceStatus.PAID


async def test_L08_promise_kept(cases: dict[str, asyncio.Task[Case]]) -> None:
    c = await case(cases, "L-08")
    assert_as_expected(c)
    inv = c["INV-8"]

    (rejected,) = inv.entries(TimelineKind.PROMISE, event="rejected")
    assert "beyond the policy's maximum of 30 days" in rejected.details["reason"]
    (accepted,) = inv.entries(TimelineKind.PROMISE, event="accepted")
    assert accepted.details["promised_on"] == "2026-04-22"
    # The rejection changed nothing: the accepted promise still starts from overdue.
    (held,) = inv.entries(TimelineKind.STATE_CHANGE, to="promised")
    assert held.details["from"] == "overdue"

    during = [
        m for m in inv.messages if accepted.at <= m.scheduled_at < local("2026-04-23", 0, MEXICO)
    ]
    assert [(m.template, m.scheduled_at) for m in during] == [
        ("promise_reminder", local("2026-04-21", 10, MEXICO))
    ]
    assert "overdue_firm" not in inv.templates
    assert [t.kind for t in inv.tasks] == ["promise"]
    assert inv.entries(TimelineKind.PROMISE, event="kept") == []  # paid in full closes it


async def test_L08_promise_broken(cases: dict[str, asyncio.Task[Case]]) -> None:
    c = await case(cases, "L-08-broken")
    assert_as_expected(c)
    inv = c["INV-8"]

    (rejected,) = inv.entries(TimelineKind.PROMISE, event="rejected")
    assert "2026-04-14 is in the past" in rejected.details["reason"]
    (held,) = inv.entries(TimelineKind.STATE_CHANGE, to="promised")
    assert held.details["from"] == "overdue"

    (broken,) = inv.entries(TimelineKind.PROMISE, event="broken")
    assert broken.at == local("2026-04-23", 0, MEXICO)
    (resumed,) = inv.entries(TimelineKind.STATE_CHANGE, **{"from": "promised"})
    assert (resumed.at, resumed.details["to"]) == (broken.at, "overdue")

    during = [m for m in inv.messages if held.at <= m.scheduled_at < broken.at]
    assert [m.template for m in during] == ["promise_reminder"]
    # Dunning resumes with the step the promise held back, the remaining days kept: the
    # day 10 step was 5 days away when the promise came, and is 5 days after it broke.
    after = [(m.template, m.scheduled_at) for m in inv.messages if m.scheduled_at > broken.at]
    assert after == [
        ("overdue_firm", local("2026-04-28", 10, MEXICO)),
        ("final_notice", local("2026-05-18", 10, MEXICO)),
    ]
    assert sorted(t.kind for t in inv.tasks) == ["collector_call", "promise"]


async def test_L09_dispute_for_customer(cases: dict[str, asyncio.Task[Case]]) -> None:
    c = await case(cases, "L-09")
    assert_as_expected(c)
    inv = c["INV-9"]

    (opened,) = inv.entries(TimelineKind.DISPUTE, event="opened")
    (resolved,) = inv.entries(TimelineKind.DISPUTE, event="resolved")
    assert resolved.details["outcome"] == "customer"
    assert [t.kind for t in inv.tasks] == ["dispute"]
    assert "damaged" in inv.tasks[0].body
    assert not [t for t in inv.message_times() if t >= opened.at]
    assert await execution_status(inv) == WorkflowExecutionStatus.COMPLETED
    assert [(p.kind, p.status) for p in inv.postings] == [("status", InvoiceStatus.CANCELLED)]


async def test_L09_dispute_against_customer(cases: dict[str, asyncio.Task[Case]]) -> None:
    c = await case(cases, "L-09-against")
    assert_as_expected(c)
    inv = c["INV-9"]

    (opened,) = inv.entries(TimelineKind.DISPUTE, event="opened")
    (resolved,) = inv.entries(TimelineKind.DISPUTE, event="resolved")
    assert resolved.details["outcome"] == "creditor"
    assert [t for t in inv.message_times() if opened.at <= t <= resolved.at] == []
    assert not [e for e in inv.entries(TimelineKind.ESCALATION) if opened.at <= e.at <= resolved.at]
    # The remaining schedule resumes, moved later by the five days the dispute held it.
    after = [(m.template, m.scheduled_at) for m in inv.messages if m.scheduled_at > resolved.at]
    assert after == [
        ("overdue_firm", local("2026-04-25", 10, BOGOTA)),
        ("final_notice", local("2026-05-15", 10, BOGOTA)),
    ]
    assert [t.kind for t in inv.tasks] == ["dispute", "collector_call"]
    assert inv.postings == []  # still open: nothing to tell the ERP yet


async def test_L09_dispute_resolved_by_a_credit_note(cases: dict[str, asyncio.Task[Case]]) -> None:
    c = await case(cases, "L-09-credit")
    assert_as_expected(c)
    inv = c["INV-9"]

    (resolved,) = inv.entries(TimelineKind.DISPUTE, event="resolved")
    assert resolved.details["outcome"] == "customer"
    assert resolved.details["credit"] == "1200000.00"
    # Every message after the credit asks for what is left, not for the whole invoice.
    after = [m for m in inv.messages if m.scheduled_at > resolved.at]
    assert [m.template for m in after] == ["overdue_firm", "final_notice"]
    for message in after:
        text = inv.email_with(message.template).text or ""
        assert "$2.000.000,00 pendiente" in text, message.template
        assert "$1.200.000,00 descontado por nota de crédito" in text, message.template
        html = inv.email_with(message.template).html or ""
        assert "Nota de crédito: $1.200.000,00 descontado de esta factura" in html
    before = inv.email_with("due_today").text or ""
    assert "nota de crédito" not in before and "$3.200.000,00 pendiente" in before
    assert inv.run.view.credited == "1200000.00"
    assert inv.run.view.paid == "2000000.00"
    # The ERP hears of the credit note as of a payment: each once, with what is left.
    assert [(p.kind, p.status, str(p.amount), str(p.outstanding)) for p in inv.postings] == [
        ("credit_note", InvoiceStatus.OVERDUE, "1200000.00 COP", "2000000.00 COP"),
        ("payment", InvoiceStatus.PAID, "2000000.00 COP", "0.00 COP"),
    ]
    # Two credit notes on one invoice are two postings, each with what it left.
    twice = c["INV-9C"]
    assert [(p.kind, str(p.amount), str(p.outstanding)) for p in twice.postings] == [
        ("credit_note", "100000.00 COP", "800000.00 COP"),
        ("credit_note", "200000.00 COP", "600000.00 COP"),
        ("payment", "600000.00 COP", "0.00 COP"),
    ]
    # Credited in full, INV-9B is settled: the credit note is what the ERP hears.
    whole = c["INV-9B"]
    assert [(p.kind, p.status, str(p.outstanding)) for p in whole.postings] == [
        ("credit_note", InvoiceStatus.PAID, "0.00 COP")
    ]
    assert await execution_status(inv) == WorkflowExecutionStatus.COMPLETED


async def test_L10_same_invoice_submitted_twice(
    stack: Stack, cases: dict[str, asyncio.Task[Case]]
) -> None:
    c = await case(cases, "L-10")
    assert_as_expected(c)
    inv = c["INV-7"]

    first, again = inv.run.run_ids
    assert first and again == first
    assert len(inv.entries(TimelineKind.ISSUED)) == 1
    assert len({m.dedupe_key for m in inv.messages}) == len(inv.messages) == len(inv.emails)

    # Submitting it once more after it closed starts nothing and sends nothing.
    assert c.sim.policy is not None
    rerun = await Simulator(stack.env, stack.task_queue, c.sim.policy).run(c.sim)
    (repeat,) = rerun.invoices
    assert repeat.already_done
    assert repeat.view.status is InvoiceStatus.PAID
    assert collect(stack, rerun)["INV-7"].emails == inv.emails


def test_every_case_file_has_a_test() -> None:
    def tested(names: Iterable[str]) -> set[str]:
        return {name.split("_")[1] for name in names if name.startswith("test_L")}

    assert {"L" + p.stem.split("-")[1] for p in CASE_FILES} == tested(globals())
    autopay = {"L" + case.split("-")[1] for case in AUTOPAY_CASES}
    assert autopay <= tested(vars(test_autopay_cases))
