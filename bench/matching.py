"""Measures the matching engine against a plain polars hash join on reference, in one run.

Data (fixed seed): N open invoices (default 100,000) of N/4 customers in MXN, and N statement
lines: most carry the invoice number as their reference (a share of them pay only part),
some name it only in free remittance text, some come from a known payer with the exact amount
and no reference, some are one transfer paying two invoices of one customer (named in the
text, or found by amount), and some match nothing.

Timed, median of R rounds (default 3), single thread:
- engine: `match_lines(lines, items)`, index building included, results as Python objects;
- join (lower bound): polars inner join of a lines frame and an invoices frame on the
  normalised reference, frames built beforehand, result left in polars;
- join end to end: the same join from the same Python objects (columns pulled from the
  StatementLines and OpenItems, frames built, joined, rows back as Python tuples), which is
  the boundary the engine works at.
The engine's ratio is reported against both; the target is within 3x of the hash join.
The join does one thing only (exact reference); the engine also runs the other rules.

Usage: .venv/bin/python bench/matching.py [--n N] [--rounds R] [--out PATH]
"""

from __future__ import annotations

import argparse
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
        k = next(pick, None)
        if k is None:
            break
        if k in used:
            continue
        item = items[k]
        booked = item.issued_on + timedelta(days=rng.randrange(45))
        fields: dict[str, Any] = {}
        amount = item.outstanding.minor
        if kind in ("grouped_text", "grouped_amount"):
            others = [o for o in by_customer[item.customer_id] if o != k and o not in used]
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
        elif kind == "unmatched":
            fields["reference"] = f"UNKNOWN-{len(lines)}"
            fields["counterparty_name"] = "Nadie Conocido"
        used.add(k)
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
    return lines, items, mix


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    samples, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


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
    join_s, joined = timed(lambda: join(left, right), args.rounds)
    e2e_s, _ = timed(lambda: join_end_to_end(lines, items), args.rounds)
    engine_s, results = timed(lambda: match_lines(lines, items), args.rounds)
    outcomes = Counter(r.outcome.value for r in results)
    rules = Counter(r.rule.value for r in results if r.rule is not None)
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": SEED,
        "lines": len(lines),
        "open_invoices": len(items),
        "mix": dict(mix),
        "rounds": args.rounds,
        "engine_seconds": round(engine_s, 4),
        "join_seconds": round(join_s, 4),
        "join_end_to_end_seconds": round(e2e_s, 4),
        "ratio_vs_join": round(engine_s / join_s, 2),
        "ratio_vs_join_end_to_end": round(engine_s / e2e_s, 2),
        "target_ratio": 3.0,
        "join_rows": joined.height,
        "engine_outcomes": dict(sorted(outcomes.items())),
        "engine_rules": dict(sorted(rules.items())),
        "engine_lines_per_second": round(len(lines) / engine_s),
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
    print(f"outcomes {result['engine_outcomes']}  rules {result['engine_rules']}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="lines and invoices (100,000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds, median reported")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args(sys.argv[1:])
    run_and_exit(lambda: bench(args), print_table, args.out)


if __name__ == "__main__":
    main()
