"""Properties of matching over random statements and open items.

Whatever arrives: no line gives away more than its amount, no invoice takes more than it owes,
and every credit line ends matched, credited or in the exceptions (debits are reported).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cobranza.domain.matching import OpenItem, Outcome, match_lines
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, StatementLine

CUSTOMERS = ["C1", "C2", "C3"]
DAY0 = date(2025, 1, 1)


@st.composite
def open_items(draw: st.DrawFn) -> list[OpenItem]:
    count = draw(st.integers(0, 8))
    items = []
    for n in range(count):
        customer = draw(st.sampled_from(CUSTOMERS))
        issued = DAY0 + timedelta(days=draw(st.integers(0, 60)))
        items.append(
            OpenItem(
                tenant="t",
                invoice_id=f"INV-{n}",
                workflow_id=f"invoice-t-INV-{n}",
                customer_id=customer,
                customer_names=(f"Name {customer}",),
                outstanding=Money(minor=draw(st.integers(1, 500)), currency="MXN"),
                issued_on=issued,
                due_on=issued + timedelta(days=30),
                references=(f"REF{n}",) if draw(st.booleans()) else (),
            )
        )
    return items


@st.composite
def statement(draw: st.DrawFn, items: list[OpenItem]) -> list[StatementLine]:
    count = draw(st.integers(0, 10))
    lines = []
    refs = [i.invoice_id for i in items] + [r for i in items for r in i.references] + ["ZZZ"]
    for n in range(count):
        ref_mode = draw(st.sampled_from(["reference", "text", "payer", "none"]))
        picks = draw(st.lists(st.sampled_from(refs), min_size=1, max_size=3))
        lines.append(
            StatementLine(
                source="s.csv",
                line=n + 1,
                entry_id=f"E{draw(st.integers(0, count))}",  # some repeat: duplicates
                account="1",
                direction=draw(st.sampled_from([Direction.CREDIT] * 4 + [Direction.DEBIT])),
                amount=Money(
                    minor=draw(st.integers(1, 1200)), currency=draw(st.sampled_from(["MXN", "USD"]))
                ),
                booked_on=DAY0 + timedelta(days=draw(st.integers(0, 120))),
                reference=picks[0] if ref_mode == "reference" else None,
                remittance=" ".join(picks) if ref_mode == "text" else "",
                counterparty_name=f"NAME {draw(st.sampled_from([*CUSTOMERS, 'C9']))}"
                if ref_mode == "payer"
                else None,
            )
        )
    return lines


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_allocations_never_exceed_the_line_or_the_invoice(data: st.DataObject) -> None:
    items = data.draw(open_items())
    lines = data.draw(statement(items))
    results = match_lines(lines, items)

    assert sorted(id(r.line) for r in results) == sorted(id(ln) for ln in lines)
    taken: dict[str, int] = defaultdict(int)
    owed = {i.invoice_id: i.outstanding.minor for i in items}
    for r in results:
        credit = r.credit.minor if r.credit is not None else 0
        assert r.allocated + credit <= r.line.amount.minor
        assert all(a.amount.currency == r.line.amount.currency for a in r.allocations)
        assert all(a.amount.is_positive() for a in r.allocations)
        for a in r.allocations:
            taken[a.invoice_id] += a.amount.minor
        if r.line.direction is Direction.DEBIT:
            assert r.outcome in (Outcome.DEBIT, Outcome.DUPLICATE)
        elif r.outcome is Outcome.MATCHED:
            assert r.allocated + credit == r.line.amount.minor and r.rule is not None
            assert 0 < r.confidence <= 1
        elif r.outcome is Outcome.CREDITED:
            assert credit == r.line.amount.minor and r.customer_id is not None
        else:
            assert r.outcome in (Outcome.EXCEPTION, Outcome.DUPLICATE)
            assert r.allocations == () and r.credit is None
            assert r.reason
    for invoice_id, minor in taken.items():
        assert minor <= owed[invoice_id]


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_the_same_input_in_any_order_gives_the_same_result(data: st.DataObject) -> None:
    items = data.draw(open_items())
    lines = data.draw(statement(items))
    shuffled = data.draw(st.permutations(lines))
    first = [
        (r.line.entry_id, r.outcome, r.allocations, r.credit) for r in match_lines(lines, items)
    ]
    again = [
        (r.line.entry_id, r.outcome, r.allocations, r.credit) for r in match_lines(shuffled, items)
    ]
    assert first == again
