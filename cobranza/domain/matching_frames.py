"""Matching at statement scale: lines and open items as polars frames, the rules compiled.

`match_frames` gives what `matching.match_lines(..., fast=False)` gives, as frames.
`matching_keys` turns every string into integers the way the per-line rules read it
(references normalised and looked up in the same order, remittance tokens on word
boundaries, payers by account first, then by name), reading the strings as bytes with
`matching_strings`; `matching_kernel.decide` then runs the rules over those integers in
booking order. tests/domain/test_matching_equivalence.py and test_matching_strings.py hold
both to the same decisions.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import polars as pl

from cobranza.domain import matching_kernel as kernel
from cobranza.domain import matching_keys as keys
from cobranza.domain import matching_strings as strings
from cobranza.domain.matching import (
    COMPILED_BOUND,
    CONFIDENCE,
    DATE_WINDOW_AFTER_DUE,
    DATE_WINDOW_BEFORE_ISSUE,
    DEBIT,
    DUPLICATE,
    GROUP_SEARCH_ITEMS,
    GROUP_SEARCH_STEPS,
    GROUPED_BY_AMOUNT_CONFIDENCE,
    OVERPAID,
    TEXT_PENALTY,
    UNKNOWN_PAYER,
    Outcome,
    Rule,
    several_payers,
)
from cobranza.domain.money import money_text

LINE_SCHEMA: pl.Schema = pl.Schema(
    {
        "source": pl.String(),
        "line": pl.Int64(),
        "entry_id": pl.String(),
        "direction": pl.String(),  # "credit" or "debit"
        "amount": pl.Int64(),  # minor units, positive
        "currency": pl.String(),
        "booked_on": pl.Date(),
        "reference": pl.String(),
        "references": pl.List(pl.String()),
        "remittance": pl.String(),
        "counterparty_name": pl.String(),
        "counterparty_account": pl.String(),
    }
)
ITEM_SCHEMA: pl.Schema = pl.Schema(
    {
        "tenant": pl.String(),
        "invoice_id": pl.String(),
        "workflow_id": pl.String(),
        "customer_id": pl.String(),
        "customer_names": pl.List(pl.String()),
        "customer_accounts": pl.List(pl.String()),
        "outstanding": pl.Int64(),  # minor units
        "currency": pl.String(),
        "issued_on": pl.Date(),
        "due_on": pl.Date(),
        "references": pl.List(pl.String()),
    }
)

_OUTCOMES = [Outcome.MATCHED, Outcome.CREDITED, Outcome.EXCEPTION, Outcome.DEBIT, Outcome.DUPLICATE]
_RULES = [Rule.EXACT_REFERENCE, Rule.PARTIAL, Rule.GROUPED, Rule.AMOUNT_CUSTOMER, Rule.OVERPAYMENT]


def _labels(codes: np.ndarray, labels: list[str | None]) -> pl.Series:
    """Codes 0, 1, ... as their labels; a negative code (none) as null."""
    table = pl.Series(labels, dtype=pl.String)
    at = pl.Series(np.where(codes >= 0, codes, 0).astype(np.int64))
    return table.gather(at).set(pl.Series(codes < 0), None)


_CONSTANT_REASONS = {
    kernel.NO_REASON: "",
    kernel.SEEN_EARLIER: DUPLICATE,
    kernel.MONEY_OUT: DEBIT,
    kernel.OVERPAID: OVERPAID,
    kernel.SETTLED_GROUP: "referenced invoices are settled: all of it is customer credit",
    kernel.UNKNOWN_PAYER: UNKNOWN_PAYER,
}


# Reasons by why-code: the constant ones; the others are worded per line (None here).
_REASON_LABELS: list[str | None] = [_CONSTANT_REASONS.get(k) for k in range(kernel.NO_SET + 1)]


def _confidences() -> np.ndarray:
    """Each confidence as the rules compute and round it, indexed by matching_kernel.C_*."""
    exact, partial, grouped = (
        CONFIDENCE[r] for r in (Rule.EXACT_REFERENCE, Rule.PARTIAL, Rule.GROUPED)
    )
    values = [
        round(exact, 2),
        round(exact - TEXT_PENALTY, 2),
        round(partial, 2),
        round(partial - TEXT_PENALTY, 2),
        round(grouped, 2),
        round(grouped - TEXT_PENALTY, 2),
        round(CONFIDENCE[Rule.AMOUNT_CUSTOMER], 2),
        round(GROUPED_BY_AMOUNT_CONFIDENCE, 2),
        CONFIDENCE[Rule.OVERPAYMENT],  # a credit is not rounded
    ]
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True)
class MatchedFrames:
    """What became of each line, as frames; `row` is the line's position in the input.

    lines: one row per line in booking order (row, outcome, rule, confidence, credit,
      currency, tenant, customer_id, reason); amounts in the line's minor units.
    allocations: (row, invoice_id, workflow_id, tenant, amount), in the order allocated.
    candidates: (row, invoice_id): the invoices an exception or a credit names, in order.
    """

    lines: pl.DataFrame
    allocations: pl.DataFrame
    candidates: pl.DataFrame


def match_frames(lines: pl.DataFrame, items: pl.DataFrame) -> MatchedFrames:
    """Match a frame of lines (LINE_SCHEMA) against a frame of open items (ITEM_SCHEMA), each
    item's workflow once (`matching.match_lines` refuses an item listed twice)."""
    lines = lines.select(list(LINE_SCHEMA)).cast(LINE_SCHEMA)
    items = items.select(list(ITEM_SCHEMA)).cast(ITEM_SCHEMA)
    _check(lines, items)
    n = lines.height
    with ThreadPoolExecutor(max_workers=1) as beside:
        # The items' strings are read in a second thread while this one reads the lines'
        # (the compiled loops and polars let go of the GIL): a statement uses both cores.
        # The lookup first: the lines' references wait for it, their payers for the names,
        # and the rules for the customers' invoices by due date, made while payers are found.
        # (One worker runs its tasks in turn: a task may wait on one submitted before it.)
        item_side = beside.submit(keys.item_keys, items)
        owner_side = beside.submit(keys.owners_of, items)
        printed_side = beside.submit(lambda: keys.printed(items, *owner_side.result()))
        currency_side = beside.submit(
            keys.codes, lines.get_column("currency"), items.get_column("currency")
        )
        group_side = beside.submit(
            lambda: _Groups(items, owner_side.result()[0], currency_side.result()[1])
        )
        booked = keys.booking(lines)
        active = booked.kind[booked.at] == kernel.ACTIVE  # by row
        line_strings = keys.line_keys(lines)
        hits = keys.reference_hits(line_strings, active, booked.at, item_side.result())
        unnamed = active & (np.diff(hits.ptr) == 0)[booked.at]
        item_owner, first_item = owner_side.result()
        payers = keys.payers_of(lines, unnamed, printed_side.result(), item_owner)
        line_currency, item_currency = currency_side.result()
        payer_count, payer_owner = _payer_of_each_line(payers, booked.at, n)
        groups = group_side.result()
        line_currency = line_currency[booked.order]
        line_group = groups.of(payer_owner, line_currency, payer_count == 1)
        decided = Decisions(
            *kernel.decide(
                booked.kind,
                _ints(lines.get_column("amount"))[booked.order],
                line_currency,
                _ints(lines.get_column("booked_on"))[booked.order],
                hits.ptr,
                hits.items,
                hits.from_text,
                payer_count,
                payer_owner,
                line_group,
                _ints(items.get_column("outstanding")),
                item_currency,
                item_owner,
                _ints(items.get_column("issued_on")),
                _ints(items.get_column("due_on")),
                groups.ptr,
                groups.items,
                groups.by_due,
                _confidences(),
                DATE_WINDOW_BEFORE_ISSUE.days,
                DATE_WINDOW_AFTER_DUE.days,
                GROUP_SEARCH_ITEMS,
                GROUP_SEARCH_STEPS,
            )
        )
        rows = pl.Series("row", booked.order, dtype=pl.UInt32)
        allocation_side = beside.submit(_allocations, rows, items, decided)
        owners = items.select("tenant", "customer_id").gather(first_item)
        lines_out = _lines_out(lines, booked, rows, items, owners, payers, decided)
        allocations, candidates = allocation_side.result()
    return MatchedFrames(lines_out, allocations, candidates)


def _payer_of_each_line(
    payers: keys.Payers, at: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each line in booking order: how many customers its payer may be, and which when
    there is one."""
    count = np.zeros(n, dtype=np.int64)
    owner = np.full(n, -1, dtype=np.int64)
    pos = at[payers.row]
    np.add.at(count, pos, 1)
    owner[pos] = payers.owner
    return count, owner


class FrameError(ValueError):
    """Frames the engine cannot read as they are; names the frame, column and reason."""


_REQUIRED_LINE = ["source", "line", "entry_id", "direction", "amount", "currency", "booked_on"]
_REQUIRED_ITEM = ["tenant", "invoice_id", "workflow_id", "customer_id", "outstanding"]
_REQUIRED_ITEM += ["currency", "issued_on", "due_on"]


def _check(lines: pl.DataFrame, items: pl.DataFrame) -> None:
    """What StatementLine and OpenItem would refuse, refused here too, before anything runs."""
    for frame, name, required in (
        (lines, "lines", _REQUIRED_LINE),
        (items, "items", _REQUIRED_ITEM),
    ):
        for column in required:
            if frame.get_column(column).null_count():
                raise FrameError(f"{name}.{column}: a null where a value is required")
    directions = set(lines.get_column("direction").unique().to_list()) - {"credit", "debit"}
    if directions:
        raise FrameError(f"lines.direction: {sorted(directions)} is not 'credit' or 'debit'")
    if lines.height and lines.get_column("amount").min() <= 0:  # type: ignore[operator]
        raise FrameError("lines.amount: amounts are positive (direction says which way)")
    if lines.height and lines.get_column("line").min() < 1:  # type: ignore[operator]
        raise FrameError("lines.line: line numbers count from 1, as StatementLine's do")
    # Sums of amounts must fit int64, as `matching.fits_compiled` sums them: in floats first
    # (the check itself must not overflow), exactly in Python integers near the bound.
    owed = float(items.get_column("outstanding").cast(pl.Float64).abs().sum())
    largest = lines.select(pl.max_horizontal("amount", "line").cast(pl.Float64).max()).item()
    if owed + float(largest or 0.0) >= COMPILED_BOUND / 2:
        exact = sum(abs(v) for v in items.get_column("outstanding").to_list())
        biggest = lines.select(pl.max_horizontal("amount", "line").max()).item() or 0
        if exact + biggest >= COMPILED_BOUND:
            raise FrameError(
                "lines.amount, items.outstanding: too large to sum in 64 bits; "
                "match these with matching.match_lines(..., fast=False)"
            )


def _ints(column: pl.Series) -> np.ndarray:
    """A column without nulls as int64 (dates as day numbers), whatever its length."""
    return column.cast(pl.Int64).to_numpy().astype(np.int64, copy=False)


# Where (customer, currency) keys outnumber the items this many times, only those present count.
_SPARSE = 4


class _Groups:
    """A customer's items in one currency: a contiguous range each, in input order inside."""

    def __init__(self, items: pl.DataFrame, item_owner: np.ndarray, item_currency: np.ndarray):
        self.currencies = int(item_currency.max(initial=-1)) + 1
        owners = int(item_owner.max()) + 1 if item_owner.shape[0] else 0
        key = item_owner * self.currencies + item_currency
        # A counting sort over every (customer, currency) key: with many customers in many
        # currencies (100,000 in 178: 18 million keys, 0.3 s) over the pairs present instead.
        self.present: np.ndarray | None = None
        if owners * self.currencies > _SPARSE * key.shape[0]:
            self.present, key = np.unique(key, return_inverse=True)
        grouped = kernel.group_by_key(
            key, owners * self.currencies if self.present is None else self.present.shape[0]
        )
        self.ptr: np.ndarray = grouped[0]
        self.items: np.ndarray = grouped[1]
        self.of_key: np.ndarray = grouped[2]
        self.of_item: np.ndarray = self.of_key[key]
        self.by_due = self._by_due_date(items)

    def of(self, owner: np.ndarray, currency: np.ndarray, known: np.ndarray) -> np.ndarray:
        """The group of each (owner, currency) where `known`; -1 where not, or no such group."""
        known = known & (currency < self.currencies)  # (a code no item has: no group)
        key = np.where(known, owner * self.currencies + currency, 0)
        if self.of_key.shape[0] == 0:
            return np.full(owner.shape[0], -1, dtype=np.int64)
        if self.present is not None:  # the groups are numbered as the pairs present sort
            at = np.minimum(np.searchsorted(self.present, key), self.present.shape[0] - 1)
            known = known & (self.present[at] == key)
            key = at
        found: np.ndarray = np.where(known, self.of_key[key], -1).astype(np.int64)
        return found

    def _by_due_date(self, items: pl.DataFrame) -> np.ndarray:
        """The positions of `items`, each group's range in the order of
        `matching_index._Index.by_due_date` (due date, then invoice id): where a
        grouped-by-amount search looks."""
        subset: np.ndarray = self.items
        if subset.shape[0] == 0:
            return subset
        group = self.of_item[subset]
        due = _ints(items.get_column("due_on"))[subset]
        # By group, then due date; `subset` is in input order within a group, kept by a
        # stable sort on one integer (numpy's lexsort of three keys takes ten times longer).
        span = int(due.max() - due.min()) + 1
        if (int(group.max()) + 1) * span < COMPILED_BOUND:
            at = np.argsort(group * span + (due - due.min()), kind="stable")
        else:
            at = np.lexsort((subset, due, group))
        ranked, group, due = subset[at], group[at], due[at]
        # Invoices of one group due the same day go by invoice id, as the rules sort them.
        tied = np.zeros(ranked.shape[0] + 1, dtype=np.int8)
        tied[1:-1] = (group[1:] == group[:-1]) & (due[1:] == due[:-1])
        starts = np.flatnonzero(np.diff(tied) == 1)
        ends = np.flatnonzero(np.diff(tied) == -1) + 1
        if starts.shape[0]:
            lengths = ends - starts
            in_runs = np.repeat(starts, lengths) + strings.counts_within(lengths)
            # (polars compares strings by their UTF-8 bytes: in code point order, as Python)
            ranked[in_runs] = (
                pl.DataFrame(
                    {
                        "run": np.repeat(np.arange(starts.shape[0]), lengths),
                        "invoice_id": items.get_column("invoice_id").gather(ranked[in_runs]),
                        "item": ranked[in_runs],
                    }
                )
                .sort("run", "invoice_id", "item")
                .get_column("item")
                .to_numpy()
            )
        return ranked


# -- integers back to results ---------------------------------------------------------------


class Decisions(NamedTuple):
    """What `matching_kernel.decide` returns, by name: per line in booking order, then the
    allocations (line, item, amount) and the invoices the reasons name (line, item, 0), each
    buffer valid up to its count."""

    outcome: np.ndarray
    rule: np.ndarray
    confidence: np.ndarray
    credit: np.ndarray
    why: np.ndarray
    owner: np.ndarray
    counted: np.ndarray  # customers, open invoices or exact fits a reason names
    owed: np.ndarray
    allocations: np.ndarray
    n_allocations: int
    named: np.ndarray
    n_named: int


def _allocations(
    rows: pl.Series, items: pl.DataFrame, decided: Decisions
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The kernel's allocations and named invoices as frames, item indexes as strings."""
    allocs = decided.allocations[: decided.n_allocations]
    named = decided.named[: decided.n_named]
    allocated = pl.Series(allocs[:, 1])
    allocations = pl.DataFrame(
        {
            "row": rows.gather(allocs[:, 0]),
            "invoice_id": items.get_column("invoice_id").gather(allocated),
            "workflow_id": items.get_column("workflow_id").gather(allocated),
            "tenant": items.get_column("tenant").gather(allocated),
            "amount": allocs[:, 2],
        }
    )
    candidates = pl.DataFrame(
        {
            "row": rows.gather(named[:, 0]),
            "invoice_id": items.get_column("invoice_id").gather(named[:, 1]),
        }
    )
    return allocations, candidates


def _lines_out(
    lines: pl.DataFrame,
    booked: keys.Booking,
    rows: pl.Series,
    items: pl.DataFrame,
    owners: pl.DataFrame,
    payers: keys.Payers,
    decided: Decisions,
) -> pl.DataFrame:
    """The kernel's per-line arrays as a frame: labels for codes, reasons worded."""
    named = decided.named[: decided.n_named]
    reasons = _labels(decided.why, _REASON_LABELS)
    worded = _worded(lines, booked, items, owners, payers, named, decided)
    if worded:
        at = list(worded)
        reasons = reasons.scatter(at, pl.Series([worded[p] for p in at], dtype=pl.String))
    # Lines of no known customer take the null row after the last owner.
    owner = decided.owner
    known = pl.Series(np.where(owner >= 0, owner, owners.height))
    nobody = pl.DataFrame({"tenant": [None], "customer_id": [None]}, schema=owners.schema)
    owner_rows = pl.concat([owners, nobody], rechunk=True).gather(known)
    credit = decided.credit
    return pl.DataFrame(
        {
            "row": rows,
            "outcome": _labels(decided.outcome, [o.value for o in _OUTCOMES]),
            "rule": _labels(decided.rule, [r.value for r in _RULES]),
            "confidence": decided.confidence,
            "credit": pl.Series(credit).set(pl.Series(credit < 0), None),
            "currency": lines.get_column("currency").gather(rows),
            "tenant": owner_rows.get_column("tenant"),
            "customer_id": owner_rows.get_column("customer_id"),
            "reason": reasons,
        }
    )


def _worded(
    lines: pl.DataFrame,
    booked: keys.Booking,
    items: pl.DataFrame,
    owners: pl.DataFrame,
    payers: keys.Payers,
    named: np.ndarray,
    decided: Decisions,
) -> dict[int, str]:
    """The reasons that name invoices, customers or amounts, by position in booking order."""
    why, owner = decided.why, decided.owner
    positions = np.flatnonzero(~np.isin(why, list(_CONSTANT_REASONS)))
    if positions.shape[0] == 0:
        return {}
    rows = pl.Series(booked.order[positions])
    amounts = lines.get_column("amount").gather(rows).to_list()
    currencies = lines.get_column("currency").gather(rows).to_list()
    worded = np.zeros(why.shape[0], dtype=np.bool_)
    worded[positions] = True
    wanted = named[worded[named[:, 0]]]
    invoice_of = items.get_column("invoice_id").gather(wanted[:, 1]).to_list()
    currency_of = items.get_column("currency").gather(wanted[:, 1]).to_list()
    invoices_named: dict[int, list[tuple[str, str]]] = {}
    for pos, invoice, cur in zip(wanted[:, 0].tolist(), invoice_of, currency_of, strict=True):
        invoices_named.setdefault(pos, []).append((invoice, cur))
    payer_pos = booked.at[payers.row]
    several = worded[payer_pos]
    # Only the customers these reasons name, by owner.
    customers = np.unique(np.concatenate([owner[positions], payers.owner[several]]))
    customers = customers[customers >= 0]
    customer_of = dict(
        zip(
            customers.tolist(),
            owners.get_column("customer_id").gather(customers).to_list(),
            strict=True,
        )
    )
    payer_names: dict[int, list[str]] = {}
    for pos, who in zip(payer_pos[several].tolist(), payers.owner[several].tolist(), strict=True):
        payer_names.setdefault(pos, []).append(customer_of[who])
    return {
        pos: _reason(
            int(why[pos]),
            paid,
            currency,
            customer_of[owner[pos]] if owner[pos] >= 0 else "",
            invoices_named.get(pos, []),
            payer_names.get(pos, []),
            int(decided.counted[pos]),
            int(decided.owed[pos]),
        )
        for pos, paid, currency in zip(positions.tolist(), amounts, currencies, strict=True)
    }


def _reason(
    code: int,
    paid: int,
    currency: str,
    customer: str,
    named: list[tuple[str, str]],
    payer_ids: list[str],
    count: int,
    owed: int,
) -> str:
    """A worded reason, as the per-line rules word it: `named` holds the (invoice, currency)
    the line names, `payer_ids` the customers its payer may be."""
    invoices = [inv for inv, _ in named]
    if code == kernel.SETTLED_ONE:
        return f"{invoices[0]} is already settled: all of it is customer credit"
    if code == kernel.CURRENCY_MISMATCH:
        found = ", ".join(f"{inv} in {cur}" for inv, cur in named)
        return f"currency mismatch: {currency} line, invoices {found}"
    if code == kernel.MANY_CUSTOMERS:
        return f"references invoices of {count} customers: {', '.join(invoices)}"
    if code == kernel.SEVERAL_PAYERS:
        return several_payers(payer_ids)
    money = money_text(paid, currency)
    if code == kernel.GROUP_SHORT:
        owing = money_text(owed, currency)
        return f"pays {money} of {count} referenced invoices owing {owing}: which one is short?"
    if code == kernel.EXACT_AMBIGUOUS:
        return f"{count} open invoices of {customer} owe exactly {money}"
    if code == kernel.SEVERAL_SETS:
        return f"several sets of {customer}'s open invoices sum to {money}"
    if code == kernel.SEARCH_GAVE_UP:
        return f"payer {customer} known but search gave up matches {money}"
    return f"payer {customer} known but no open invoice or set of them matches {money}"
