"""Autopay cases C-06, L-05, L-06, L-07, L-09 end to end: dev server, worker, sandbox, store, time.

The charge activity here is a scripted gateway registered under the real activity name: it
answers each (invoice, attempt) the way the case needs, the same answer for the same
idempotency key, and records every call so a test can count the charges that reached it.
A case with no script is charged for real, through the Stripe-compatible adapter to the
sandbox gateway, whose own ledger then shows every charge made. Everything else is real:
the InvoiceCollectionWorkflow, the message, CRM and ERP activities over HTTP to the
sandbox, SMTP, the SQLite store, the dev server with per-workflow time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.worker import Worker

from cobranza.activities import names
from cobranza.domain.autopay import AutopaySetup
from cobranza.domain.charges import (
    ChargeOutcome,
    ChargeRequest,
    ChargeStatus,
    PaymentMethod,
    PaymentMethodAdded,
    PaymentSettled,
)
from cobranza.domain.declines import CardNetwork, Decline, RetryRules, RetrySchedule, Schedules
from cobranza.domain.declines_file import load_retry_rules
from cobranza.domain.invoice import (
    Customer,
    DisputeOutcome,
    DisputeRequest,
    DisputeResolution,
    Invoice,
    InvoiceStatus,
    PauseRequest,
    PaymentFailed,
    PaymentReceived,
    ResumeRequest,
    TimelineEntry,
    TimelineKind,
)
from cobranza.domain.money import Money
from cobranza.integrations.sandbox.gateway_book import gateway_book
from cobranza.integrations.sandbox.server import Sandbox
from cobranza.integrations.smtp import message_id_for
from cobranza.starter.cli import read_policy
from cobranza.starter.simulate import InvoiceRun, Simulator
from cobranza.starter.simulation_input import EventKind, ScheduledEvent, SimulationInput
from cobranza.starter.temporal_env import start_server
from cobranza.store.store import Store
from cobranza.worker import (
    Endpoints,
    charging_activities,
    collection_activities,
    workflow_runner,
)
from cobranza.workflows.contact_gate import ContactGateWorkflow
from cobranza.workflows.invoice import InvoiceCollectionWorkflow

TASK_QUEUE = "autopay-cases"
STANDARD = Path(__file__).resolve().parents[2] / "cobranza" / "policies" / "standard.yaml"
MEXICO = ZoneInfo("America/Mexico_City")
LIMA = ZoneInfo("America/Lima")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NEW_YORK = ZoneInfo("America/New_York")
KUWAIT = ZoneInfo("Asia/Kuwait")
VISA_CARD = PaymentMethod(method_id="pm_visa", fingerprint="fp-visa", network=CardNetwork.VISA)
MC_CARD = PaymentMethod(method_id="pm_mc", fingerprint="fp-mc", network=CardNetwork.MASTERCARD)
DEBIT = PaymentMethod(method_id="pm_debit", fingerprint="fp-debit", kind="bank_debit")
# A sandbox test card: every charge on it is a Visa 51 (insufficient funds) soft decline.
SANDBOX_VISA_51 = PaymentMethod(
    method_id="pm_decline_visa_51", fingerprint="fp-visa-51", network=CardNetwork.VISA
)


# ---- a scripted gateway ---------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: ChargeStatus
    decline: Decline | None = None


SUCCEEDS = Answer(ChargeStatus.SUCCEEDED)
PROCESSING = Answer(ChargeStatus.PROCESSING)


def declined(
    code: str | None = None, network_code: str | None = None, advice: str | None = None
) -> Answer:
    return Answer(
        ChargeStatus.DECLINED, Decline(code=code, network_code=network_code, advice_code=advice)
    )


Charge = Callable[[ChargeRequest], Awaitable[ChargeOutcome]]


@dataclass
class ScriptedGateway:
    """Answers attempt n of an invoice with its script's n-th answer (the last one repeats);
    an invoice with an empty script goes to the real charge activity, set by the rig."""

    scripts: dict[str, list[Answer]] = field(default_factory=dict)
    calls: list[ChargeRequest] = field(default_factory=list)
    real: Charge | None = None

    @activity.defn(name=names.CHARGE_INVOICE)
    async def charge(self, req: ChargeRequest) -> ChargeOutcome:
        self.calls.append(req)
        script = self.scripts[req.invoice_id]
        if not script:
            assert self.real is not None, "the rig wires the real charge activity"
            return await self.real(req)
        answer = script[min(req.attempt, len(script)) - 1]
        has_intent = answer.status is not ChargeStatus.NO_PAYMENT_METHOD
        return ChargeOutcome(
            attempt=req.attempt,
            idempotency_key=req.idempotency_key,
            status=answer.status,
            payment_id=f"pi_{req.invoice_id}_{req.attempt}" if has_intent else None,
            method=req.method,
            decline=answer.decline,
            at=datetime.now(UTC),
        )

    def calls_for(self, invoice_id: str) -> list[ChargeRequest]:
        return [c for c in self.calls if c.invoice_id == invoice_id]


@dataclass
class Rig:
    sim: Simulator
    store: Store
    sandbox: Sandbox
    gateway: ScriptedGateway


@pytest_asyncio.fixture(scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    store = Store.from_url(f"sqlite:///{tmp_path_factory.mktemp('autopay') / 'store.db'}")
    store.create_all()
    env = await start_server(db_file=None, fast_timers=True)
    gateway = ScriptedGateway()
    try:
        with Sandbox(0, 0, seed=7) as sandbox:
            endpoints = Endpoints.for_sandbox(sandbox)
            async with (
                collection_activities(store, endpoints) as acts,
                charging_activities(store, endpoints) as charging,
            ):
                gateway.real = charging.charge_invoice
                # The real charge activity may be registered by the collection activities one
                # day; the scripted one takes its place here.
                others = [a for a in acts.all() if _activity_name(a) != names.CHARGE_INVOICE]
                worker = Worker(
                    env.client,
                    task_queue=TASK_QUEUE,
                    workflows=[InvoiceCollectionWorkflow, ContactGateWorkflow],
                    activities=[*others, gateway.charge],
                    workflow_runner=workflow_runner(),
                )
                async with worker:
                    policy = read_policy(STANDARD)
                    sim = Simulator(env, TASK_QUEUE, policy, autopay=_setup_of)
                    yield Rig(sim, store, sandbox, gateway)
    finally:
        await env.shutdown()
        store.dispose()


def _activity_name(fn: Callable[..., Any]) -> str | None:
    defn = getattr(fn, "__temporal_activity_definition", None)
    return getattr(defn, "name", None)


# Each case's invoice carries its autopay setup here, looked up by invoice id.
SETUPS: dict[str, AutopaySetup | None] = {}


def _setup_of(invoice: Invoice) -> AutopaySetup | None:
    return SETUPS.get(invoice.invoice_id)


# ---- building cases -------------------------------------------------------------------------


def rules(soft_hours: tuple[int, ...], max_attempts: int = 40) -> RetryRules:
    """The shipped taxonomy and network limits with a plain schedule (no paydays)."""
    schedules = Schedules(
        soft=RetrySchedule(delays_hours=soft_hours),
        gateway_error=RetrySchedule(delays_hours=(1,)),
    )
    return load_retry_rules().model_copy(
        update={"schedules": schedules, "max_attempts": max_attempts}
    )


@dataclass
class Case:
    invoice_id: str
    zone: ZoneInfo
    method: PaymentMethod | None
    answers: list[Answer]
    retry_rules: RetryRules | None = None
    events: list[tuple[datetime, EventKind, Any]] = field(default_factory=list)
    until: datetime | None = None
    country: str = "MX"
    currency: str = "MXN"
    amount: str = "1000.00"

    def invoice(self) -> Invoice:
        customer = Customer(
            tenant="autopay",
            customer_id=f"C-{self.invoice_id}",
            name="Cliente Autopay",
            email=f"{self.invoice_id.lower()}@customers.example.com",
            country=self.country,
            timezone=str(self.zone),
            locale="es_MX",
        )
        return Invoice(
            invoice_id=self.invoice_id,
            customer=customer,
            amount=Money.parse(self.amount, self.currency),
            issued_on=date(2026, 3, 11),
            due_on=date(2026, 4, 10),
        )

    def simulation(self) -> SimulationInput:
        events = [
            ScheduledEvent(at=at, invoice_id=self.invoice_id, kind=kind, payload=p, source="test")
            for at, kind, p in self.events
        ]
        return SimulationInput(
            name=self.invoice_id, invoices=[self.invoice()], events=events, until=self.until
        )


@dataclass
class Outcome:
    run: InvoiceRun
    calls: list[ChargeRequest]
    templates: list[str]
    emails: dict[str, str]
    postings: list[Any]
    link: str

    @property
    def status(self) -> InvoiceStatus:
        return self.run.view.status

    def charges(self) -> list[TimelineEntry]:
        return [
            e
            for e in self.run.timeline
            if e.kind is TimelineKind.CHARGE_ATTEMPT and "result" in e.details
        ]

    def entries(self, kind: TimelineKind, **details: Any) -> list[TimelineEntry]:
        return [
            e
            for e in self.run.timeline
            if e.kind is kind and all(e.details.get(k) == v for k, v in details.items())
        ]


async def run(rig: Rig, case: Case) -> Outcome:
    rig.gateway.scripts[case.invoice_id] = case.answers
    SETUPS[case.invoice_id] = AutopaySetup(
        method=case.method, rules=case.retry_rules or load_retry_rules()
    )
    result = await rig.sim.run(case.simulation())
    (inv_run,) = result.invoices
    wf = inv_run.invoice.workflow_id
    messages = [m for m in rig.store.messages(tenant="autopay") if case.invoice_id in m.invoice_ids]
    by_id = {e.message_id: e.text or "" for e in rig.sandbox.messages()}
    emails = {m.template: by_id.get(message_id_for(m.dedupe_key), "") for m in messages}
    postings = [p for p in rig.sandbox.postings() if (p.idempotency_key or "").startswith(wf)]
    (link,) = [p.url for p in rig.sandbox.payment_links() if p.idempotency_key == f"{wf}:link"]
    return Outcome(
        inv_run,
        rig.gateway.calls_for(case.invoice_id),
        [m.template for m in messages],
        emails,
        postings,
        link,
    )


def local(day: str, hour: int, zone: ZoneInfo, minute: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), zone).replace(
        hour=hour, minute=minute
    )


def charge_times(outcome: Outcome, zone: ZoneInfo) -> list[datetime]:
    return [e.at.astimezone(zone) for e in outcome.charges() if "attempt" in e.details]


# ---- C-06 card retries by decline -----------------------------------------------------------


async def test_C06_visa_46_never_retried_and_new_method_asked(rig: Rig) -> None:
    out = await run(
        rig,
        Case(
            "INV-C06-V46",
            MEXICO,
            VISA_CARD,
            [declined("card_declined", network_code="46"), SUCCEEDS],
            until=local("2026-05-05", 0, MEXICO),
        ),
    )
    assert [c.attempt for c in out.calls] == [1]
    (charge,) = out.charges()
    assert charge.details["category"] == "hard"
    assert "visa 46" in charge.details["reason"]
    assert charge.at == local("2026-04-10", 10, MEXICO)
    # A message asking for a new method, with the payment link, and dunning goes on.
    assert "payment_method_declined" in out.templates
    assert "payment_method_needed" not in out.templates
    assert f"Pague en línea: {out.link}" in out.emails["payment_method_declined"]
    assert "waiting for a new payment method" in (out.run.view.autopay or "")
    assert out.status is InvoiceStatus.OVERDUE
    assert "overdue" in out.templates and "overdue_firm" in out.templates
    assert out.run.view.dunning_level >= 1


async def test_C06_insufficient_funds_retried_on_schedule(rig: Rig) -> None:
    out = await run(
        rig,
        Case(
            "INV-C06-NSF",
            MEXICO,
            VISA_CARD,
            [declined("insufficient_funds", network_code="51")] * 2 + [SUCCEEDS],
        ),
    )
    # Shipped schedule: 24 h after the first decline, then 48 h moved to the payday (15th).
    assert charge_times(out, MEXICO) == [
        local("2026-04-10", 10, MEXICO),
        local("2026-04-11", 10, MEXICO),
        local("2026-04-15", 10, MEXICO),
    ]
    wf = out.run.invoice.workflow_id
    assert [c.idempotency_key for c in out.calls] == [f"{wf}/charge/{n}" for n in (1, 2, 3)]
    first = out.charges()[0]
    assert first.details["category"] == "soft"
    assert first.details["retry_at"] == local("2026-04-11", 10, MEXICO).astimezone(UTC).isoformat()
    assert out.status is InvoiceStatus.PAID
    assert out.run.view.payment_ids == ["pi_INV-C06-NSF_3"]
    assert [p.kind for p in out.postings] == ["payment"]


async def test_C06_sixteenth_reattempt_in_30_days_never_made(rig: Rig) -> None:
    out = await run(
        rig,
        Case(
            "INV-C06-LIMIT",
            MEXICO,
            VISA_CARD,
            [declined("insufficient_funds")],
            retry_rules=rules(soft_hours=(24,) * 30),
            until=local("2026-05-20", 0, MEXICO),
        ),
    )
    # The first charge and 15 reattempts, a day apart; the 16th reattempt is never made.
    assert [c.attempt for c in out.calls] == list(range(1, 17))
    times = charge_times(out, MEXICO)
    assert times == [local("2026-04-10", 10, MEXICO) + timedelta(days=d) for d in range(16)]
    last = out.charges()[-1]
    assert "15 reattempts in 30 days" in last.details["reason"]
    assert "retry_at" not in last.details
    assert out.status is not InvoiceStatus.PAID


async def test_C06_mastercard_advice_25_waits_24_hours(rig: Rig) -> None:
    out = await run(
        rig,
        Case(
            "INV-C06-MC25",
            MEXICO,
            MC_CARD,
            [declined("try_again_later", advice="25"), SUCCEEDS],
            # Without the advice code this schedule would retry one hour later.
            retry_rules=rules(soft_hours=(1, 1, 1)),
        ),
    )
    first, second = charge_times(out, MEXICO)
    assert second - first == timedelta(hours=24)
    assert out.status is InvoiceStatus.PAID


async def test_C06_mastercard_advice_03_never_again_on_that_card(rig: Rig) -> None:
    out = await run(
        rig,
        Case(
            "INV-C06-MC03",
            MEXICO,
            MC_CARD,
            [declined("card_declined", advice="03"), SUCCEEDS],
            events=[
                # The same card again: refused without a charge.
                (
                    local("2026-04-12", 12, MEXICO),
                    EventKind.METHOD_ADDED,
                    PaymentMethodAdded(method=MC_CARD, added_at=local("2026-04-12", 12, MEXICO)),
                )
            ],
            until=local("2026-04-20", 0, MEXICO),
        ),
    )
    assert [c.attempt for c in out.calls] == [1]
    assert out.charges()[0].details["category"] == "hard"
    (refused,) = out.entries(TimelineKind.CHARGE_ATTEMPT, event="method_refused")
    assert "never again" in refused.details["reason"]
    assert "payment_method_declined" in out.templates
    assert out.status is InvoiceStatus.OVERDUE


# ---- L-05 payment processing ----------------------------------------------------------------


def _l05(invoice_id: str, events: list[tuple[datetime, EventKind, Any]], until: str) -> Case:
    return Case(
        invoice_id,
        LIMA,
        DEBIT,
        [PROCESSING, declined("insufficient_funds"), SUCCEEDS],
        events=events,
        until=local(until, 0, LIMA),
        country="PE",
        currency="PEN",
    )


async def test_L05_processing_holds_everything(rig: Rig) -> None:
    out = await run(rig, _l05("INV-L05-HOLD", [], "2026-05-20"))
    assert [c.attempt for c in out.calls] == [1]
    assert out.status is InvoiceStatus.PROCESSING
    assert out.run.view.next_action.action == "wait for the charge to settle"
    assert "processing" in (out.run.view.autopay or "")
    # No reminder after the charge and no escalation, forty days past due.
    assert out.templates == ["invoice_issued", "upcoming"]
    assert not out.entries(TimelineKind.ESCALATION)


async def test_L05_processing_then_succeeds(rig: Rig) -> None:
    settled = local("2026-04-20", 9, LIMA)
    out = await run(
        rig,
        _l05(
            "INV-L05-OK",
            [
                (
                    settled,
                    EventKind.PAYMENT_SETTLED,
                    PaymentSettled(
                        payment_id="pi_INV-L05-OK_1", succeeded=True, settled_at=settled
                    ),
                )
            ],
            "2026-06-01",
        ),
    )
    assert [c.attempt for c in out.calls] == [1]
    assert out.status is InvoiceStatus.PAID
    assert out.run.view.payment_ids == ["pi_INV-L05-OK_1"]
    assert out.templates == ["invoice_issued", "upcoming"]
    assert not out.entries(TimelineKind.ESCALATION)
    (paid,) = out.entries(TimelineKind.STATE_CHANGE, to="paid")
    assert paid.details["from"] == "processing"
    assert [p.kind for p in out.postings] == ["payment"]


async def test_L05_processing_then_fails_resumes_dunning(rig: Rig) -> None:
    settled = local("2026-04-14", 9, LIMA)
    failure = Decline(code="insufficient_funds")
    out = await run(
        rig,
        _l05(
            "INV-L05-FAIL",
            [
                (
                    settled,
                    EventKind.PAYMENT_SETTLED,
                    PaymentSettled(
                        payment_id="pi_INV-L05-FAIL_1",
                        succeeded=False,
                        settled_at=settled,
                        decline=failure,
                    ),
                )
            ],
            "2026-06-01",
        ),
    )
    # The failure resumes dunning and retries the soft decline on schedule: the next
    # charge (an insufficient-funds decline) and the one after it (paid).
    assert [c.attempt for c in out.calls] == [1, 2, 3]
    (resumed,) = out.entries(TimelineKind.STATE_CHANGE, **{"from": "processing"})
    assert resumed.at == settled and resumed.details["to"] == "overdue"
    assert out.status is InvoiceStatus.PAID
    # Reminders resumed after the failure, none while it was processing.
    assert all(
        m.at <= local("2026-04-10", 10, LIMA) or m.at >= settled
        for m in out.entries(TimelineKind.MESSAGE)
    )


async def test_L05_gateway_payment_failed_event_settles_the_processing_charge(rig: Rig) -> None:
    failed = local("2026-04-14", 9, LIMA)
    out = await run(
        rig,
        _l05(
            "INV-L05-WH",
            [
                (
                    failed,
                    EventKind.PAYMENT_FAILED,
                    PaymentFailed(
                        attempt_id="pi_INV-L05-WH_1", failed_at=failed, reason="insufficient_funds"
                    ),
                )
            ],
            "2026-06-01",
        ),
    )
    (resumed,) = out.entries(TimelineKind.STATE_CHANGE, **{"from": "processing"})
    assert resumed.at == failed
    first = [e for e in out.charges() if e.details.get("attempt") == 1]
    assert [e.details["result"] for e in first] == ["processing", "declined"]
    assert first[-1].details["category"] == "soft"
    assert [c.attempt for c in out.calls] == [1, 2, 3]
    assert out.status is InvoiceStatus.PAID


# ---- L-06 no payment method on file ---------------------------------------------------------


async def test_L06_no_method_then_method_added_charges_at_once(rig: Rig) -> None:
    added = local("2026-04-12", 16, SAO_PAULO)
    out = await run(
        rig,
        Case(
            "INV-L06",
            SAO_PAULO,
            None,
            [SUCCEEDS],
            events=[
                (
                    added,
                    EventKind.METHOD_ADDED,
                    PaymentMethodAdded(method=VISA_CARD, added_at=added),
                )
            ],
            country="BR",
            currency="BRL",
        ),
    )
    none, charge = out.charges()
    # Not a decline: no gateway call, no attempt number, nothing for the retry rules.
    assert none.details["result"] == "no_payment_method"
    assert "attempt" not in none.details
    assert none.at == local("2026-04-10", 10, SAO_PAULO)
    assert "payment_method_needed" in out.templates
    assert out.link in out.emails["payment_method_needed"]
    # The method added two days later is charged at that very instant.
    assert [c.attempt for c in out.calls] == [1]
    assert charge.at == added and charge.details["by_method_added"] is True
    assert out.status is InvoiceStatus.PAID
    assert [p.kind for p in out.postings] == ["payment"]


async def test_the_same_method_added_twice_keeps_the_decline_schedule(rig: Rig) -> None:
    """A payment_method_added delivered again (a redelivered webhook, a signal sent twice)
    after the card soft-declined must not charge it again ahead of its 72-hour retry."""
    added = local("2026-04-09", 12, MEXICO)
    event = PaymentMethodAdded(method=VISA_CARD, added_at=added)
    out = await run(
        rig,
        Case(
            "INV-TWICE",
            MEXICO,
            None,
            [declined("insufficient_funds")],
            retry_rules=rules(soft_hours=(72,) * 10),
            events=[
                (added, EventKind.METHOD_ADDED, event),
                (local("2026-04-10", 12, MEXICO), EventKind.METHOD_ADDED, event),
            ],
            until=local("2026-04-12", 0, MEXICO),
        ),
    )
    assert [c.attempt for c in out.calls] == [1]
    assert charge_times(out, MEXICO) == [local("2026-04-10", 10, MEXICO)]
    seen = [e.details.get("event", "") for e in out.run.timeline]
    assert [e for e in seen if e.startswith("method_")] == ["method_added", "method_duplicate"]


# A second sandbox card that soft-declines every charge (insufficient funds).
SANDBOX_VISA_IF = PaymentMethod(
    method_id="pm_decline_insufficient_funds", fingerprint="fp-visa-if", network=CardNetwork.VISA
)


async def test_a_method_added_again_after_another_changes_nothing(rig: Rig) -> None:
    """Card A, then card B, then A's event redelivered: A is not put back on file nor charged
    again; the gateway charged each card once, as their first deliveries asked."""
    a = PaymentMethodAdded(method=SANDBOX_VISA_51, added_at=local("2026-04-09", 12, MEXICO))
    b = PaymentMethodAdded(method=SANDBOX_VISA_IF, added_at=local("2026-04-10", 12, MEXICO))
    out = await run(
        rig,
        Case(
            "INV-ABA",
            MEXICO,
            None,
            [],
            retry_rules=rules(soft_hours=(72,) * 10),
            events=[
                (a.added_at, EventKind.METHOD_ADDED, a),
                (b.added_at, EventKind.METHOD_ADDED, b),
                (local("2026-04-10", 14, MEXICO), EventKind.METHOD_ADDED, a),
            ],
            until=local("2026-04-12", 0, MEXICO),
        ),
    )
    wf = out.run.invoice.workflow_id
    assert ledger_keys(rig, out) == [f"{wf}/charge/1", f"{wf}/charge/2"]
    customer = out.run.invoice.customer.customer_id
    ledger = [c for c in gateway_book(rig.sandbox.state).charges() if c.customer == customer]
    assert [c.payment_method for c in ledger] == [a.method.method_id, b.method.method_id]
    # A at the due instant, B at once when added; the redelivery waits for B's retry.
    assert [to_the_minute(t) for t in charge_times(out, MEXICO)] == [
        local("2026-04-10", 10, MEXICO),
        local("2026-04-10", 12, MEXICO),
    ]
    seen = [e.details.get("event", "") for e in out.run.timeline]
    methods = ["method_added", "method_added", "method_duplicate"]
    assert [e for e in seen if e.startswith("method_")] == methods


# ---- amounts no card can be charged exactly ------------------------------------------------

# A sandbox test card every charge on which succeeds.
SANDBOX_VISA = PaymentMethod(
    method_id="pm_card_visa", fingerprint="fp-visa-ok", network=CardNetwork.VISA
)


async def test_an_amount_no_card_can_charge_exactly_stops_autopay_and_dunning_goes_on(
    rig: Rig,
) -> None:
    """12.345 KWD: gateways charge fils in tens, so no charge is ever made (none would
    succeed, each would spend the Visa retry budget); the reminders carry the payment link."""
    out = await run(
        rig,
        Case(
            "INV-KWD-INEXACT",
            KUWAIT,
            SANDBOX_VISA,
            [],
            until=local("2026-05-05", 0, KUWAIT),
            country="KW",
            currency="KWD",
            amount="12.345",
        ),
    )
    assert out.calls == [] and ledger_keys(rig, out) == []
    assert out.charges() == []
    (refused,) = out.entries(TimelineKind.CHARGE_ATTEMPT, event="charge_refused")
    assert refused.at == local("2026-04-10", 10, KUWAIT)
    assert (refused.details["amount"], refused.details["currency"]) == ("12.345", "KWD")
    assert "12.345 KWD cannot be charged exactly" in refused.details["reason"]
    assert "no more charges: 12.345 KWD cannot be charged exactly" in (out.run.view.autopay or "")
    # No message asking for another card (none would do); the reminders go out with the link.
    assert "payment_method_declined" not in out.templates
    assert "payment_method_needed" not in out.templates
    assert "upcoming" in out.templates and "overdue" in out.templates
    assert f"Pague en línea: {out.link}" in out.emails["overdue"]
    assert out.status is InvoiceStatus.OVERDUE
    assert out.run.view.dunning_level >= 1


# ---- L-07 duplicate and out-of-order webhooks on an autopay invoice -------------------------


async def test_L07_duplicate_and_stale_webhooks_on_autopay(rig: Rig) -> None:
    t = local("2026-04-11", 12, NEW_YORK)
    ok = PaymentSettled(payment_id="pi_INV-L07_2", succeeded=True, settled_at=t)
    stale = PaymentSettled(
        payment_id="pi_INV-L07_1",
        succeeded=False,
        settled_at=t,
        decline=Decline(code="card_declined"),
    )
    webhook = PaymentReceived(
        payment_id="pi_INV-L07_2", amount=Money.parse("1000.00", "USD"), received_at=t
    )
    out = await run(
        rig,
        Case(
            "INV-L07",
            NEW_YORK,
            VISA_CARD,
            [declined("insufficient_funds"), PROCESSING],
            events=[
                (t, EventKind.PAYMENT_SETTLED, ok),
                (t + timedelta(seconds=30), EventKind.PAYMENT_SETTLED, ok),
                (t + timedelta(minutes=1), EventKind.PAYMENT, webhook),
                (t + timedelta(minutes=5), EventKind.PAYMENT_SETTLED, ok),
                (t + timedelta(minutes=6), EventKind.PAYMENT_SETTLED, stale),
                (
                    t + timedelta(minutes=7),
                    EventKind.PAYMENT_FAILED,
                    PaymentFailed(attempt_id="pi_INV-L07_1", failed_at=t, reason="card_declined"),
                ),
            ],
            country="US",
            currency="USD",
        ),
    )
    assert [c.attempt for c in out.calls] == [1, 2]
    assert out.run.view.payment_ids == ["pi_INV-L07_2"]
    assert len(out.entries(TimelineKind.PAYMENT)) == 1
    assert len(out.entries(TimelineKind.STATE_CHANGE, to="paid")) == 1
    assert [(p.kind, p.payment_id) for p in out.postings] == [("payment", "pi_INV-L07_2")]
    assert out.status is InvoiceStatus.PAID
    # The stale failure, after the success, recorded nothing.
    results = [e.details.get("result") for e in out.charges()]
    assert results == ["declined", "processing", "succeeded"]


async def test_cases_run_together(rig: Rig) -> None:
    """Time skipping is per workflow: two cases at once do not disturb each other."""
    a, b = await asyncio.gather(
        run(rig, Case("INV-PAR-A", MEXICO, VISA_CARD, [SUCCEEDS])),
        run(rig, Case("INV-PAR-B", MEXICO, None, [SUCCEEDS], until=local("2026-04-12", 0, MEXICO))),
    )
    assert a.status is InvoiceStatus.PAID and a.templates == ["invoice_issued", "upcoming"]
    assert b.calls == [] and "payment_method_needed" in b.templates


# ---- L-09 no charges while disputed (or paused) ---------------------------------------------

HELD_AT = local("2026-04-10", 12, MEXICO)
RELEASED_AT = local("2026-04-24", 12, MEXICO)


def _l09(invoice_id: str, hold: tuple[EventKind, Any], release: tuple[EventKind, Any]) -> Case:
    """A sandbox card that soft-declines every charge, held two hours after the first one
    (before its retry a day later) and released two weeks after that."""
    return Case(
        invoice_id,
        MEXICO,
        SANDBOX_VISA_51,
        [],
        retry_rules=rules(soft_hours=(24,) * 10),
        events=[(HELD_AT, *hold), (RELEASED_AT, *release)],
        until=local("2026-04-27", 0, MEXICO),
    )


def to_the_minute(at: datetime) -> datetime:
    # A support action reaches the workflow a few milliseconds after its instant.
    return at.astimezone(MEXICO).replace(second=0, microsecond=0)


def ledger_keys(rig: Rig, out: Outcome) -> list[str]:
    """The idempotency keys of the charges the sandbox gateway made for this invoice."""
    customer = out.run.invoice.customer.customer_id
    book = gateway_book(rig.sandbox.state)
    return sorted(c.idempotency_key or "" for c in book.charges() if c.customer == customer)


def assert_held_then_retried(rig: Rig, out: Outcome) -> None:
    # The first charge at the due instant; nothing in the two weeks held; then the retry
    # that fell due while held goes at the release, and the next ones a day apart.
    assert [to_the_minute(t) for t in charge_times(out, MEXICO)] == [
        local("2026-04-10", 10, MEXICO),
        RELEASED_AT,
        RELEASED_AT + timedelta(days=1),
        RELEASED_AT + timedelta(days=2),
    ]
    assert {e.details["category"] for e in out.charges()} == {"soft"}
    # The timeline's four charges are the four the gateway made, one per attempt.
    wf = out.run.invoice.workflow_id
    assert ledger_keys(rig, out) == [f"{wf}/charge/{n}" for n in (1, 2, 3, 4)]
    # No reminder and no escalation while held either.
    held = [
        e
        for e in out.run.timeline
        if e.kind in (TimelineKind.MESSAGE, TimelineKind.ESCALATION)
        and HELD_AT < e.at < RELEASED_AT
    ]
    assert held == []
    assert out.status is InvoiceStatus.OVERDUE


async def test_L09_no_charges_while_disputed_and_retries_after_resolution_for_creditor(
    rig: Rig,
) -> None:
    out = await run(
        rig,
        _l09(
            "INV-L09-AUTO",
            (EventKind.DISPUTE, DisputeRequest(actor="agent", reason="goods damaged")),
            (
                EventKind.RESOLVE_DISPUTE,
                DisputeResolution(
                    actor="agent", reason="delivery proven", outcome=DisputeOutcome.CREDITOR
                ),
            ),
        ),
    )
    (disputed,) = out.entries(TimelineKind.STATE_CHANGE, to="disputed")
    assert to_the_minute(disputed.at) == HELD_AT
    assert_held_then_retried(rig, out)


async def test_L09_no_charges_while_paused_and_retries_after_resume(rig: Rig) -> None:
    out = await run(
        rig,
        _l09(
            "INV-L09-PAUSE",
            (EventKind.PAUSE, PauseRequest(actor="agent", reason="customer asked")),
            (EventKind.RESUME, ResumeRequest(actor="agent", reason="customer ready")),
        ),
    )
    (paused,) = out.entries(TimelineKind.STATE_CHANGE, to="paused")
    assert to_the_minute(paused.at) == HELD_AT
    assert_held_then_retried(rig, out)
