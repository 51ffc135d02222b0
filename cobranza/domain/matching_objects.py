"""Matching over columns for the domain's objects: StatementLines in, LineMatches out.

Building the frames and the results is most of the cost at this boundary, so each column is
built the way polars reads fastest (dates as day numbers, tuples joined and split back).
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from datetime import date
from typing import Any

import polars as pl

from cobranza.domain.matching import (
    Allocation,
    LineMatch,
    OpenItem,
    Outcome,
    Rule,
)
from cobranza.domain.matching_frames import (
    ITEM_SCHEMA,
    LINE_SCHEMA,
    MatchedFrames,
    match_frames,
)
from cobranza.domain.money import Money
from cobranza.domain.statements import StatementLine


def lines_frame(lines: Sequence[StatementLine]) -> pl.DataFrame:
    """The columns the engine reads, one row per line, in the input's order."""
    return pl.DataFrame(
        {
            "source": [ln.source for ln in lines],
            "line": [ln.line for ln in lines],
            "entry_id": [ln.entry_id for ln in lines],
            "direction": [ln.direction.value for ln in lines],
            "amount": [ln.amount.minor for ln in lines],
            "currency": [ln.amount.currency for ln in lines],
            "booked_on": _dates([ln.booked_on for ln in lines]),
            "reference": [ln.reference for ln in lines],
            "references": _lists([ln.references for ln in lines]),
            "remittance": [ln.remittance for ln in lines],
            "counterparty_name": [ln.counterparty_name for ln in lines],
            "counterparty_account": [ln.counterparty_account for ln in lines],
        },
        schema=LINE_SCHEMA,
    )


def items_frame(items: Sequence[OpenItem]) -> pl.DataFrame:
    """The columns the engine reads, one row per open item, in the input's order."""
    return pl.DataFrame(
        {
            "tenant": [i.tenant for i in items],
            "invoice_id": [i.invoice_id for i in items],
            "workflow_id": [i.workflow_id for i in items],
            "customer_id": [i.customer_id for i in items],
            "customer_names": _lists([i.customer_names for i in items]),
            "customer_accounts": _lists([i.customer_accounts for i in items]),
            "outstanding": [i.outstanding.minor for i in items],
            "currency": [i.outstanding.currency for i in items],
            "issued_on": _dates([i.issued_on for i in items]),
            "due_on": _dates([i.due_on for i in items]),
            "references": _lists([i.references for i in items]),
        },
        schema=ITEM_SCHEMA,
    )


_EPOCH = date(1970, 1, 1).toordinal()
_JOIN = "\x1f"  # unit separator: joins each tuple into one string, split again by polars


def _dates(values: list[date]) -> pl.Series:
    # Day numbers: polars reads Python ints far faster than date objects.
    return pl.Series([d.toordinal() - _EPOCH for d in values], dtype=pl.Int32).cast(pl.Date)


def _lists(values: list[tuple[str, ...]]) -> pl.Series:
    """Tuples of strings as a list column; polars builds one from Python lists slowly, so
    each tuple is joined into one string and split back, unless a string holds the joint."""
    if any(_JOIN in text for group in values for text in group):
        return pl.Series([list(group) for group in values], dtype=pl.List(pl.String))
    joined = pl.Series([_JOIN.join(group) if group else None for group in values], dtype=pl.String)
    return (
        pl.select(
            pl.when(joined.is_null())
            .then(pl.lit([], dtype=pl.List(pl.String)))
            .otherwise(joined.str.split(_JOIN))
        )
        .to_series()
        .alias("")
    )


def match_objects(lines: Sequence[StatementLine], items: Sequence[OpenItem]) -> list[LineMatch]:
    """`match_frames` from and to the domain's objects: what `match_lines` gives. Amounts must
    fit int64 (`match_lines` checks `fits_compiled` first; match_frames refuses larger sums)."""
    return as_line_matches(match_frames(lines_frame(lines), items_frame(items)), lines)


def as_line_matches(matched: MatchedFrames, lines: Sequence[StatementLine]) -> list[LineMatch]:
    """The frames as `LineMatch` objects of the lines they were made from, in booking order."""
    # Only acyclic objects are made here; the cyclic collector would rescan all of them
    # again and again as they are made, for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _line_matches(matched, lines)
    finally:
        if collecting:
            gc.enable()


def _line_matches(matched: MatchedFrames, lines: Sequence[StatementLine]) -> list[LineMatch]:
    allocated: dict[int, list[Allocation]] = {}
    columns = matched.allocations.get_columns()
    for row, invoice, workflow, tenant, minor in zip(*(c.to_list() for c in columns), strict=True):
        amount = lines[row].amount
        share = amount if minor == amount.minor else _money(minor, amount.currency)
        shares = allocated.get(row)
        if shares is None:
            allocated[row] = [Allocation(invoice, workflow, tenant, share)]
        else:
            shares.append(Allocation(invoice, workflow, tenant, share))
    named: dict[int, list[str]] = {}
    for row, invoice in zip(*(c.to_list() for c in matched.candidates.get_columns()), strict=True):
        named.setdefault(row, []).append(invoice)
    outcomes = {o.value: o for o in Outcome}
    rules: dict[str | None, Rule | None] = {None: None, **{r.value: r for r in Rule}}
    none: tuple[Any, ...] = ()
    return [
        LineMatch(
            lines[row],
            outcomes[outcome],
            rules[rule],
            confidence,
            tuple(allocated[row]) if row in allocated else none,
            None if credit is None else _money(credit, currency),
            customer,
            tenant,
            reason,
            tuple(named[row]) if row in named else none,
        )
        for row, outcome, rule, confidence, credit, currency, tenant, customer, reason in zip(
            *(c.to_list() for c in matched.lines.get_columns()), strict=True
        )
    ]


def _money(minor: int, currency: str) -> Money:
    return Money.model_construct(minor=minor, currency=currency)
