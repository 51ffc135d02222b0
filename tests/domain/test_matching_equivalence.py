"""The compiled rules over columns decide exactly what the per-line rules decide.

`match_objects` (matching_frames: polars for the strings, matching_kernel compiled with numba
for the rules) against `match_lines(..., fast=False)` (matching._Matcher, one line at a time):
the same matches, rules, confidences, credits, exceptions with their reasons and candidates,
and order, on any input: ambiguous references, currency mismatches, partials, overpayments,
grouped payments by reference and by amount, payers found by name or account, duplicates,
debits, and strings polars and Python might read differently (accents, non-ASCII spaces,
printed creditor references).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobranza.domain.matching import (
    COMPILED_FROM,
    OpenItem,
    Outcome,
    Rule,
    match_lines,
)
from cobranza.domain.matching_frames import FrameError, match_frames
from cobranza.domain.matching_objects import items_frame, lines_frame, match_objects
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, StatementLine

from .matching_results import same

CUSTOMERS = ["C1", "C2", "C3"]
CURRENCIES = ["MXN", "MXN", "MXN", "USD"]
DAY0 = date(2025, 1, 1)


@st.composite
def open_items(draw: st.DrawFn) -> list[OpenItem]:
    items = []
    for n in range(draw(st.integers(0, 10))):
        customer = draw(st.sampled_from(CUSTOMERS))
        issued = DAY0 + timedelta(days=draw(st.integers(0, 60)))
        # A shared reference ("SHARED") makes some references name two invoices.
        refs = draw(
            st.lists(
                st.sampled_from(
                    [f"REF{n}", "SHARED", f"rf{n} {n}", f"ñ{n}", f"REF\xa0{n}", "RF18539007547034"]
                ),
                max_size=2,
            )
        )
        items.append(
            OpenItem(
                tenant=draw(st.sampled_from(["t", "t", "u"])),
                invoice_id=f"INV-{n}",
                workflow_id=f"invoice-t-INV-{n}",
                customer_id=customer,
                customer_names=(draw(st.sampled_from([f"Name {customer}", f"Nàme {customer}"])),),
                customer_accounts=(f"00{CUSTOMERS.index(customer)}",),
                outstanding=Money(
                    minor=draw(st.integers(-20, 300)), currency=draw(st.sampled_from(CURRENCIES))
                ),
                issued_on=issued,
                due_on=issued + timedelta(days=30),
                references=tuple(refs),
            )
        )
    return items


@st.composite
def statement(draw: st.DrawFn, items: list[OpenItem]) -> list[StatementLine]:
    refs = [i.invoice_id for i in items] + [r for i in items for r in i.references]
    refs += [
        "SHARED",
        "ZZZ",
        "inv-0",
        " INV-1 ",
        "ñ0",
        "REF 1",
        "RF18 5390 0754 7034",
        "Ref\u20031",
    ]
    owed = [i.outstanding.minor for i in items] or [100]
    lines = []
    count = draw(st.integers(0, 14))
    for n in range(count):
        mode = draw(st.sampled_from(["reference", "reference", "text", "payer", "account", "none"]))
        picks = draw(st.lists(st.sampled_from(refs), min_size=1, max_size=3))
        # Amounts near what is owed: exact, short, over, and sums of two invoices.
        base = draw(st.sampled_from(owed)) + draw(st.sampled_from([0, 0, -1, 1, 50])) * (
            draw(st.sampled_from([1, 1, 2]))
        )
        amount = max(1, base + (draw(st.sampled_from(owed)) if draw(st.booleans()) else 0))
        who = draw(st.sampled_from([*CUSTOMERS, "C9"]))
        lines.append(
            StatementLine(
                source=draw(st.sampled_from(["a.csv", "b.xml"])),
                line=n + 1,
                entry_id=f"E{draw(st.integers(0, count))}",  # some repeat: duplicates
                account="1",
                direction=draw(st.sampled_from([Direction.CREDIT] * 5 + [Direction.DEBIT])),
                amount=Money(minor=amount, currency=draw(st.sampled_from(CURRENCIES))),
                booked_on=DAY0 + timedelta(days=draw(st.integers(0, 150))),
                reference=picks[0] if mode == "reference" else None,
                references=tuple(picks[1:]) if mode == "reference" else (),
                remittance=" ".join(picks) if mode == "text" else "",
                counterparty_name=draw(st.sampled_from(payer_names(who)))
                if mode == "payer"
                else None,
                counterparty_account=f"00{CUSTOMERS.index(who)}"
                if mode == "account" and who in CUSTOMERS
                else None,
            )
        )
    return lines


def payer_names(who: str) -> list[str]:
    """How a bank may print a customer's name: as given, with an accent, in other case."""
    return [f"NAME {who}", f"NÄME {who}", f"name-{who}"]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_compiled_and_per_line_rules_decide_the_same(data: st.DataObject) -> None:
    items = data.draw(open_items())
    lines = data.draw(statement(items))
    same(match_objects(lines, items), match_lines(lines, items, fast=False))


def test_the_same_on_a_large_mixed_statement() -> None:
    """Thousands of lines, in two files, where every rule gets its turn: the compiled rules
    take the whole statement (it is over COMPILED_FROM lines)."""
    rng = random.Random(20260420)
    items = [
        OpenItem(
            tenant="t",
            invoice_id=f"INV-{k}",
            workflow_id=f"invoice-t-INV-{k}",
            customer_id=f"C{k % 300}",
            customer_names=(f"Cliente {k % 300}",),
            customer_accounts=(f"acc-{k % 300}",),
            outstanding=Money(minor=rng.randrange(1, 2_000), currency=rng.choice(CURRENCIES)),
            issued_on=DAY0 + timedelta(days=rng.randrange(60)),
            due_on=DAY0 + timedelta(days=60 + rng.randrange(30)),
            references=("SHARED",) if k % 97 == 0 else (),
        )
        for k in range(1_200)
    ]
    lines = []
    for n in range(3_000):
        k = rng.randrange(len(items) + 50)
        target = items[k] if k < len(items) else None
        owed = target.outstanding.minor if target else rng.randrange(1, 2_000)
        kind = rng.choice(
            ["ref", "ref", "ref", "short", "over", "text", "payer", "shared", "pair", "account"]
        )
        amount = {"short": max(1, owed // 2), "over": owed + 7}.get(kind, owed)
        if kind == "pair" and target is not None and k + 300 < len(items):
            amount += items[k + 300].outstanding.minor  # two invoices of one customer
        lines.append(
            StatementLine(
                source=rng.choice(["big.csv", "other.xml"]),
                line=n + 1,
                entry_id=f"E{rng.randrange(2_900)}",
                account="1",
                direction=Direction.CREDIT,
                amount=Money(
                    minor=amount,
                    currency=target.outstanding.currency if target else rng.choice(CURRENCIES),
                ),
                booked_on=DAY0 + timedelta(days=rng.randrange(120)),
                reference=(f"INV-{k}" if kind in ("ref", "short", "over") else None)
                if kind != "shared"
                else "SHARED",
                remittance=f"pago INV-{k}" if kind == "text" else "",
                counterparty_name=f"CLIENTE {k % 300}" if kind in ("payer", "pair") else None,
                counterparty_account=f"ACC-{k % 300}" if kind == "account" else None,
            )
        )
    compiled = match_lines(lines, items)
    same(compiled, match_lines(lines, items, fast=False))
    rules = {r.rule for r in compiled}
    outcomes = {r.outcome for r in compiled}
    assert set(Rule) <= rules
    assert {Outcome.MATCHED, Outcome.CREDITED, Outcome.EXCEPTION, Outcome.DUPLICATE} <= outcomes


def test_frames_name_each_line_once_in_booking_order_with_its_allocations() -> None:
    """The frames API: one row per line (`row` = input position), allocations in minor units."""
    items = [
        OpenItem(
            tenant="t",
            invoice_id=f"INV-{k}",
            workflow_id=f"invoice-t-INV-{k}",
            customer_id="C1",
            outstanding=Money(minor=100, currency="MXN"),
            issued_on=DAY0,
            due_on=DAY0 + timedelta(days=30),
        )
        for k in range(2)
    ]
    late, early = (
        StatementLine(
            source="s.csv",
            line=n + 1,
            entry_id=f"E{n}",
            account="1",
            direction=Direction.CREDIT,
            amount=Money(minor=amount, currency="MXN"),
            booked_on=DAY0 + timedelta(days=day),
            reference=ref,
        )
        for n, (amount, day, ref) in enumerate([(150, 9, "INV-0"), (40, 2, "INV-0")])
    )
    matched = match_frames(lines_frame([late, early]), items_frame(items))

    assert matched.lines.select("row", "outcome", "rule", "credit").rows() == [
        (1, "matched", "partial", None),
        (0, "matched", "exact_reference", 90),
    ]
    assert matched.allocations.select("row", "invoice_id", "amount").rows() == [
        (1, "INV-0", 40),
        (0, "INV-0", 60),
    ]


def item_of(k: int, owed: int, **fields: Any) -> OpenItem:
    issued = fields.pop("issued_on", DAY0)
    return OpenItem(
        tenant="t",
        invoice_id=f"INV-{k}",
        workflow_id=f"invoice-t-INV-{k}",
        customer_id="C1",
        customer_names=("Name",),
        outstanding=Money(minor=owed, currency="MXN"),
        issued_on=issued,
        due_on=fields.pop("due_on", issued + timedelta(days=30)),
        **fields,
    )


def line_of(n: int, amount: int, **fields: Any) -> StatementLine:
    return StatementLine(
        source="edge.csv",
        line=n + 1,
        entry_id=f"E{n}",
        account="1",
        direction=Direction.CREDIT,
        amount=Money(minor=amount, currency="MXN"),
        booked_on=fields.pop("booked_on", DAY0),
        **fields,
    )


def test_a_group_with_an_item_owing_less_than_nothing_credits_only_what_was_not_taken() -> None:
    items = [item_of(0, 100, references=("S",)), item_of(1, -30, references=("S",))]
    lines = [line_of(0, 100, reference="S")]
    [compiled] = match_objects(lines, items)
    same([compiled], match_lines(lines, items, fast=False))
    assert compiled.credit is None and compiled.reason == ""


def test_windows_at_the_ends_of_the_calendar_are_still_windows() -> None:
    items = [item_of(0, 100, issued_on=date(1, 1, 1), due_on=date(1, 1, 1))]
    lines = [line_of(0, 100, counterparty_name="Name", booked_on=date(1, 1, 2))]
    [compiled] = match_objects(lines, items)
    same([compiled], match_lines(lines, items, fast=False))
    assert compiled.rule is Rule.AMOUNT_CUSTOMER


def test_amounts_too_large_for_64_bits_go_through_the_per_line_rules() -> None:
    """Sums past int64 would wrap in the compiled rules: such input is never given to them."""
    huge = 5 * 10**18
    items = [item_of(k, huge, references=("X",)) for k in range(2)]
    lines = [line_of(n, 9 * 10**18, reference="X") for n in range(COMPILED_FROM)]
    with pytest.raises(FrameError, match="64 bits"):
        match_objects(lines, items)
    results = match_lines(lines, items)  # falls back to the per-line rules
    assert results[0].outcome is Outcome.EXCEPTION and "which one is short" in results[0].reason
    with pytest.raises(FrameError, match="64 bits"):
        match_frames(lines_frame(lines[:1]), items_frame(items))


@pytest.mark.parametrize(
    ("column", "value", "error"),
    [
        ("amount", None, "lines.amount: a null"),
        ("direction", "CREDIT", "lines.direction: \\['CREDIT'\\]"),
        ("amount", 0, "lines.amount: amounts are positive"),
        ("currency", None, "lines.currency: a null"),
        ("line", 0, "lines.line: line numbers count from 1"),
    ],
)
def test_frames_the_rules_cannot_read_are_refused_naming_the_column(
    column: str, value: Any, error: str
) -> None:
    frame = lines_frame([line_of(0, 100, reference="INV-0")])
    bad = frame.with_columns(pl.lit(value, dtype=frame.schema[column]).alias(column))
    with pytest.raises(FrameError, match=error):
        match_frames(bad, items_frame([item_of(0, 100)]))
