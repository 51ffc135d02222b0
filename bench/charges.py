"""Measures autopay charging: charges per second through the sandbox gateway, and actions per
recovered invoice.

One run, in this order:

(1) the charge activity alone, no Temporal: `ChargingActivities.charge_invoice` (store lookup,
    Stripe-compatible adapter over HTTP to the sandbox gateway on loopback, store record) for
    N invoices, C at a time, each through the sequence of charges autopay makes for its
    method kind in the seeded mix of `cobranza simulate --autopay-share` (succeeds: 1 charge;
    insufficient funds: 3 declined charges, then the new card; hard decline: 1; processing: 1),
    each charge under its own idempotency key; then every one of those requests once more, as a
    retried activity would send it, which the store answers without reaching the gateway.
    Reported: charges/s and replays/s, and the gateway's own count (it must equal the charges);
(2) autopay lifecycles in Temporal, on one in-memory dev server (`local_stack(temporal_db=None)`,
    store in a temporary SQLite file): the first M invoices of the IBM dataset, every customer
    on autopay (`AutopayMix(share=1.0)`), through the Simulator in per-workflow virtual time,
    C at a time, with the real charge activity and sandbox gateway. Reported: invoices/s,
    gateway charges per wall second, and Temporal actions per invoice recovered by autopay
    (an invoice whose timeline has a succeeded charge), counted with bench/lifecycle_throughput's
    rule (its `count_lifecycle` is imported, not copied) over every recovered invoice.

Usage: .venv/bin/python bench/charges.py [--charges-invoices N] [--invoices M] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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

from cobranza.activities.charging import ChargingActivities
from cobranza.domain.charges import ChargeRequest, PaymentMethod
from cobranza.domain.declines_file import load_retry_rules
from cobranza.domain.invoice import Invoice, TimelineKind
from cobranza.domain.money import Money
from cobranza.integrations.gateway import StripeGateway
from cobranza.integrations.sandbox.gateway_book import gateway_book
from cobranza.integrations.sandbox.server import Sandbox
from cobranza.starter.autopay_mix import NEW_CARD, TOKENS, AutopayMix, MethodKind
from cobranza.starter.cli import DEFAULT_POLICY, read_policy
from cobranza.starter.dataset import load_ibm_csv
from cobranza.starter.simulate import InvoiceRun, Simulator
from cobranza.starter.stack import local_stack
from cobranza.store.store import Store

ROOT = Path(__file__).parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "charges.json"
# Declined charges before the customer of an insufficient-funds card adds a new one: the due
# instant, +24 h and the next payday, as the shipped schedule runs in the simulation.
DECLINES_BEFORE_NEW_CARD = 3


def sequence(kind: MethodKind, invoice: Invoice) -> list[PaymentMethod]:
    """The methods autopay charges, in order, for an invoice of this kind."""
    token, network, method_kind = TOKENS[kind]
    card = PaymentMethod(
        method_id=token,
        fingerprint=f"bench-{invoice.customer.customer_id}-{kind.value}",
        network=network,
        kind=method_kind,
    )
    if kind is MethodKind.INSUFFICIENT_THEN_NEW_CARD:
        return [card] * DECLINES_BEFORE_NEW_CARD + [NEW_CARD]
    return [card]


def charge_requests(invoices: list[Invoice], mix: AutopayMix) -> list[list[ChargeRequest]]:
    """Per invoice, its charges in order (attempt 1, 2, ...), under a bench-only workflow id."""
    out = []
    for inv in invoices:
        kind = mix.kind_of(inv)
        assert kind is not None
        wf = f"bench-charges-{inv.workflow_id}"
        out.append(
            [
                ChargeRequest(
                    workflow_id=wf,
                    tenant=inv.tenant,
                    invoice_id=inv.invoice_id,
                    customer_id=inv.customer.customer_id,
                    attempt=n,
                    amount=inv.amount,
                    method=method,
                )
                for n, method in enumerate(sequence(kind, inv), start=1)
            ]
        )
    return out


async def measure_activity(
    invoices: list[Invoice], mix: AutopayMix, concurrency: int, tmp: str
) -> dict[str, Any]:
    store = Store.from_url(f"sqlite:///{tmp}/charges.db")
    store.create_all()
    requests = charge_requests(invoices, mix)
    statuses: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)
    try:
        with Sandbox(0, 0, seed=7) as sandbox:
            gateway = StripeGateway.for_sandbox(sandbox.http_url)
            acts = ChargingActivities(store=store, gateway=gateway)

            async def one_invoice(charges: list[ChargeRequest]) -> None:
                async with gate:
                    for req in charges:  # an invoice's charges go one after another
                        statuses[(await acts.charge_invoice(req)).status.value] += 1

            async def replay(req: ChargeRequest) -> None:
                async with gate:
                    await acts.charge_invoice(req)

            started = time.perf_counter()
            await asyncio.gather(*(one_invoice(c) for c in requests))
            charge_s = time.perf_counter() - started
            flat = [r for charges in requests for r in charges]
            started = time.perf_counter()
            await asyncio.gather(*(replay(r) for r in flat))
            replay_s = time.perf_counter() - started
            at_gateway = len(gateway_book(sandbox.state).charges())
            await gateway.aclose()
    finally:
        store.dispose()
    return {
        "invoices": len(requests),
        "charges": len(flat),
        "seconds": round(charge_s, 3),
        "charges_per_second": round(len(flat) / charge_s, 1),
        "answers": dict(sorted(statuses.items())),
        "replays": len(flat),
        "replay_seconds": round(replay_s, 3),
        "replays_per_second": round(len(flat) / replay_s, 1),
        "charges_at_gateway": at_gateway,
    }


def recovered(run: InvoiceRun) -> bool:
    return any(
        e.kind is TimelineKind.CHARGE_ATTEMPT and e.details.get("result") == "succeeded"
        for e in run.timeline
    )


async def measure_lifecycles(
    invoices: list[Invoice], mix: AutopayMix, concurrency: int, tmp: str
) -> dict[str, Any]:
    sim = mix.with_events(first_invoices(load_ibm_csv(DATASET), len(invoices)))
    async with local_stack(temporal_db=None, database_url=f"sqlite:///{tmp}/store.db") as stack:
        simulator = Simulator(
            stack.env,
            stack.task_queue,
            read_policy(DEFAULT_POLICY),
            concurrency=concurrency,
            autopay=mix.chooser(),
        )
        run = await simulator.run(sim)
        charges = len(gateway_book(stack.sandbox.state).charges())
        won = [r for r in run.invoices if recovered(r)]
        counts: list[HistoryCount] = [
            await count_lifecycle(stack.env.client, r.invoice.workflow_id, r.run_ids[0])
            for r in won
        ]
    n = len(counts) or 1
    actions = [c.total_actions for c in counts]
    amount: Counter[str] = Counter()
    for r in won:
        for e in r.timeline:
            if e.kind is TimelineKind.CHARGE_ATTEMPT and e.details.get("result") == "succeeded":
                cur = str(e.details["currency"])
                amount[cur] += Money.parse(str(e.details["amount"]), cur).minor
    return {
        "invoices": len(run.invoices),
        "seconds": round(run.elapsed_seconds, 2),
        "invoices_per_second": round(run.invoices_per_second, 2),
        "charges_at_gateway": charges,
        "gateway_charges_per_second": round(charges / run.elapsed_seconds, 2),
        "recovered_by_autopay": len(won),
        "recovered_amount": {
            c: str(Money(minor=m, currency=c).to_decimal()) for c, m in sorted(amount.items())
        },
        "actions_per_recovered_invoice_mean": round(sum(actions) / n, 2),
        "actions_per_recovered_invoice_max": max(actions, default=0),
        "actions_by_kind_mean": {
            k: round(sum(c.actions[k] for c in counts) / n, 2) for k in ACTION_KINDS
        },
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    sim = load_ibm_csv(DATASET)
    mix = AutopayMix(1.0, load_retry_rules())
    with tempfile.TemporaryDirectory(prefix="cobranza-bench-charges-") as tmp:
        pool = sim.invoices[: args.charges_invoices]
        print(f"charge activity: {len(pool)} invoices, {args.concurrency} at a time ...")
        activity_figures = await measure_activity(pool, mix, args.concurrency, tmp)
        lifecycles = sim.invoices[: args.invoices]
        print(f"autopay lifecycles: {len(lifecycles)} invoices, {args.concurrency} at a time ...")
        lifecycle_figures = await measure_lifecycles(lifecycles, mix, args.concurrency, tmp)
    return {
        "benchmark": "charges",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "charges_invoices": args.charges_invoices,
            "invoices": args.invoices,
            "concurrency": args.concurrency,
            "dataset": shown(DATASET),
            "mix": "AutopayMix(share=1.0, seed=7): succeeds / insufficient funds then a new card "
            "/ hard decline / processing",
            "gateway": "sandbox Stripe emulator over HTTP on loopback",
            "temporal": "dev server, in memory, per-workflow time skipping enabled",
            "store": "SQLite in a temporary directory",
        },
        "charge_activity": activity_figures,
        "autopay_lifecycles": lifecycle_figures,
    }


def print_table(result: dict[str, Any]) -> None:
    a, life = result["charge_activity"], result["autopay_lifecycles"]
    print(
        f"charge activity: {a['charges']} charges for {a['invoices']} invoices in "
        f"{a['seconds']} s = {a['charges_per_second']} charges/s; answers {a['answers']}"
    )
    print(
        f"replayed requests (retried activities): {a['replays']} in {a['replay_seconds']} s = "
        f"{a['replays_per_second']}/s; the gateway counted {a['charges_at_gateway']} charges "
        f"after them ({'none' if a['charges_at_gateway'] == a['charges'] else 'some'} "
        "charged twice)"
    )
    print(
        f"autopay lifecycles: {life['invoices']} invoices in {life['seconds']} s "
        f"({life['invoices_per_second']}/s), {life['charges_at_gateway']} charges "
        f"({life['gateway_charges_per_second']}/s); {life['recovered_by_autopay']} recovered "
        f"by autopay ({life['recovered_amount']})"
    )
    kinds = ", ".join(f"{k} {v}" for k, v in life["actions_by_kind_mean"].items() if v)
    print(
        f"actions per recovered invoice: mean {life['actions_per_recovered_invoice_mean']}, "
        f"max {life['actions_per_recovered_invoice_max']} ({kinds})"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--charges-invoices", type=int, default=500, help="N (default 500)")
    parser.add_argument("--invoices", type=int, default=200, help="M (default 200)")
    parser.add_argument("--concurrency", type=int, default=50, help="C (default 50)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args(sys.argv[1:])
    run_and_exit(lambda: asyncio.run(bench(args)), print_table, args.out)


if __name__ == "__main__":
    main()
