"""Measures the matching engine against a plain polars hash join on reference, in one run.

Data (fixed seed): exactly N open invoices (default 100,000) of N/4 customers in MXN and exactly
N statement lines: most carry the invoice number as their reference (a share of them pay only
part), some name it only in free remittance text, some come from a known payer with the exact
amount and no reference, some are one transfer paying two invoices of one customer (named in
the text, or found by amount), and some match nothing.

Timed in R interleaved rounds (default 5; each round runs all three once, so a burst of load
on the shared machine hits them alike), wall clock (process CPU time beside it: polars may use
several threads), medians reported:
- engine: `match_lines(lines, items)`, index building included, results as Python objects;
- join (lower bound): polars inner join of a lines frame and an invoices frame on the
  normalised reference, frames built beforehand, result left in polars;
- join end to end: the same join from the same Python objects (columns pulled from the
  StatementLines and OpenItems, frames built, joined, rows back as Python tuples), which is
  the boundary the engine works at.
The engine's ratio is reported against both (median of the per-round ratios); the target is
within 3x of the hash join. The join does one thing only (exact reference); the engine also
runs the other rules. The plain engine (`fast=False`, every line through the full rules) runs
in the same rounds, and its decisions are compared with the engine's.

Usage: .venv/bin/python bench/matching.py [--n N] [--rounds R] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from lifecycle_throughput import machine_info, run_and_exit, shown

from cobranza.domain.matching import OpenItem, match_lines, normalise_reference
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, StatementLine

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "results" / "matching.json"
SEED = 20260420
DAY0 = date(2026, 1, 1)
MIX = {  # share of statement lines
    "reference": 0.70,
    "partial": 0.05,
    "remittance_text": 0.08,
    "amount_customer": 0.07,
    "grouped_text": 0.03,
    "grouped_amount": 0.02,
    "unmatched": 0.05,
}


def build(n: int, seed: int) -> tuple[list[StatementLine], list[OpenItem], Counter[str]]:
    rng = random.Random(seed)
    customers = max(1, n // 4)
    items = []
    for k in range(n):
        customer = f"C{rng.randrange(customers):06d}"
        issued = DAY0 + timedelta(days=rng.randrange(90))
        items.append(
            OpenItem(
                tenant="bench",
                invoice_id=f"INV-{k:07d}",
                workflow_id=f"invoice-bench-INV-{k:07d}",
                customer_id=customer,
                customer_names=(f"Cliente {customer} SA de CV",),
                outstanding=Money(minor=rng.randrange(1_000, 5_000_000), currency="MXN"),
                issued_on=issued,
                due_on=issued + timedelta(days=30),
            )
        )
    by_customer: dict[str, list[int]] = {}
    for k, item in enumerate(items):
        by_customer.setdefault(item.customer_id, []).append(k)
    order = list(range(n))
    rng.shuffle(order)
    kinds = list(MIX)
    weights = [MIX[k] for k in kinds]
    lines: list[StatementLine] = []
    mix: Counter[str] = Counter()
    used: set[int] = set()
    pick = iter(order)
    while len(lines) < n:
        kind = rng.choices(kinds, weights)[0]
        fields: dict[str, Any] = {}
        paid: int | None = None
        if kind != "unmatched":  # money nobody owes needs no invoice of its own
            paid = next((o for o in pick if o not in used), None)
            if paid is None:
                # Every invoice is spoken for (grouped lines take two): the last few lines are
                # money nobody owes, so there are exactly n lines whatever the draw.
                kind = "unmatched"
        if paid is None:
            booked = DAY0 + timedelta(days=rng.randrange(135))
            amount = rng.randrange(1_000, 5_000_000)
            fields["reference"] = f"UNKNOWN-{len(lines)}"
            fields["counterparty_name"] = "Nadie Conocido"
        else:
            item = items[paid]
            used.add(paid)
            booked = item.issued_on + timedelta(days=rng.randrange(45))
            amount = item.outstanding.minor
            if kind in ("grouped_text", "grouped_amount"):
                others = [o for o in by_customer[item.customer_id] if o not in used]
                if not others:
                    kind = "reference"
                else:
                    other = items[others[0]]
                    used.add(others[0])
                    amount += other.outstanding.minor
                    if kind == "grouped_text":
                        fields["remittance"] = f"pago {item.invoice_id} y {other.invoice_id}"
                    else:
                        fields["counterparty_name"] = item.customer_names[0].upper()
            if kind == "reference":
                fields["reference"] = item.invoice_id
            elif kind == "partial":
                fields["reference"] = item.invoice_id
                amount = max(1, amount // 2)
            elif kind == "remittance_text":
                fields["remittance"] = f"Transferencia SPEI factura {item.invoice_id} gracias"
            elif kind == "amount_customer":
                fields["counterparty_name"] = item.customer_names[0]
        mix[kind] += 1
        lines.append(
            StatementLine(
                source="bench.xml",
                line=len(lines) + 1,
                entry_id=f"E{len(lines):07d}",
                account="012180001234567890",
                direction=Direction.CREDIT,
                amount=Money(minor=amount, currency="MXN"),
                booked_on=booked,
                **fields,
            )
        )
    if len(lines) != n or len(items) != n:
        raise SystemExit(f"generator made {len(lines)} lines for {len(items)} invoices, not {n}")
    return lines, items, mix


def interleaved(runs: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Each round runs every contender once, in turn, so a burst of load hits them alike."""
    samples: dict[str, list[float]] = {key: [] for name in runs for key in (name, f"{name}_cpu")}
    for _ in range(rounds):
        for name, fn in runs.items():
            started, cpu = time.perf_counter(), time.process_time()
            fn()
            samples[name].append(time.perf_counter() - started)
            samples[f"{name}_cpu"].append(time.process_time() - cpu)
    return samples


def frames(lines: list[StatementLine], items: list[OpenItem]) -> tuple[pl.DataFrame, pl.DataFrame]:
    left = pl.DataFrame(
        {
            "entry_id": [ln.entry_id for ln in lines],
            "reference": [normalise_reference(ln.reference or "") for ln in lines],
            "amount": [ln.amount.minor for ln in lines],
        }
    )
    right = pl.DataFrame(
        {
            "reference": [normalise_reference(i.invoice_id) for i in items],
            "invoice_id": [i.invoice_id for i in items],
            "outstanding": [i.outstanding.minor for i in items],
        }
    )
    return left, right


def join(left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    return left.join(right, on="reference", how="inner")


def join_end_to_end(lines: list[StatementLine], items: list[OpenItem]) -> list[tuple[Any, ...]]:
    left, right = frames(lines, items)
    return join(left, right).rows()


def bench(args: argparse.Namespace) -> dict[str, Any]:
    lines, items, mix = build(args.n, SEED)
    print(f"{len(lines)} lines against {len(items)} open invoices; mix {dict(mix)}")
    left, right = frames(lines, items)
    load_before = os.getloadavg()
    samples = interleaved(
        {
            "join": lambda: join(left, right),
            "join_end_to_end": lambda: join_end_to_end(lines, items),
            "engine": lambda: match_lines(lines, items),
            "plain_engine": lambda: match_lines(lines, items, fast=False),
        },
        args.rounds,
    )
    load_after = os.getloadavg()
    seconds = {name: statistics.median(values) for name, values in samples.items()}
    ratios = [e / j for e, j in zip(samples["engine"], samples["join"], strict=True)]
    ratios_e2e = [e / j for e, j in zip(samples["engine"], samples["join_end_to_end"], strict=True)]
    results = match_lines(lines, items)
    plain = match_lines(lines, items, fast=False)
    plain_s = seconds["plain_engine"]
    joined = join(left, right)
    outcomes = Counter(r.outcome.value for r in results)
    rules = Counter(r.rule.value for r in results if r.rule is not None)
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": SEED,
        "lines": len(lines),
        "open_invoices": len(items),
        "mix": dict(sorted(mix.items())),
        "rounds": args.rounds,
        "engine_seconds": round(seconds["engine"], 4),
        "join_seconds": round(seconds["join"], 4),
        "join_end_to_end_seconds": round(seconds["join_end_to_end"], 4),
        "ratio_vs_join": round(statistics.median(ratios), 2),
        "ratio_vs_join_end_to_end": round(statistics.median(ratios_e2e), 2),
        "cpu_seconds": {
            name: round(seconds[f"{name}_cpu"], 4)
            for name in ("engine", "plain_engine", "join", "join_end_to_end")
        },
        "ratio_per_round_vs_join": [round(r, 2) for r in ratios],
        "ratio_per_round_vs_join_end_to_end": [round(r, 2) for r in ratios_e2e],
        "target_ratio": 3.0,
        "plain_engine_seconds": round(plain_s, 4),
        "fast_path_speedup": round(plain_s / seconds["engine"], 2),
        "decisions_identical_to_plain_engine": results == plain,
        "join_rows": joined.height,
        "engine_outcomes": dict(sorted(outcomes.items())),
        "engine_rules": dict(sorted(rules.items())),
        "engine_lines_per_second": round(len(lines) / seconds["engine"]),
        "load_average_1m": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
        "machine": {**machine_info(), "polars": pl.__version__},
        "out": shown(args.out),
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"{'run':<22} {'seconds':>9} {'engine / it':>12}")
    print(f"{'engine (all rules)':<22} {result['engine_seconds']:>9.3f} {'':>12}")
    print(f"{'polars join':<22} {result['join_seconds']:>9.3f} {result['ratio_vs_join']:>11.2f}x")
    print(
        f"{'polars join, e2e':<22} {result['join_end_to_end_seconds']:>9.3f} "
        f"{result['ratio_vs_join_end_to_end']:>11.2f}x"
    )
    print(
        f"{'plain engine':<22} {result['plain_engine_seconds']:>9.3f} "
        f"{'':>12}  fast path {result['fast_path_speedup']}x, same decisions: "
        f"{result['decisions_identical_to_plain_engine']}"
    )
    print(f"outcomes {result['engine_outcomes']}  rules {result['engine_rules']}")
    cpu = result["cpu_seconds"]
    print(
        f"process CPU seconds (all threads): engine {cpu['engine']}, join {cpu['join']}, "
        f"join e2e {cpu['join_end_to_end']}"
    )
    load = result["load_average_1m"]
    print(f"load average (1 min) {load['before']} before, {load['after']} after, 2 cores shared")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="lines and invoices (100,000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds, median reported")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args(sys.argv[1:])
    run_and_exit(lambda: bench(args), print_table, args.out)


if __name__ == "__main__":
    main()
