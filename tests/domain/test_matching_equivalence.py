"""The fast path decides exactly what the full per-line rules decide.

`match_lines(..., fast=True)` settles a structured reference naming one open invoice inline;
`fast=False` runs every line through the rules one by one. Both must give the same matches,
rules, confidences, credits, exceptions and order on any input: ambiguous references, currency
mismatches, partials, overpayments, grouped payments, payers found by name or account,
duplicates and debits.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cobranza.domain.matching import LineMatch, OpenItem, Outcome, Rule, match_lines
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, StatementLine

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
        refs = draw(st.lists(st.sampled_from([f"REF{n}", "SHARED", f"rf{n} {n}"]), max_size=2))
        items.append(
            OpenItem(
                tenant=draw(st.sampled_from(["t", "t", "u"])),
                invoice_id=f"INV-{n}",
                workflow_id=f"invoice-t-INV-{n}",
                customer_id=customer,
                customer_names=(f"Name {customer}",),
                customer_accounts=(f"00{CUSTOMERS.index(customer)}",),
                outstanding=Money(
                    minor=draw(st.integers(0, 300)), currency=draw(st.sampled_from(CURRENCIES))
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
    refs += ["SHARED", "ZZZ", "inv-0", " INV-1 "]
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
                counterparty_name=f"NAME {who}" if mode == "payer" else None,
                counterparty_account=f"00{CUSTOMERS.index(who)}"
                if mode == "account" and who in CUSTOMERS
                else None,
            )
        )
    return lines


def same(fast: list[LineMatch], plain: list[LineMatch]) -> None:
    assert [r.line for r in fast] == [r.line for r in plain]
    for f, p in zip(fast, plain, strict=True):
        assert f == p, f"{f.line.entry_id}: fast {f} != plain {p}"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fast_path_and_per_line_rules_decide_the_same(data: st.DataObject) -> None:
    items = data.draw(open_items())
    lines = data.draw(statement(items))
    same(match_lines(lines, items), match_lines(lines, items, fast=False))


def test_the_same_on_a_large_mixed_statement() -> None:
    """Thousands of lines where the fast path and every other rule all get their turn."""
    rng = random.Random(20260420)
    items = [
        OpenItem(
            tenant="t",
            invoice_id=f"INV-{k}",
            workflow_id=f"invoice-t-INV-{k}",
            customer_id=f"C{k % 300}",
            customer_names=(f"Cliente {k % 300}",),
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
        kind = rng.choice(["ref", "ref", "ref", "short", "over", "text", "payer", "shared"])
        amount = {"short": max(1, owed // 2), "over": owed + 7}.get(kind, owed)
        lines.append(
            StatementLine(
                source="big.csv",
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
                counterparty_name=f"CLIENTE {k % 300}" if kind == "payer" else None,
            )
        )
    fast = match_lines(lines, items)
    same(fast, match_lines(lines, items, fast=False))
    rules = {r.rule for r in fast}
    outcomes = {r.outcome for r in fast}
    assert {Rule.EXACT_REFERENCE, Rule.PARTIAL, Rule.AMOUNT_CUSTOMER} <= rules
    assert {Outcome.MATCHED, Outcome.CREDITED, Outcome.EXCEPTION, Outcome.DUPLICATE} <= outcomes
