"""Measures the contact gate: its pure decisions per second and the Temporal actions it adds.

One run, in this order:

(1) the pure gate, no Temporal, single thread:
    (a) `first_allowed_instant` over a fixed-seed mix of cases: the shipped CO, PE, MX, CL, BR
        and US profiles, email/SMS/WhatsApp, desired instants spread over 2025, histories of
        0-6 past contacts in the 10 days before; one untimed pass fills the holiday calendars,
        then timed passes (median reported);
    (b) `GateLedger.request` + `claim` for one customer per country with many invoices (default
        20, issued every 3 days) and every contact step of the standard policy: each step asks
        at its planned instant, each member claims its slot at the slot's time, in time order,
        on a fresh ledger per round (median round reported);
(2) the gate in Temporal, on one in-memory dev server (`local_stack(temporal_db=None)`, store in
    a temporary SQLite file): the first N invoices of the IBM dataset through the Simulator
    twice, without the gate then with it, each under its own tenant so workflow ids (invoices
    and gates) never collide. A short untimed warm-up (both ways, other tenants) comes first so
    neither measured run pays the worker's first imports alone.

Counting rule for actions: exactly the one of bench/lifecycle_throughput.py (its
`count_lifecycle` is imported, not copied), applied to every invoice lifecycle of both runs
(every run id the Simulator started, each followed through continue-as-new) and, for the gated
run, to every customer's ContactGateWorkflow from its first run (found by walking back the
continued-as-new chain) to its latest. The gate's share is its workflow starts and accepted
updates (request, claim, withdraw); the invoices' share is the request/claim/withdraw
activities the gate adds and the send activities it saves by consolidating. Gate workflows do
not close (they wait to continue-as-new), so their histories are counted while running.

The invoices/s figures include the Simulator's own calls; with the gate it also drives each
customer's invoices in lockstep, stopping after every planned contact, which costs extra
describe and fast-forward calls that a production lifecycle in real time does not make.

Usage: .venv/bin/python bench/contact_gate.py [--invoices N] [--concurrency C] [--out PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# bench/ is the script's directory, hence on sys.path: the counting rule is shared, not copied.
from lifecycle_throughput import (
    ACTION_KINDS,
    DATASET,
    HistoryCount,
    count_lifecycle,
    first_invoices,
    machine_info,
    run_and_exit,
    shown,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from cobranza.domain.compliance import Decision, PastContact, first_allowed_instant
from cobranza.domain.compliance_file import load_profile
from cobranza.domain.compliance_profile import ComplianceProfile, ContactChannel
from cobranza.domain.contact_gate import ContactRequest, GateLedger
from cobranza.domain.effects import LineItem
from cobranza.domain.invoice import Channel, Customer, Invoice, TimelineKind
from cobranza.domain.money import Money
from cobranza.domain.policy import Policy, plan
from cobranza.starter.cli import DEFAULT_POLICY, read_policy
from cobranza.starter.dataset import load_ibm_csv
from cobranza.starter.simulate import SimulationRun, Simulator
from cobranza.starter.simulation_input import SimulationInput
from cobranza.starter.stack import Stack, local_stack
from cobranza.workflows.contact_gate import gate_workflow_id

ROOT = Path(__file__).parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "contact_gate.json"

COUNTRIES: dict[str, tuple[str, str]] = {
    "CO": ("America/Bogota", "COP"),
    "PE": ("America/Lima", "PEN"),
    "MX": ("America/Mexico_City", "MXN"),
    "CL": ("America/Santiago", "CLP"),
    "BR": ("America/Sao_Paulo", "BRL"),
    "US": ("America/New_York", "USD"),
}
# The channels the policies send on, weighted towards email as the standard policy is.
CHANNELS = [ContactChannel.EMAIL, ContactChannel.SMS, ContactChannel.WHATSAPP]
CHANNEL_WEIGHTS = [6, 2, 2]
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
DIRECT_SHARE = 0.25


# ---- (1a) first_allowed_instant ----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    country: str
    profile: ComplianceProfile
    channel: ContactChannel
    desired: datetime
    tz: str
    history: tuple[PastContact, ...]


def make_cases(n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    profiles = {cc: load_profile(cc) for cc in COUNTRIES}
    cases = []
    for _ in range(n):
        cc = rng.choice(list(COUNTRIES))
        desired = YEAR_START + timedelta(seconds=rng.randrange(365 * 24 * 3600))
        history = tuple(
            sorted(
                (
                    PastContact(
                        at=desired - timedelta(seconds=rng.randrange(3600, 10 * 24 * 3600)),
                        channel=rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0],
                        direct=rng.random() < DIRECT_SHARE,
                    )
                    for _ in range(rng.randint(0, 6))
                ),
                key=lambda c: c.at,
            )
        )
        channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        cases.append(Case(cc, profiles[cc], channel, desired, COUNTRIES[cc][0], history))
    return cases


def decide(case: Case) -> Decision:
    return first_allowed_instant(case.profile, case.channel, case.desired, case.tz, case.history)


def bench_decisions(n: int, seed: int, passes: int) -> dict[str, Any]:
    cases = make_cases(n, seed)
    decisions = [decide(c) for c in cases]  # untimed: fills the holiday calendars
    deferred = Counter(c.country for c, d in zip(cases, decisions, strict=True) if d.deferred)
    per_case = Counter(c.country for c in cases)
    rules = Counter(r.id for d in decisions for r in d.rules)
    rates, by_country_time = [], Counter[str]()
    for _ in range(passes):
        total = 0.0
        for case in cases:
            started = time.perf_counter()
            decide(case)
            spent = time.perf_counter() - started
            total += spent
            by_country_time[case.country] += spent
        rates.append(n / total)
    return {
        "cases": n,
        "seed": seed,
        "timed_passes": passes,
        "decisions_per_second_median": round(statistics.median(rates)),
        "decisions_per_second_passes": [round(r) for r in rates],
        "microseconds_per_decision_median": round(1e6 / statistics.median(rates), 1),
        "deferred_share": round(sum(deferred.values()) / n, 3),
        "history_contacts_mean": round(sum(len(c.history) for c in cases) / n, 2),
        "by_country": {
            cc: {
                "cases": per_case[cc],
                "decisions_per_second": round(per_case[cc] * passes / by_country_time[cc]),
                "deferred_share": round(deferred[cc] / per_case[cc], 3),
            }
            for cc in COUNTRIES
            if per_case[cc]
        },
        "rules_applied": dict(rules.most_common()),
    }


# ---- (1b) GateLedger.request + claim -----------------------------------------------------


def ledger_requests(cc: str, invoices: int, policy: Policy) -> tuple[Customer, list[Any]]:
    """One customer's contact requests, every contact step of every invoice, in time order."""
    tz, currency = COUNTRIES[cc]
    customer = Customer(tenant="bench", customer_id=f"ledger-{cc}", country=cc, timezone=tz)
    requests = []
    for i in range(invoices):
        issued = date(2025, 1, 6) + timedelta(days=3 * i)
        amount = Money(minor=100_000 + 1_000 * i, currency=currency)
        invoice = Invoice(
            invoice_id=f"{cc}-{i:03d}",
            customer=customer,
            amount=amount,
            issued_on=issued,
            due_on=issued + timedelta(days=30),
        )
        item = LineItem(
            invoice_id=invoice.invoice_id,
            amount=amount,
            outstanding=amount,
            paid=Money(minor=0, currency=currency),
            due_on=invoice.due_on,
        )
        for step in plan(policy, invoice):
            if step.channel is None:
                continue
            requests.append(
                ContactRequest(
                    workflow_id=invoice.workflow_id,
                    invoice_id=invoice.invoice_id,
                    step_key=f"{step.kind.value}-{step.index}",
                    channel=Channel(step.channel.value),
                    template=step.template or "",
                    desired_at=step.at,
                    item=item,
                )
            )
    requests.sort(key=lambda r: r.desired_at)
    return customer, requests


def replay_ledger(
    customer: Customer, profile: ComplianceProfile, requests: list[ContactRequest]
) -> Counter[str]:
    """Requests at their instants, claims at their slots' instants, interleaved in time order."""
    ledger = GateLedger(customer=customer, profile=profile)
    counts: Counter[str] = Counter()
    queue: list[tuple[datetime, int, int, Any]] = [
        (r.desired_at, 0, i, r) for i, r in enumerate(requests)
    ]
    heapq.heapify(queue)
    seq = len(requests)
    while queue:
        _, kind, _, payload = heapq.heappop(queue)
        if kind == 0:
            grant = ledger.request(payload)
            counts["requests"] += 1
            counts["deferred"] += grant.deferred
            counts["joined"] += grant.joined
            heapq.heappush(queue, (grant.at, 1, seq, (grant.slot_id, payload.workflow_id)))
            seq += 1
        else:
            claim = ledger.claim(*payload)
            counts["claims"] += 1
            counts["messages"] += claim.send
    return counts


def bench_ledger(invoices: int, rounds: int, policy: Policy) -> dict[str, Any]:
    setups = {cc: (*ledger_requests(cc, invoices, policy), load_profile(cc)) for cc in COUNTRIES}
    outcome = Counter[str]()
    for customer, requests, profile in setups.values():  # untimed warm-up, and the outcome
        outcome += replay_ledger(customer, profile, requests)
    times: list[float] = []
    by_country: dict[str, list[float]] = {cc: [] for cc in COUNTRIES}
    for _ in range(rounds):
        total = 0.0
        for cc, (customer, requests, profile) in setups.items():
            started = time.perf_counter()
            replay_ledger(customer, profile, requests)
            spent = time.perf_counter() - started
            by_country[cc].append(spent)
            total += spent
        times.append(total)
    requests_total = outcome["requests"]
    ops = outcome["requests"] + outcome["claims"]
    median = statistics.median(times)
    return {
        "customers": len(setups),
        "invoices_per_customer": invoices,
        "contact_steps_per_invoice": requests_total // (invoices * len(setups)),
        "requests": requests_total,
        "claims": outcome["claims"],
        "timed_rounds": rounds,
        "contacts_per_second_median": round(requests_total / median),
        "ledger_calls_per_second_median": round(ops / median),
        "microseconds_per_contact_median": round(1e6 * median / requests_total, 1),
        "deferred_share": round(outcome["deferred"] / requests_total, 3),
        "joined_share": round(outcome["joined"] / requests_total, 3),
        "messages_sent": outcome["messages"],
        "by_country_contacts_per_second": {
            cc: round(requests_total / len(setups) / statistics.median(t))
            for cc, t in by_country.items()
        },
    }


# ---- (2) Temporal actions with and without the gate ----------------------------------------


@dataclass
class GatedRun:
    """One Simulator pass and the actions counted from its histories."""

    tenant: str
    gate: bool
    run: SimulationRun
    closed: int = 0
    invoices: HistoryCount = field(default_factory=HistoryCount)
    gates: HistoryCount = field(default_factory=HistoryCount)
    gate_workflows: int = 0
    messages_sent: int = 0
    messages_consolidated: int = 0


def retenant(sim: SimulationInput, tenant: str) -> SimulationInput:
    """The same invoices under another tenant, so their workflow ids and gates are new."""
    invoices = [
        i.model_copy(update={"customer": i.customer.model_copy(update={"tenant": tenant})})
        for i in sim.invoices
    ]
    return sim.model_copy(update={"invoices": invoices})


def add(total: HistoryCount, part: HistoryCount) -> None:
    total.actions.update(part.actions)
    total.events += part.events
    total.runs += part.runs


async def simulate(stack: Stack, sim: SimulationInput, gate: bool, c: int) -> SimulationRun:
    simulator = Simulator(
        stack.env,
        stack.task_queue,
        read_policy(DEFAULT_POLICY),
        concurrency=c,
        contact_gate=gate,
    )
    return await simulator.run(sim)


async def first_run_id(client: Client, workflow_id: str) -> str | None:
    """The first run of a workflow that may have continued-as-new; None when it never started."""
    try:
        run_id: str | None = (await client.get_workflow_handle(workflow_id).describe()).run_id
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return run_id
        run_id = started.continued_execution_run_id


async def count_run(client: Client, sim: SimulationInput, gated: GatedRun) -> None:
    for inv in gated.run.invoices:
        desc = await client.get_workflow_handle(inv.invoice.workflow_id).describe()
        gated.closed += desc.status != WorkflowExecutionStatus.RUNNING
        for run_id in dict.fromkeys(inv.run_ids):
            add(gated.invoices, await count_lifecycle(client, inv.invoice.workflow_id, run_id))
        for entry in inv.timeline:
            if entry.kind is TimelineKind.MESSAGE and "delivered_by" not in entry.details:
                gated.messages_sent += 1
                gated.messages_consolidated += bool(entry.details.get("consolidated"))
    customers = {gate_workflow_id(i.customer) for i in sim.invoices}
    for workflow_id in sorted(customers):
        run_id = await first_run_id(client, workflow_id)
        if run_id is None:
            continue
        gated.gate_workflows += 1
        add(gated.gates, await count_lifecycle(client, workflow_id, run_id))


async def bench_temporal(args: argparse.Namespace) -> dict[str, Any]:
    sim = load_ibm_csv(DATASET)
    if sim.errors:
        raise SystemExit(f"{DATASET}: {len(sim.errors)} rows rejected, first: {sim.errors[0]}")
    sim = first_invoices(sim, args.invoices)
    warm = first_invoices(sim, args.warmup)
    runs: list[tuple[SimulationInput, GatedRun]] = []
    with tempfile.TemporaryDirectory(prefix="cobranza-bench-") as tmp:
        url = f"sqlite:///{tmp}/store.db"
        async with local_stack(temporal_db=None, database_url=url) as stack:
            if args.warmup:
                print(f"warm-up: {len(warm.invoices)} invoices without and with the gate ...")
                for gate in (False, True):
                    await simulate(stack, retenant(warm, f"warmup-{gate}"), gate, args.concurrency)
            for gate in (False, True):
                tenant = "bench-gate" if gate else "bench-nogate"
                mine = retenant(sim, tenant)
                how = "with" if gate else "without"
                n, c = len(mine.invoices), args.concurrency
                print(f"{how} gate: {n} invoices, {c} at a time ...")
                run = await simulate(stack, mine, gate, args.concurrency)
                runs.append((mine, GatedRun(tenant, gate, run)))
            print("counting actions in every invoice and gate history ...")
            for mine, gated in runs:
                await count_run(stack.env.client, mine, gated)
    return temporal_json([g for _, g in runs])


def per_lifecycle(count: HistoryCount, n: int) -> dict[str, Any]:
    return {
        "actions": round(count.total_actions / n, 2),
        "by_kind": {k: round(count.actions[k] / n, 2) for k in ACTION_KINDS if count.actions[k]},
        "events": round(count.events / n, 1),
    }


def run_json(g: GatedRun) -> dict[str, Any]:
    n = len(g.run.invoices) or 1
    total = HistoryCount()
    add(total, g.invoices)
    add(total, g.gates)
    return {
        "tenant": g.tenant,
        "invoices": len(g.run.invoices),
        "closed_lifecycles": g.closed,
        "seconds": round(g.run.elapsed_seconds, 2),
        "invoices_per_second": round(g.run.invoices_per_second, 2),
        "messages_sent": g.messages_sent,
        "messages_consolidated": g.messages_consolidated,
        "gate_workflows": g.gate_workflows,
        "gate_workflow_runs": g.gates.runs,
        "actions_total": total.total_actions,
        "per_lifecycle": {
            "invoice_histories": per_lifecycle(g.invoices, n),
            "gate_histories": per_lifecycle(g.gates, n),
            "actions": round(total.total_actions / n, 2),
        },
    }


def temporal_json(runs: list[GatedRun]) -> dict[str, Any]:
    without, with_ = (run_json(g) for g in runs)
    a, b = without["per_lifecycle"]["actions"], with_["per_lifecycle"]["actions"]
    kinds = {
        k: round(
            with_["per_lifecycle"]["invoice_histories"]["by_kind"].get(k, 0)
            + with_["per_lifecycle"]["gate_histories"]["by_kind"].get(k, 0)
            - without["per_lifecycle"]["invoice_histories"]["by_kind"].get(k, 0),
            2,
        )
        for k in ACTION_KINDS
    }
    return {
        "without_gate": without,
        "with_gate": with_,
        "difference": {
            "actions_per_lifecycle": round(b - a, 2),
            "actions_per_lifecycle_ratio": round(b / a, 3) if a else None,
            "by_kind_per_lifecycle": {k: v for k, v in kinds.items() if v},
            "invoices_per_second_ratio": round(
                with_["invoices_per_second"] / without["invoices_per_second"], 3
            )
            if without["invoices_per_second"]
            else None,
        },
    }


# ---- report --------------------------------------------------------------------------------


def print_table(result: dict[str, Any]) -> None:
    d, g = result["pure"]["first_allowed_instant"], result["pure"]["ledger"]
    print()
    print("pure gate (one thread)")
    print(
        f"  first_allowed_instant   {d['decisions_per_second_median']:>9,} decisions/s "
        f"({d['microseconds_per_decision_median']} us; {d['cases']} cases, "
        f"{d['deferred_share']:.0%} deferred)"
    )
    by = ", ".join(f"{cc} {v['decisions_per_second']:,}" for cc, v in d["by_country"].items())
    print(f"    by country /s: {by}")
    print(
        f"  ledger request+claim    {g['contacts_per_second_median']:>9,} contacts/s "
        f"({g['microseconds_per_contact_median']} us; {g['ledger_calls_per_second_median']:,} "
        f"calls/s; {g['invoices_per_customer']} invoices x {g['contact_steps_per_invoice']} steps "
        f"per customer, {g['customers']} customers)"
    )
    by = ", ".join(f"{cc} {v:,}" for cc, v in g["by_country_contacts_per_second"].items())
    print(f"    by country /s: {by}")
    t = result["temporal"]
    rows = [("without gate", t["without_gate"]), ("with gate", t["with_gate"])]
    print()
    print(
        f"{'Temporal':<13} {'invoices':>8} {'closed':>6} {'seconds':>8} {'inv/s':>6} "
        f"{'msgs':>5} {'gates':>5} {'act/invoice':>11} {'+gate':>6} {'=total':>7}"
    )
    for name, r in rows:
        p = r["per_lifecycle"]
        print(
            f"{name:<13} {r['invoices']:>8} {r['closed_lifecycles']:>6} {r['seconds']:>8.1f} "
            f"{r['invoices_per_second']:>6.2f} {r['messages_sent']:>5} {r['gate_workflows']:>5} "
            f"{p['invoice_histories']['actions']:>11.2f} {p['gate_histories']['actions']:>6.2f} "
            f"{p['actions']:>7.2f}"
        )
    diff = t["difference"]
    print(
        f"gate adds {diff['actions_per_lifecycle']:+} actions per lifecycle "
        f"(x{diff['actions_per_lifecycle_ratio']}); invoices/s ratio with/without "
        f"{diff['invoices_per_second_ratio']}"
    )
    kinds = ", ".join(f"{k} {v:+}" for k, v in diff["by_kind_per_lifecycle"].items())
    print(f"difference by kind (per lifecycle): {kinds}")


def timed(label: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    print(f"{label} ...")
    return fn()


def bench(args: argparse.Namespace) -> dict[str, Any]:
    policy = read_policy(DEFAULT_POLICY)
    decisions = timed(
        f"first_allowed_instant: {args.cases} cases, {args.passes} timed passes",
        lambda: bench_decisions(args.cases, args.seed, args.passes),
    )
    ledger = timed(
        f"ledger: {args.ledger_invoices} invoices per customer, {args.rounds} timed rounds",
        lambda: bench_ledger(args.ledger_invoices, args.rounds, policy),
    )
    temporal = asyncio.run(bench_temporal(args))
    return {
        "benchmark": "contact_gate",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "invoices": args.invoices,
            "concurrency": args.concurrency,
            "warmup_invoices": args.warmup,
            "cases": args.cases,
            "seed": args.seed,
            "ledger_invoices_per_customer": args.ledger_invoices,
            "dataset": shown(DATASET),
            "policy": shown(DEFAULT_POLICY),
            "temporal": "dev server, in memory, per-workflow time skipping enabled",
            "store": "SQLite in a temporary directory",
            "order": "warm-up both ways, then without gate, then with gate, one server",
        },
        "pure": {"first_allowed_instant": decisions, "ledger": ledger},
        "temporal": temporal,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100, help="N (default 100)")
    parser.add_argument("--concurrency", type=int, default=100, help="C (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed invoices, each way")
    parser.add_argument("--cases", type=int, default=20_000, help="first_allowed_instant cases")
    parser.add_argument("--passes", type=int, default=3, help="timed passes over the cases")
    parser.add_argument("--seed", type=int, default=20250101, help="seed for the cases")
    parser.add_argument("--ledger-invoices", type=int, default=20, help="invoices per customer")
    parser.add_argument("--rounds", type=int, default=5, help="timed ledger rounds")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args(sys.argv[1:])
    run_and_exit(lambda: bench(args), print_table, args.out)


if __name__ == "__main__":
    main()
