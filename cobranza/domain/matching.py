"""Matching money that arrived to what is owed: pure rules, in order, never a guess.

Rules, strongest first:
1. exact reference: the line's reference (or a token of its remittance text, taken on word
   boundaries) is an invoice number, payment reference, creditor reference or CFDI UUID of
   one open item. Less than outstanding is a *partial* payment; more is an overpayment whose
   surplus becomes the customer's credit; several referenced items of one customer are a
   *grouped* payment.
2. amount + customer + date window: the payer is known by account or name and exactly one of
   their open items owes exactly the amount, issued before and due not long before the booking.
3. grouped by amount: exactly one set of that customer's open items sums to the amount
   (bounded search).
Anything else, or two equally good candidates, is an exception for a person. Only credits are
matched; debits are reported.

The rules run in two passes over the whole input, each in booking order: first every line that
names an open item (rule 1), then the lines that name none (rules 2 and 3) against what is
still owed. So a transfer that names its invoice always wins over an earlier one that only
fits it by amount, whatever the order the bank booked them in.

Indexes by reference and by payer keep a line's work constant however many items are open. A
large statement is decided by the same rules compiled over columns (matching_frames).

This module runs the rules; they live in matching_rules (over matching_index), the text they
compare in matching_text, and what they read and decide in matching_model.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from operator import attrgetter

from cobranza.domain.errors import OpenItemListedTwice
from cobranza.domain.matching_model import (
    CONFIDENCE,
    DATE_WINDOW_AFTER_DUE,
    DATE_WINDOW_BEFORE_ISSUE,
    GROUP_SEARCH_ITEMS,
    GROUP_SEARCH_STEPS,
    GROUPED_BY_AMOUNT_CONFIDENCE,
    OVERPAID,
    TEXT_PENALTY,
    UNKNOWN_PAYER,
    Allocation,
    LineMatch,
    OpenItem,
    Outcome,
    Rule,
    several_payers,
)
from cobranza.domain.matching_rules import _Matcher, subsets_summing_to
from cobranza.domain.matching_text import (
    normalise_name,
    normalise_reference,
    remittance_tokens,
)
from cobranza.domain.money import withdrawn_currencies
from cobranza.domain.statements import Direction, StatementLine

# The names matching has always offered: its callers import them from here, wherever they live.
__all__ = [
    "BOOKING_ORDER",
    "COMPILED_BOUND",
    "COMPILED_FROM",
    "CONFIDENCE",
    "DATE_WINDOW_AFTER_DUE",
    "DATE_WINDOW_BEFORE_ISSUE",
    "DEBIT",
    "DUPLICATE",
    "GROUPED_BY_AMOUNT_CONFIDENCE",
    "GROUP_SEARCH_ITEMS",
    "GROUP_SEARCH_STEPS",
    "OVERPAID",
    "TEXT_PENALTY",
    "UNKNOWN_PAYER",
    "Allocation",
    "LineMatch",
    "OpenItem",
    "Outcome",
    "Rule",
    "fits_compiled",
    "match_lines",
    "normalise_name",
    "normalise_reference",
    "remittance_tokens",
    "several_payers",
    "subsets_summing_to",
]


# From this many lines on, `fast` matching runs compiled over columns (matching_frames); below
# it, loading polars and the compiled rules costs more than the per-line rules take.
COMPILED_FROM = 2_000


def match_lines(
    lines: Iterable[StatementLine], items: Sequence[OpenItem], *, fast: bool = True
) -> list[LineMatch]:
    """Match every line against the open items; results in booking order (then file, line).

    Each line's result is in the output exactly once; an entry id seen before in the same
    input is a duplicate and changes nothing. An item whose workflow is listed twice is
    refused (OpenItemListedTwice). A large input (COMPILED_FROM lines or more) is
    decided by the compiled rules of `matching_frames` unless `fast=False`; everything else
    by `_Matcher`, one line at a time, as is input the compiled rules cannot hold: sums past
    int64 (`fits_compiled`) or text no frame can hold (a lone surrogate).
    tests/domain/test_matching_equivalence.py holds both to the same results on any input.
    Money in a withdrawn currency (DEM, FRF ...) goes to a person, saying why.
    """
    lines = list(lines)
    _refuse_items_listed_twice(items)
    return _withdrawn_to_a_person(_decided(lines, items, fast))


def _decided(lines: list[StatementLine], items: Sequence[OpenItem], fast: bool) -> list[LineMatch]:
    if fast and len(lines) >= COMPILED_FROM and fits_compiled(lines, items):
        from cobranza.domain.matching_objects import match_objects  # loaded only when needed

        try:
            return match_objects(lines, items)
        except UnicodeEncodeError:
            pass  # text no frame can hold (a lone surrogate): the per-line rules read it
    # Only acyclic objects are made here; the cyclic collector would rescan every live line
    # and invoice again and again (a third of the time at 100,000 lines) for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _match_in_passes(_Matcher(items), sorted(lines, key=BOOKING_ORDER))
    finally:
        if collecting:
            gc.enable()


def _withdrawn_to_a_person(results: list[LineMatch]) -> list[LineMatch]:
    """Credits in a withdrawn currency as exceptions naming it. No invoice can be in such a
    currency, so the rules alone would call the line an unknown payer's, or credit a known
    payer in DEM; neither tells the person what to look at."""
    withdrawn = withdrawn_currencies()
    if not any(r.line.amount.currency in withdrawn for r in results):
        return results
    return [_withdrawn_exception(r, withdrawn) for r in results]


def _withdrawn_exception(result: LineMatch, withdrawn: Mapping[str, date]) -> LineMatch:
    line = result.line
    last_used = withdrawn.get(line.amount.currency)
    if last_used is None or line.direction is not Direction.CREDIT:
        return result
    if result.outcome not in (Outcome.EXCEPTION, Outcome.CREDITED):
        return result
    return LineMatch(
        line=line,
        outcome=Outcome.EXCEPTION,
        customer_id=result.customer_id,
        tenant=result.tenant,
        reason=(
            f"no open invoice is in {line.amount.currency}, a currency withdrawn from "
            f"ISO 4217 (last in use {last_used})"
        ),
    )


def _refuse_items_listed_twice(items: Sequence[OpenItem]) -> None:
    """An invoice's lifecycle given twice would be paid as two invoices, taking twice what it
    owes, and each payment posted to it twice."""
    seen: set[str] = set()
    for item in items:
        if item.workflow_id in seen:
            raise OpenItemListedTwice(item.workflow_id, item.invoice_id)
        seen.add(item.workflow_id)


# The compiled rules sum amounts in int64; below this every sum they make fits.
COMPILED_BOUND = 2**62


def fits_compiled(lines: Sequence[StatementLine], items: Sequence[OpenItem]) -> bool:
    """Whether the compiled rules can decide these exactly: every amount, line number and sum
    of them stays within int64 (an input of trillions in a currency's minor units does not)."""
    owed = sum(abs(i.outstanding.minor) for i in items)
    largest = max((max(ln.amount.minor, ln.line) for ln in lines), default=0)
    return owed + largest < COMPILED_BOUND


BOOKING_ORDER = attrgetter("booked_on", "source", "line", "entry_id")
DUPLICATE = "entry seen earlier"
DEBIT = "money out: reported, not matched"


def _match_in_passes(matcher: _Matcher, ordered: list[StatementLine]) -> list[LineMatch]:
    """Rule 1 over every line in booking order, then rules 2 and 3 over the lines left."""
    seen: set[str] = set()
    results: list[LineMatch | None] = []
    unnamed: list[int] = []
    for line in ordered:
        if line.entry_id in seen:
            results.append(LineMatch(line, Outcome.DUPLICATE, reason=DUPLICATE))
            continue
        seen.add(line.entry_id)
        if line.direction is not Direction.CREDIT:
            results.append(LineMatch(line, Outcome.DEBIT, reason=DEBIT))
            continue
        named = matcher.by_reference(line)
        if named is None:
            unnamed.append(len(results))
        results.append(named)
    for pos in unnamed:
        results[pos] = matcher.by_payer(ordered[pos])
    return [r for r in results if r is not None]
