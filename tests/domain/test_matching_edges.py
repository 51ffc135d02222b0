"""Edges where the compiled engine and the per-line rules could part ways, and two where both
were wrong: an invoice owing less than nothing took a negative share, and an invoice listed
twice was paid as two.

Strings whose hash, length and first 16 bytes are all equal (found by inverting the lookup's
hash, so the table must read the bytes past 16 to tell them apart), many customers in many
currencies (the grouping of a customer's invoices by currency), and a statement at the size
where `match_lines` turns to the compiled rules, every line naming the same invoice.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest

from cobranza.domain import matching_lookup as lookups
from cobranza.domain.errors import OpenItemListedTwice
from cobranza.domain.matching import (
    COMPILED_FROM,
    OpenItem,
    Outcome,
    Rule,
    match_lines,
)
from cobranza.domain.matching_objects import match_objects
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, StatementLine

from .matching_results import same

DAY0 = date(2025, 1, 1)
# Pairs of 32-byte strings with the same lookup hash and the same first 16 bytes.
KEY_A, KEY_B = "ABCDEFGHIJKLMNOPQRSTUVWX0A064000", "ABCDEFGHIJKLMNOP4QGZIBOB5RO98DWC"
KEY_C, KEY_D = "ABCDEFGHIJKLMNOPQRSTUVWX000A00A0", "ABCDEFGHIJKLMNOPN0J00O3UXLPZSVR2"


def item_of(k: int, owed: int, **fields: Any) -> OpenItem:
    return OpenItem(
        tenant=fields.pop("tenant", "t"),
        invoice_id=fields.pop("invoice_id", f"INV-{k}"),
        workflow_id=f"invoice-t-INV-{k}",
        customer_id=fields.pop("customer_id", "C1"),
        outstanding=Money(minor=owed, currency=fields.pop("currency", "MXN")),
        issued_on=DAY0,
        due_on=DAY0 + timedelta(days=30),
        **fields,
    )


def line_of(n: int, amount: int, **fields: Any) -> StatementLine:
    return StatementLine(
        source="edge.csv",
        line=n + 1,
        entry_id=f"E{n}",
        account="1",
        direction=Direction.CREDIT,
        amount=Money(minor=amount, currency=fields.pop("currency", "MXN")),
        booked_on=DAY0,
        **fields,
    )


def _hash(text: str) -> int:
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    return int(lookups._hash(data, 0, data.shape[0]))


def test_strings_sharing_a_hash_and_their_first_16_bytes_name_only_themselves() -> None:
    assert _hash(KEY_A) == _hash(KEY_B) and _hash(KEY_C) == _hash(KEY_D)
    items = [
        item_of(0, 10, invoice_id=KEY_A),
        item_of(1, 20, customer_id="C2", references=(KEY_C,), customer_names=(KEY_A,)),
        item_of(2, 30, customer_id="C3", customer_names=(KEY_B, KEY_A), customer_accounts=(KEY_D,)),
    ]
    lines = [
        line_of(0, 10, reference=KEY_B),
        line_of(1, 10, reference=KEY_A),
        line_of(2, 20, remittance=f"pago {KEY_D}"),
        line_of(3, 20, remittance=f"pago {KEY_C}"),
        line_of(4, 30, counterparty_name=KEY_B),
        line_of(5, 20, counterparty_account=KEY_C),
        line_of(6, 30, counterparty_account=KEY_D),
    ]
    compiled = match_objects(lines, items)
    same(compiled, match_lines(lines, items, fast=False))
    taken = {r.line.entry_id: [a.invoice_id for a in r.allocations] for r in compiled}
    assert taken == {
        "E0": [],
        "E1": [KEY_A],
        "E2": [],
        "E3": ["INV-1"],
        "E4": ["INV-2"],
        "E5": [],
        "E6": [],
    }


def test_many_customers_in_many_currencies_are_grouped_as_the_rules_group_them() -> None:
    """300 customers in 40 currencies: more (customer, currency) pairs than invoices."""
    codes = ["MXN", "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "BRL", "CLP"]
    codes += ["COP", "PEN", "ARS", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "KWD"]
    codes += ["BHD", "JOD", "OMR", "TND", "INR", "CNY", "KRW", "SGD", "HKD", "NZD"]
    codes += ["ZAR", "TRY", "ILS", "THB", "MYR", "PHP", "IDR", "VND", "EGP", "NGN"]
    items = [
        item_of(
            k,
            10 + k % 3,
            customer_id=f"C{k % 300}",
            customer_names=(f"N{k % 300}",),
            currency=codes[k % 40],
        )
        for k in range(600)
    ]
    lines = [
        line_of(n, 10 + n % 4, counterparty_name=f"N{n % 300}", currency=codes[n % 37])
        for n in range(400)
    ]
    compiled = match_objects(lines, items)
    same(compiled, match_lines(lines, items, fast=False))
    assert {r.rule for r in compiled} >= {Rule.AMOUNT_CUSTOMER, None}


def test_a_statement_at_the_compiled_size_naming_one_invoice_on_every_line() -> None:
    items = [item_of(0, 1_000)]
    lines = [line_of(n, 7, reference="inv-0") for n in range(COMPILED_FROM)]
    compiled = match_lines(lines, items)
    same(compiled, match_lines(lines, items, fast=False))
    paid = sum(r.allocated for r in compiled)
    credited = sum(r.credit.minor for r in compiled if r.credit is not None)
    assert (paid, credited) == (1_000, 7 * COMPILED_FROM - 1_000)


# -- where the per-line rules themselves are wrong --------------------------------------------


def test_a_reference_to_an_invoice_owing_less_than_nothing_allocates_nothing() -> None:
    """It is settled: the whole payment is the customer's credit, never more than was paid."""
    items = [item_of(0, -30)]
    lines = [line_of(0, 100, reference="INV-0")]
    [result] = match_lines(lines, items, fast=False)
    assert result.allocations == ()
    assert result.credit is not None
    assert (result.outcome, result.credit.minor) == (Outcome.CREDITED, 100)
    same(match_objects(lines, items), [result])


def test_an_open_item_listed_twice_is_refused_by_both_engines() -> None:
    """Paid as two invoices it would take twice what it owes: the caller is told, by name."""
    items = [item_of(0, 100), item_of(0, 100)]
    lines = [line_of(0, 200, reference="INV-0")]
    twice = r"invoice 'INV-0' \(workflow 'invoice-t-INV-0'\) is listed twice"
    with pytest.raises(OpenItemListedTwice, match=twice):
        match_lines(lines, items, fast=False)
    compiled_size = [line_of(n, 200, reference="INV-0") for n in range(COMPILED_FROM)]
    with pytest.raises(OpenItemListedTwice, match=twice):
        match_lines(compiled_size, items)
