"""Measures the matching engine against a plain polars hash join on reference, in one run.

Data (fixed seed): exactly N open invoices (default 100,000) of N/4 customers in MXN and exactly
N statement lines: most carry the invoice number as their reference (a share of them pay only
part), some name it only in free remittance text, some come from a known payer with the exact
amount and no reference, some are one transfer paying two invoices of one customer (named in
the text, or found by amount), and some match nothing.

Timed in R interleaved rounds (default 9; each round runs every contender once, so a burst of
load on the shared machine hits them alike), wall clock (process CPU time beside it: polars
uses several threads); medians reported, and each contender's best round:
- engine: `match_frames(lines, items)` on the frames it reads (built beforehand, as the join's
  are), every rule, results left in polars;
- join on the same frames: those very frames, the line's reference and the invoice number
  normalised as matching compares them, one inner hash join, left in polars;
- plain join on the same frames: those very frames joined on the reference and the invoice
  number as they are, with no normalising (on this data, where every reference is printed
  as its invoice number, it finds the same rows): the lowest bound of all on these frames;
- join, prepared: a frame of three columns per side with the keys normalised beforehand, one
  inner join: the least any matcher could do, on input nobody sends;
- engine from objects: `match_lines(lines, items)`, StatementLines and OpenItems in and
  LineMatches out, against the join from the same objects (columns pulled, frames built,
  joined, rows back as tuples);
- per line: `match_lines(..., fast=False)`, the rules one line at a time; its decisions are
  compared with the engine's.
The target is within 3x of the hash join on the same data. Both readings are reported: against
the join that compares keys as matching does (engine / join on the same frames), and against
the plain join of the raw columns (engine / plain join on the same frames); and, for the
plain join at its best, the engine's best round against the best round of the plain join
run a second time straight after itself (warm: in the interleaved rounds each contender starts
after another one's work; how much that costs each shows as its median against its best
round, both in the output).

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

import numba
import polars as pl
from lifecycle_throughput import machine_info, run_and_exit, shown

from cobranza.domain.matching import OpenItem, match_lines, normalise_reference
from cobranza.domain.matching_frames import match_frames
from cobranza.domain.matching_objects import as_line_matches, items_frame, lines_frame
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
    """The prepared join's frames: three columns each, keys already normalised."""
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


def join_same_frames(lines: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """The engine's own input frames joined on reference, compared as matching compares it."""

    def key(column: str) -> pl.Expr:
        return pl.col(column).str.replace_all(r"\s", "").str.to_uppercase().alias("key")

    return lines.with_columns(key("reference")).join(
        items.with_columns(key("invoice_id")), on="key", how="inner"
    )


def join_plain(lines: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """The engine's own input frames joined on the raw reference and invoice number."""
    return lines.join(items, left_on="reference", right_on="invoice_id", how="inner")


def join_end_to_end(lines: list[StatementLine], items: list[OpenItem]) -> list[tuple[Any, ...]]:
    left, right = frames(lines, items)
    return join(left, right).rows()


def bench(args: argparse.Namespace) -> dict[str, Any]:
    lines, items, mix = build(args.n, SEED)
    print(f"{len(lines)} lines against {len(items)} open invoices; mix {dict(mix)}")
    left, right = frames(lines, items)
    line_rows, item_rows = lines_frame(lines), items_frame(items)
    match_frames(line_rows, item_rows)  # compiles the rules, or loads them from numba's cache
    load_before = os.getloadavg()
    samples = interleaved(
        {
            "engine": lambda: match_frames(line_rows, item_rows),
            "join_same_frames": lambda: join_same_frames(line_rows, item_rows),
            "join_plain": lambda: join_plain(line_rows, item_rows),
            "join_plain_again": lambda: join_plain(line_rows, item_rows),
            "join_prepared": lambda: join(left, right),
            "engine_objects": lambda: match_lines(lines, items),
            "join_end_to_end": lambda: join_end_to_end(lines, items),
            "per_line": lambda: match_lines(lines, items, fast=False),
        },
        args.rounds,
    )
    load_after = os.getloadavg()
    seconds = {name: statistics.median(values) for name, values in samples.items()}
    best = {name: min(values) for name, values in samples.items()}

    def ratio(engine: str, join_name: str) -> tuple[float, list[float]]:
        per_round = [e / j for e, j in zip(samples[engine], samples[join_name], strict=True)]
        return round(statistics.median(per_round), 2), [round(r, 2) for r in per_round]

    vs_same, vs_same_rounds = ratio("engine", "join_same_frames")
    vs_plain, vs_plain_rounds = ratio("engine", "join_plain")
    vs_prepared, vs_prepared_rounds = ratio("engine", "join_prepared")
    objects, objects_rounds = ratio("engine_objects", "join_end_to_end")
    matched = match_frames(line_rows, item_rows)
    results = as_line_matches(matched, lines)
    per_line = match_lines(lines, items, fast=False)
    outcomes = Counter(r.outcome.value for r in results)
    rules = Counter(r.rule.value for r in results if r.rule is not None)
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": SEED,
        "lines": len(lines),
        "open_invoices": len(items),
        "mix": dict(sorted(mix.items())),
        "rounds": args.rounds,
        "seconds": {name: round(seconds[name], 4) for name in samples if "_cpu" not in name},
        "best_seconds": {name: round(best[name], 4) for name in samples if "_cpu" not in name},
        "cpu_seconds": {
            name.removesuffix("_cpu"): round(seconds[name], 4) for name in samples if "_cpu" in name
        },
        "target_ratio": 3.0,
        "ratio_vs_join_same_frames": vs_same,
        "ratio_vs_join_plain": vs_plain,
        "ratio_vs_join_prepared": vs_prepared,
        "ratio_objects_vs_join_end_to_end": objects,
        # The plain join at its best: the engine's best round against the best round of the
        # plain join run straight after itself (warm: its memory and polars' threads ready).
        "ratio_best_vs_join_plain_warm_best": round(best["engine"] / best["join_plain_again"], 2),
        "ratio_per_round": {
            "vs_join_same_frames": vs_same_rounds,
            "vs_join_plain": vs_plain_rounds,
            "vs_join_prepared": vs_prepared_rounds,
            "objects_vs_join_end_to_end": objects_rounds,
        },
        "target_met_vs_join_same_frames": vs_same <= 3.0,
        "target_met_vs_join_plain": vs_plain <= 3.0,
        "per_line_speedup": round(seconds["per_line"] / seconds["engine_objects"], 2),
        "decisions_identical_to_per_line_rules": results == per_line,
        "join_rows": join(left, right).height,
        "join_plain_rows": join_plain(line_rows, item_rows).height,
        "engine_outcomes": dict(sorted(outcomes.items())),
        "engine_rules": dict(sorted(rules.items())),
        "engine_lines_per_second": round(len(lines) / seconds["engine"]),
        "load_average_1m": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
        "machine": {**machine_info(), "polars": pl.__version__, "numba": numba.__version__},
        "out": shown(args.out),
    }


def print_table(result: dict[str, Any]) -> None:
    seconds = result["seconds"]
    print(f"{'run':<28} {'seconds':>9}")
    for name, label in [
        ("engine", "engine (frames, all rules)"),
        ("join_same_frames", "join on the same frames"),
        ("join_plain", "plain join, raw keys"),
        ("join_plain_again", "plain join, again (warm)"),
        ("join_prepared", "join, prepared keys"),
        ("engine_objects", "engine from objects"),
        ("join_end_to_end", "join from objects"),
        ("per_line", "per-line rules"),
    ]:
        print(f"{label:<28} {seconds[name]:>9.4f}")

    def verdict(key: str) -> str:
        return "met" if result[key] else "not met"

    target = result["target_ratio"]
    print(
        f"engine / join on the same frames {result['ratio_vs_join_same_frames']}x "
        f"(target {target}x: {verdict('target_met_vs_join_same_frames')}); / plain join of "
        f"the raw keys {result['ratio_vs_join_plain']}x (target {target}x: "
        f"{verdict('target_met_vs_join_plain')}); / prepared join "
        f"{result['ratio_vs_join_prepared']}x; from objects / join from objects "
        f"{result['ratio_objects_vs_join_end_to_end']}x"
    )
    print(
        f"same decisions as the per-line rules: {result['decisions_identical_to_per_line_rules']}"
        f" ({result['per_line_speedup']}x faster from objects)"
    )
    best = result["best_seconds"]
    print(
        f"best rounds: engine {best['engine']:.4f} s, plain join run again straight after "
        f"itself {best['join_plain_again']:.4f} s: "
        f"{result['ratio_best_vs_join_plain_warm_best']}x the plain join at its best"
    )
    print(f"outcomes {result['engine_outcomes']}  rules {result['engine_rules']}")
    print(f"process CPU seconds (all threads): {result['cpu_seconds']}")
    load = result["load_average_1m"]
    print(f"load average (1 min) {load['before']} before, {load['after']} after, 2 cores shared")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="lines and invoices (100,000)")
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds, median reported")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args(sys.argv[1:])
    run_and_exit(lambda: bench(args), print_table, args.out)


if __name__ == "__main__":
    main()
