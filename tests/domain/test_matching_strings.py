"""The compiled engine reads strings as bytes exactly as the per-line rules read them.

`matching_strings` normalises references (`references` against `matching.normalise_reference`)
and names (`names` against `matching.normalise_name`) and tokenises remittance text (`tokens`
against `matching.remittance_tokens`); `matching_lookup` looks strings up (`Lookup.find`
against a dict) and groups rows (`groups` against a dict of first appearances, and against
`_groups_by_value`, the path taken when two different rows share a hash): each held to its
Python counterpart on
strings chosen to be hard for a byte-level reader (ASCII whitespace of every kind, non-ASCII
spaces, lower case, strings that normalise to "", separators, printed creditor references,
combining accents, emoji, text that changes length when upper-cased).

Then the whole engine, `match_objects` and `match_lines(lines, items)` over COMPILED_FROM
lines, against `match_lines(..., fast=False)` on statements made of those strings: the same
results. Where the two once parted ways, a test names the smallest input that showed it.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobranza.domain import matching_lookup as lookups
from cobranza.domain import matching_strings as text
from cobranza.domain.matching import (
    COMPILED_BOUND,
    COMPILED_FROM,
    LineMatch,
    OpenItem,
    Outcome,
    Rule,
    fits_compiled,
    match_lines,
    normalise_name,
    normalise_reference,
    remittance_tokens,
)
from cobranza.domain.matching_frames import match_frames
from cobranza.domain.matching_objects import (
    as_line_matches,
    items_frame,
    lines_frame,
    match_objects,
)
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, StatementLine

from .matching_results import same

DAY0 = date(2025, 1, 1)

# Every whitespace str.split() knows in ASCII, then some it knows outside ASCII, and one it
# does not (zero width space).
ASCII_SPACES = [" ", "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f"]
OTHER_SPACES = ["\xa0", "\u2003", "\x85", "\u3000", "\u200b"]
SPACES = ASCII_SPACES + OTHER_SPACES
# Reference-like seeds: word boundaries, separators, creditor references, non-ASCII.
SEEDS = [
    "INV-1",
    "INV-10",
    "INV-100",
    "A-B",
    "A--B",
    "A-",
    "-A",
    "A.B.C",
    "A/B_C",
    "X",
    "7",
    "Ñ1",
    "RF18539007547034",
    "RF18 5390 0754 7034",
    "rf18 5390 0754 7034",
    "straße",
    "STRASSE",
    "ﬁ1",
    "😀",
    "\u212a1",  # Kelvin sign: lower-cases to ASCII k
    "ı1",  # dotless i: upper-cases to ASCII I
    "١٢",  # Arabic-Indic digits
    "e\u0301",
    "é",
    "\x00",  # NUL: kept in a reference, dropped from a name
    "SHARED",
]
PUNCTUATION = ["-", "--", ".", "...", "/", "_", ",", "#", ":", ";", "(", ")", "'"]
NAMES = [
    "Kij, S.A. de C.V.",
    "KIJ SA DE CV",
    "Nàme",
    "NAME",
    "--",
    "...",
    " ",
    "Müller",
    "MULLER",
    "Mu\u0308ller",
    "ÆON",
    "ß",
    "Ωmega",
    "😀",
    "x",
    "\u212a",
]
ACCOUNTS = ["001", "00 1", "DE89 3704", "de893704", " ", "\t", "acc-1", "ACC-1", "١", "0\xa01"]
# More currencies than matching_keys codes one by one (16).
CURRENCIES = [
    "MXN",
    "USD",
    "EUR",
    "GBP",
    "JPY",
    "CHF",
    "CAD",
    "AUD",
    "BRL",
    "CLP",
    "COP",
    "PEN",
    "ARS",
    "SEK",
    "NOK",
    "DKK",
    "PLN",
    "CZK",
    "HUF",
    "KWD",
]


def _variant(draw: st.DrawFn, seed: str) -> str:
    """The seed as a bank might print it: other case, spaces inside or around, composed."""
    how = draw(
        st.sampled_from(["same", "same", "lower", "upper", "space", "wrap", "nfkd", "nfc", "swap"])
    )
    if how == "lower":
        return seed.lower()
    if how == "upper":
        return seed.upper()
    if how == "space":
        at = draw(st.integers(0, len(seed)))
        return seed[:at] + draw(st.sampled_from(SPACES)) + seed[at:]
    if how == "wrap":
        return draw(st.sampled_from(SPACES)) + seed + draw(st.sampled_from(SPACES))
    if how == "nfkd":
        return unicodedata.normalize("NFKD", seed)
    if how == "nfc":
        return unicodedata.normalize("NFC", seed)
    if how == "swap":
        return seed.swapcase()
    return seed


@st.composite
def reference_like(draw: st.DrawFn, pool: list[str]) -> str:
    return _variant(draw, draw(st.sampled_from(pool)))


@st.composite
def free_text(draw: st.DrawFn, pool: list[str]) -> str:
    """Remittance text: references among words, separators and every kind of space."""
    parts = draw(
        st.lists(
            st.one_of(
                reference_like(pool),
                st.sampled_from(PUNCTUATION),
                st.sampled_from(SPACES),
                st.sampled_from(["pago", "Pago", "factura", "für", "n°", "№", "RF", "rf1"]),
            ),
            max_size=8,
        )
    )
    glue = draw(st.sampled_from(["", " ", "-", "/", "\t"]))
    return glue.join(parts)


@st.composite
def open_items(draw: st.DrawFn, currencies: list[str]) -> list[OpenItem]:
    items = []
    for n in range(draw(st.integers(0, 8))):
        invoice = _variant(draw, draw(st.sampled_from(SEEDS))) or f"I{n}"
        references = draw(st.lists(reference_like([*SEEDS, " ", ""]), max_size=3))
        if draw(st.integers(0, 4)) == 0:
            references.append(invoice)  # its own invoice number again
        twice: bool = draw(st.booleans())
        if references and twice:
            references.append(references[0])  # the same reference twice
        customer = draw(st.sampled_from(["C1", "C2", "C3"]))
        issued = DAY0 + timedelta(days=draw(st.integers(0, 40)))
        items.append(
            OpenItem(
                tenant=draw(st.sampled_from(["t", "t", "u"])),
                invoice_id=invoice,
                workflow_id=f"w-{n}",
                customer_id=customer,
                customer_names=tuple(draw(st.lists(st.sampled_from(NAMES), max_size=2))),
                customer_accounts=tuple(draw(st.lists(st.sampled_from(ACCOUNTS), max_size=2))),
                outstanding=Money(
                    minor=draw(st.integers(-10, 200)), currency=draw(st.sampled_from(currencies))
                ),
                issued_on=issued,
                due_on=issued + timedelta(days=draw(st.integers(0, 30))),
                references=tuple(references),
            )
        )
    return items


@st.composite
def statement(draw: st.DrawFn, items: list[OpenItem], currencies: list[str]) -> list[StatementLine]:
    pool = SEEDS + [i.invoice_id for i in items] + [r for i in items for r in i.references]
    names = NAMES + [n for i in items for n in i.customer_names]
    accounts = ACCOUNTS + [a for i in items for a in i.customer_accounts]
    owed = [abs(i.outstanding.minor) or 1 for i in items] or [100]
    line_currencies = [i.outstanding.currency for i in items] or currencies
    lines = []
    count = draw(st.integers(0, 12))
    for n in range(count):
        amount = max(1, draw(st.sampled_from(owed)) + draw(st.sampled_from([0, 0, 0, -1, 1, 30])))
        if draw(st.integers(0, 3)) == 0:
            amount += draw(st.sampled_from(owed))  # two invoices' worth
        lines.append(
            StatementLine(
                source=draw(st.sampled_from(["a.csv", "b.xml", "ä.csv"])),
                line=n + 1,
                entry_id=f"E{draw(st.integers(0, count))}",  # some repeat: duplicates
                account="1",
                direction=draw(st.sampled_from([Direction.CREDIT] * 6 + [Direction.DEBIT])),
                amount=Money(minor=amount, currency=draw(st.sampled_from(line_currencies))),
                booked_on=DAY0 + timedelta(days=draw(st.integers(0, 90))),
                reference=draw(
                    st.one_of(st.none(), st.sampled_from(["", " "]), reference_like(pool))
                ),
                references=tuple(draw(st.lists(reference_like([*pool, "", " "]), max_size=3))),
                remittance=draw(st.one_of(st.just(""), free_text(pool))),
                counterparty_name=draw(st.one_of(st.none(), st.just(""), reference_like(names))),
                counterparty_account=draw(
                    st.one_of(st.none(), st.just(""), reference_like(accounts))
                ),
            )
        )
    return lines


def debits_in_every(currencies: list[str], after: int) -> list[StatementLine]:
    """One debit per currency: every code is seen, so more than 16 are coded by hash."""
    return [
        StatementLine(
            source="fx.csv",
            line=after + k + 1,
            entry_id=f"FX{k}",
            account="1",
            direction=Direction.DEBIT,
            amount=Money(minor=1, currency=code),
            booked_on=DAY0,
        )
        for k, code in enumerate(currencies)
    ]


# -- the engine against the per-line rules ----------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_compiled_and_per_line_rules_read_awkward_strings_alike(data: st.DataObject) -> None:
    currencies = CURRENCIES[:2] if data.draw(st.booleans()) else CURRENCIES
    items = data.draw(open_items(currencies))
    lines = data.draw(statement(items, currencies))
    if currencies is CURRENCIES:
        lines += debits_in_every(currencies, len(lines))
    same(match_objects(lines, items), match_lines(lines, items, fast=False))


def item_of(k: int, owed: int = 100, **fields: Any) -> OpenItem:
    issued = fields.pop("issued_on", DAY0)
    return OpenItem(
        tenant=fields.pop("tenant", "t"),
        invoice_id=fields.pop("invoice_id", f"INV-{k}"),
        workflow_id=f"w-{k}",
        customer_id=fields.pop("customer_id", "C1"),
        outstanding=Money(minor=owed, currency=fields.pop("currency", "MXN")),
        issued_on=issued,
        due_on=fields.pop("due_on", issued + timedelta(days=30)),
        **fields,
    )


def line_of(n: int, amount: int = 100, **fields: Any) -> StatementLine:
    return StatementLine(
        source=fields.pop("source", "edge.csv"),
        line=n + 1,
        entry_id=fields.pop("entry_id", f"E{n}"),
        account="1",
        direction=fields.pop("direction", Direction.CREDIT),
        amount=Money(minor=amount, currency=fields.pop("currency", "MXN")),
        booked_on=fields.pop("booked_on", DAY0),
        **fields,
    )


def check(lines: list[StatementLine], items: list[OpenItem]) -> list[LineMatch]:
    compiled = match_objects(lines, items)
    same(compiled, match_lines(lines, items, fast=False))
    return compiled


@pytest.mark.parametrize("space", [*ASCII_SPACES, *OTHER_SPACES])
def test_each_whitespace_in_a_reference_is_read_alike(space: str) -> None:
    items = [item_of(0, invoice_id="INV-10"), item_of(1, invoice_id="INV-100")]
    lines = [
        line_of(0, reference=f"inv{space}-10"),
        line_of(1, reference=f"{space}INV-100{space}"),
        line_of(2, references=(f"INV{space}-1", f"inv-1{space}0")),
        line_of(3, remittance=f"pago{space}inv-10{space}y{space}INV-100"),
        line_of(4, reference=space),
        line_of(5, counterparty_account=space),
        line_of(6, counterparty_name=f"{space}Kij{space}"),
    ]
    check(lines, items)


def test_strings_that_normalise_to_nothing_are_read_alike() -> None:
    """A reference of spaces names nothing; an account of spaces and a name of punctuation
    are "" and find the items that print such an account or name."""
    items = [
        item_of(0, invoice_id=" ", customer_names=("...",), customer_accounts=(" ",)),
        item_of(1, customer_id="C2", references=("", "\t"), customer_names=("Real",)),
    ]
    lines = [
        line_of(0, reference=" "),
        line_of(1, reference="", references=("", " ", "\t")),
        line_of(2, counterparty_name="--"),
        line_of(3, counterparty_account="\x1f"),
        line_of(4, counterparty_name=""),
        line_of(5, counterparty_account="", counterparty_name="..."),
        line_of(6, counterparty_account="zz", counterparty_name="-"),
    ]
    results = check(lines, items)
    assert results[2].customer_id == "C1" and results[3].customer_id == "C1"


def test_word_boundaries_and_separators_in_remittance_text() -> None:
    items = [
        item_of(k, invoice_id=ref)
        for k, ref in enumerate(["A-B", "A", "B", "A.B.C", "A/B_C", "INV-10", "C"])
    ]
    lines = [
        line_of(n, remittance=t)
        for n, t in enumerate(
            ["a--b", "a-", "-a", "x a.b.c.", "a/b_c/", "inv-100", "INV-10.", "a_-b", "é-inv-10"]
        )
    ]
    check(lines, items)


@pytest.mark.parametrize(
    "printed",
    [
        "rf18 5390 0754 7034",
        "RF18 5390 0754 7034 99",
        "pago RF18539007547034",
        "xrf18 5390 0754 7034",
        "RF18",
        "rf1",
        "RF185390 0754 7034 ñ",
        "RF18\t5390 0754 7034",
    ],
)
def test_printed_creditor_references_are_read_alike(printed: str) -> None:
    items = [item_of(0, invoice_id="F-1", references=("RF18539007547034",)), item_of(1)]
    check([line_of(0, remittance=printed), line_of(1, remittance=printed.lower())], items)


def test_the_same_invoice_number_in_two_tenants() -> None:
    items = [item_of(0, tenant="t"), item_of(1, tenant="u", invoice_id="INV-0")]
    lines = [line_of(0, reference="inv-0"), line_of(1, remittance="INV-0")]
    results = check(lines, items)
    assert results[0].outcome is Outcome.EXCEPTION


def test_an_item_whose_reference_is_its_own_invoice_number() -> None:
    items = [item_of(0, references=("INV-0", "inv 0", "INV-0")), item_of(1, references=("INV-0",))]
    check([line_of(0, reference="INV-0"), line_of(1, remittance="inv-1 inv-1")], items)


def test_reference_found_on_one_item_by_number_and_another_by_reference() -> None:
    """The earlier item holds the key as a reference, the later as its number: the rules
    list them in input order of the items either way."""
    items = [item_of(0, references=("INV-1",)), item_of(1)]
    results = check([line_of(0, 200, reference="INV-1")], items)
    assert [a.invoice_id for a in results[0].allocations] == ["INV-0", "INV-1"]


def test_more_than_sixteen_currencies() -> None:
    items = [item_of(k, currency=c, references=("ALL",)) for k, c in enumerate(CURRENCIES)]
    lines = [line_of(n, currency=c, reference=f"inv-{n}") for n, c in enumerate(CURRENCIES)]
    lines += [line_of(100 + n, currency=c, reference="ALL") for n, c in enumerate(CURRENCIES)]
    lines += [line_of(200, currency="EUR", reference="INV-0")]  # a currency mismatch
    results = check(lines, items)
    assert {r.rule for r in results} >= {Rule.EXACT_REFERENCE}


def test_payers_by_name_with_accents_and_emoji() -> None:
    items = [
        item_of(0, customer_names=("Müller 😀",)),
        item_of(1, customer_id="C2", customer_names=("Mu\u0308ller",), customer_accounts=("Ω1",)),
        item_of(2, customer_id="C3", customer_names=("straße",)),
    ]
    lines = [
        line_of(0, counterparty_name="MULLER"),
        line_of(1, counterparty_name="müller"),
        line_of(2, counterparty_account="ω1"),
        line_of(3, counterparty_name="STRASSE"),
        line_of(4, counterparty_name="Straße"),
        line_of(5, counterparty_name="😀"),
    ]
    check(lines, items)


def test_duplicate_entry_ids_across_sources() -> None:
    items = [item_of(0)]
    lines = [
        line_of(0, source="b.csv", entry_id="E", reference="INV-0"),
        line_of(0, source="a.csv", entry_id="E", reference="INV-0"),
        line_of(1, source="ä.csv", entry_id="é", reference="INV-0", direction=Direction.DEBIT),
        line_of(1, source="a.csv", entry_id="é", reference="INV-0"),
    ]
    check(lines, items)


def test_one_byte_strings_and_very_long_texts() -> None:
    items = [item_of(k, invoice_id=f"{k}", references=(chr(65 + k % 26),)) for k in range(40)]
    long_text = " ".join(f"t{k}-x" for k in range(5_000)) + " 7 "
    lines = [
        line_of(0, reference="7"),
        line_of(1, remittance="b"),
        line_of(2, remittance=long_text),
        line_of(3, remittance=long_text + "ñ 39"),
        line_of(4, remittance="rf18 " + long_text),
        line_of(5, reference="\x01"),
    ]
    check(lines, items)


def test_null_elements_in_a_frame_list_are_skipped_as_the_rules_skip_empty_ones() -> None:
    """A frame may hold a null where a tuple of strings cannot: it names nothing, as an
    empty reference names nothing for the rules."""
    items = [item_of(0, customer_names=("Kij",), customer_accounts=("001",)), item_of(1)]
    lines = [line_of(0, references=("", "INV-1")), line_of(1, counterparty_name="kij")]
    frame = lines_frame(lines).with_columns(
        pl.Series("references", [[None, "INV-1"], []], dtype=pl.List(pl.String))
    )
    item_frame = items_frame(items).with_columns(
        pl.Series("customer_names", [[None, "Kij"], [None]], dtype=pl.List(pl.String)),
        pl.Series("customer_accounts", [[None, "001"], None], dtype=pl.List(pl.String)),
    )
    compiled = as_line_matches(match_frames(frame, item_frame), lines)
    same(compiled, match_lines(lines, items, fast=False))


def _large(seed: int, n: int) -> tuple[list[StatementLine], list[OpenItem]]:
    """A statement over COMPILED_FROM lines, made of the awkward strings above."""
    rng = random.Random(seed)

    def variant(s: str) -> str:
        how = rng.randrange(6)
        if how == 1:
            return s.lower()
        if how == 2:
            at = rng.randrange(len(s) + 1)
            return s[:at] + rng.choice(SPACES) + s[at:]
        if how == 3:
            return unicodedata.normalize("NFKD", s)
        return s

    items = []
    for k in range(600):
        base = rng.choice(SEEDS)
        items.append(
            OpenItem(
                tenant=rng.choice(["t", "u"]),
                invoice_id=f"{base}-{k}" if rng.random() < 0.8 else variant(base) or "I",
                workflow_id=f"w-{k}",
                customer_id=f"C{k % 90}",
                customer_names=(rng.choice(NAMES) + f" {k % 90}",),
                customer_accounts=(rng.choice(ACCOUNTS) + f"{k % 90}",),
                outstanding=Money(minor=rng.randrange(1, 500), currency=rng.choice(CURRENCIES)),
                issued_on=DAY0 + timedelta(days=rng.randrange(40)),
                due_on=DAY0 + timedelta(days=40 + rng.randrange(30)),
                references=tuple(variant(rng.choice(SEEDS)) for _ in range(rng.randrange(3))),
            )
        )
    lines = []
    for m in range(n):
        target = rng.choice(items)
        key = rng.choice([target.invoice_id, *target.references])
        kind = rng.randrange(6)
        lines.append(
            StatementLine(
                source=rng.choice(["big.csv", "other.xml", "ä.csv"]),
                line=m + 1,
                entry_id=f"E{rng.randrange(n - n // 20)}",
                account="1",
                direction=Direction.CREDIT if rng.random() < 0.95 else Direction.DEBIT,
                amount=Money(
                    minor=max(1, target.outstanding.minor + rng.choice([0, 0, -1, 5])),
                    currency=target.outstanding.currency
                    if rng.random() < 0.9
                    else rng.choice(CURRENCIES),
                ),
                booked_on=DAY0 + timedelta(days=rng.randrange(100)),
                reference=variant(key) if kind == 0 else None,
                references=(variant(key), rng.choice(SEEDS)) if kind == 1 else (),
                remittance=(
                    f"pago {variant(key)}{rng.choice(PUNCTUATION)} {rng.choice(SEEDS)}"
                    if kind == 2
                    else ""
                ),
                counterparty_name=variant(target.customer_names[0]) if kind == 3 else None,
                counterparty_account=variant(target.customer_accounts[0]) if kind == 4 else None,
            )
        )
    return lines, items


def test_a_large_statement_of_awkward_strings_takes_the_compiled_path_alike() -> None:
    lines, items = _large(20260421, COMPILED_FROM + 500)
    assert fits_compiled(lines, items)
    compiled = match_lines(lines, items)
    same(compiled, match_lines(lines, items, fast=False))
    assert {Outcome.MATCHED, Outcome.EXCEPTION, Outcome.DUPLICATE} <= {r.outcome for r in compiled}


def test_booking_order_when_one_file_numbers_lines_out_of_order_or_spans_millennia() -> None:
    """One file, lines increasing (a sort on the day), not increasing, sharing a day and a
    line, numbered past 2**40, or days far apart: booking order as the rules sort it."""
    items = [item_of(0, 10**6)]
    cases = [
        [(DAY0, 1), (DAY0 - timedelta(days=1), 2), (DAY0, 3)],
        [(DAY0, 5), (DAY0, 2), (DAY0 - timedelta(days=9), 9)],
        [(DAY0, 2), (DAY0, 2), (DAY0, 1)],
        [(DAY0, 2**40 + 1), (DAY0, 3), (DAY0, 2**40)],
        [(date(1, 1, 1), 1), (date(9999, 12, 31), 2), (date(1969, 12, 31), 3)],
        [(date(1, 1, 1), 3), (date(9999, 12, 31), 2), (date(1, 1, 1), 1)],
    ]
    for case in cases:
        lines = [
            StatementLine(
                source="one.csv",
                line=number,
                entry_id=f"E{n}",
                account="1",
                direction=Direction.CREDIT,
                amount=Money(minor=n + 1, currency="MXN"),
                booked_on=day,
                reference="INV-0",
            )
            for n, (day, number) in enumerate(case)
        ]
        check(lines, items)


def test_grouped_by_amount_orders_same_day_invoices_by_number_as_python_sorts_strings() -> None:
    """Invoices due the same day are searched (and allocated) in invoice-number order: code
    point order for the rules, bytes for polars; more than GROUP_SEARCH_ITEMS of them, each
    owing a power of two so that every sum names one set."""
    numbers = ["b", "B", "é", "😀", "a\x01", "a", "Z", "\uffff", "\U00010000", "ａ", "\x7f", "\x80"]
    numbers += [f"N{k}" for k in range(20)]
    items = [
        item_of(k, 2**k, invoice_id=number, customer_names=("Payer",))
        for k, number in enumerate(numbers)
    ]
    pairs = [(2, 3), (0, 1), (7, 8), (9, 31), (4, 5), (10, 11), (6, 30)]
    lines = [
        line_of(n, 2**a + 2**b, counterparty_name=["payer", "PAYER", "Payer"][n % 3])
        for n, (a, b) in enumerate(pairs)
    ]
    results = check(lines, items)
    assert Rule.GROUPED in {r.rule for r in results}


def test_many_items_sharing_a_reference_many_lines_naming_it() -> None:
    """Every line names every item, several times over: the lookup's pairs outgrow their
    first buffer and each line keeps an item once, in input order."""
    items = [
        item_of(k, 1 + k % 3, references=("S", "s", f"S{k % 2}"), customer_id=f"C{k % 2}")
        for k in range(150)
    ]
    lines = [line_of(0, 10**6, reference="s")]
    lines += [line_of(n, 10**6, references=("S0", "S"), remittance="S s S1") for n in range(1, 60)]
    lines += [line_of(100, 10**6, references=("", "S1"), remittance="S0")]
    check(lines, items)


def test_the_same_with_nothing_to_match() -> None:
    check([], [])
    check([], [item_of(0)])
    check([line_of(0, reference="INV-0", counterparty_name="x")], [])


# -- where the compiled path and the per-line rules once parted ways ------------------------


def test_nul_in_a_reference_is_kept_as_normalise_reference_keeps_it() -> None:
    """NUL is no whitespace to str.split(): a reference keeps it (a name drops it)."""
    values = ["\x00", "A\x00B", "a \x00"]
    assert _texts(text.references(_column(list(values)))) == [
        normalise_reference(v) for v in values
    ]


def test_nul_in_a_reference_names_what_the_per_line_rules_name() -> None:
    """A reference "A\\x00B" is not "AB", and "\\x00" names the invoice numbered so."""
    items = [item_of(0, invoice_id="A\x00B"), item_of(1, invoice_id="\x00", customer_id="C2")]
    check([line_of(0, reference="AB"), line_of(1, reference="\x00")], items)


def test_an_item_owing_less_than_nothing_does_not_make_a_short_group_payment_whole() -> None:
    """Found by the property test above: INV-0 owing 2 and INV-1 owing -1 share reference
    'S', and a line of 1 names 'S'. Netting the -1 against INV-0 is no payment: the line pays
    1 of the 2 the open invoice owes, so a person decides (before, both engines allocated 2
    out of a payment of 1, and the per-line rules credited -1)."""
    items = [item_of(0, 2, references=("S",)), item_of(1, -1, references=("S",))]
    (result,) = check([line_of(0, 1, reference="S")], items)
    assert result.outcome == Outcome.EXCEPTION
    assert result.allocations == ()
    assert result.reason == (
        "pays 0.01 MXN of 1 referenced invoices owing 0.02 MXN: which one is short?"
    )
    assert result.candidates == ("INV-0",)


def test_a_lone_surrogate_in_remittance_text_is_read_by_the_per_line_rules() -> None:
    """No frame holds a lone surrogate (StatementLine accepts one): match_lines leaves such a
    statement to the per-line rules instead of failing."""
    items = [item_of(0, invoice_id="A")]
    lines = [line_of(n, 1, remittance="A \ud800") for n in range(COMPILED_FROM)]
    with pytest.raises(UnicodeEncodeError):
        match_objects(lines, items)
    same(match_lines(lines, items), match_lines(lines, items, fast=False))


def test_input_just_inside_the_64_bit_bound_takes_the_compiled_path() -> None:
    """fits_compiled sums exactly; the frames' own check must not refuse what it lets in
    (a float sum rounds 2**62 - 1 up to the bound)."""
    items = [item_of(0, COMPILED_BOUND - 1 - COMPILED_FROM, invoice_id="A")]
    lines = [line_of(n, 1, reference="A") for n in range(COMPILED_FROM)]
    assert fits_compiled(lines, items)
    same(match_lines(lines, items), match_lines(lines, items, fast=False))


# -- matching_strings against the Python functions --------------------------------------------

# Text that a byte reader may get wrong: ASCII of every kind, spaces, accents, wide letters.
AWKWARD = st.text(
    alphabet=st.one_of(
        st.sampled_from("aZz09-_/.,:; " + "".join(ASCII_SPACES) + "RFrf18\x00\x01\x7f"),
        st.sampled_from([*OTHER_SPACES, "é", "\u0301", "ß", "ﬁ", "\u212a", "ı", "😀", "١", "Ω"]),
        st.characters(codec="utf-8"),
    ),
    max_size=24,
)


def _column(values: Sequence[str | None]) -> text.Strings:
    return text.of_series(pl.Series(values, dtype=pl.String))


def _texts(strings: text.Strings) -> list[str | None]:
    return [strings.text(k) if strings.valid[k] else None for k in range(len(strings.valid))]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), AWKWARD), max_size=12))
def test_references_and_names_are_normalised_as_the_rules_normalise(
    values: list[str | None],
) -> None:
    strings = _column(values)
    assert _texts(strings) == values
    assert _texts(text.references(strings)) == [
        None if v is None else normalise_reference(v) for v in values
    ]
    assert _texts(text.names(strings)) == [None if v is None else normalise_name(v) for v in values]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), AWKWARD, st.lists(AWKWARD).map(" ".join)), max_size=10))
def test_tokens_are_the_rules_remittance_tokens(values: list[str | None]) -> None:
    found, row, order = text.tokens(_column(values))
    assert found.valid.all()
    got: dict[int, list[tuple[int, str]]] = {}
    for t in range(row.shape[0]):
        got.setdefault(int(row[t]), []).append((int(order[t]), found.text(t)))
    by_row = {k: [s for _, s in sorted(v)] for k, v in got.items()}
    for k, v in got.items():
        assert [o for o, _ in v] == list(range(len(v))), f"row {k}: orders {v}"
    expected = {k: remittance_tokens(v) for k, v in enumerate(values) if v}
    assert by_row == {k: v for k, v in expected.items() if v}


def test_tokens_of_nothing_and_of_rows_left_to_python_that_have_none() -> None:
    found, row, order = text.tokens(_column([]))
    assert row.shape[0] == 0 and found.data.shape[0] == 0
    found, row, order = text.tokens(_column(["é", None, "rf12", "", "😀 ..."]))
    assert [found.text(t) for t in range(row.shape[0])] == ["RF12"]
    assert row.tolist() == [2] and order.tolist() == [0]


def test_the_characters_upper_casing_to_ascii_are_those_python_upper_cases_so() -> None:
    """Remittance text holding none of them is tokenised from its bytes: keep the list
    whole for the Python running (a new Unicode version may add one)."""
    widening = [
        c
        for c in range(128, 0x110000)
        if not 0xD800 <= c < 0xE000 and any(ch.isascii() for ch in chr(c).upper())
    ]
    assert text.UPPER_TO_ASCII.tolist() == widening


# Latin letters, accents and punctuation (read by table), and a few characters outside it.
MAPPED = st.text(
    st.one_of(
        st.characters(max_codepoint=0x36F),
        st.characters(min_codepoint=0x2000, max_codepoint=0x206F),
        st.sampled_from(["ß", "ŉ", "ǰ", "½", "º", "Ǆ", "\u0345", "\x85", "\u3000", "Ω", "😀"]),
    ),
    max_size=20,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.none(), MAPPED), max_size=12))
def test_references_and_names_outside_ascii_are_normalised_as_the_rules_normalise(
    values: list[str | None],
) -> None:
    strings = _column(values)
    assert _texts(text.references(strings)) == [
        None if v is None else normalise_reference(v) for v in values
    ]
    assert _texts(text.names(strings)) == [None if v is None else normalise_name(v) for v in values]


@pytest.mark.parametrize(
    ("name", "by_python"),
    [
        ("Peña Muñoz, S.A.", False),
        ("MÜLLER Ǆ ½ º", False),
        ("O’Brien – Ltd.", False),
        ("Mu\u0308ller\xa0GmbH", False),
        ("Ωmega", True),  # Greek: not in the table
        ("Kij 😀", True),
        ("\u3000Kij", True),
    ],
)
def test_which_names_outside_ascii_are_read_by_table(name: str, by_python: bool) -> None:
    strings = _column([name])
    assert text.names(strings).text(0) == normalise_name(name)
    chars = (text._NAME, *text._NAME_CHARS)
    assert text._normalise(strings.data, strings.ends, chars)[2].tolist() == [by_python]


@pytest.mark.parametrize(
    ("remittance", "by_python"),
    [
        ("Pago número INV-1, señor", False),
        ("ñINV-1é", False),
        ("n°INV-2/é-INV-3.ü", False),
        ("Transferência 😀INV-4😀", False),
        ("e\u0301INV-5", False),
        ("Straße INV-6", True),  # "ß" is "SS": a token in Python's upper-cased text
        ("ﬁnal INV-7", True),
        ("ıNV-8", True),
        ("RF١٢ 3456", True),  # the creditor reference pattern's \d is any digit
        ("rf1١", True),
        ("RFé1", True),  # é is no digit, but a byte above 127 may start one
        ("RF é1 INV-9", False),
        ("TRF20251201 INV-10", False),  # no word boundary before the R: no creditor reference
        ("x_RF18 5390 0754 7034", False),
        ("°RF18 5390 0754 7034", True),
        ("pago rf18 5390 0754 7034", True),
    ],
)
def test_remittance_text_is_tokenised_as_the_rules_tokenise_it(
    remittance: str, by_python: bool
) -> None:
    strings = _column([remittance])
    found, row, _ = text.tokens(strings)
    assert [found.text(t) for t in range(row.shape[0])] == remittance_tokens(remittance)
    assert text._tokens(strings.data, strings.ends, strings.valid)[4].tolist() == [by_python]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), AWKWARD), max_size=10),
    st.lists(st.one_of(st.none(), AWKWARD), max_size=10),
    st.booleans(),
)
def test_lookup_finds_what_a_dict_finds(
    keys: list[str | None], probes: list[str | None], empty: bool
) -> None:
    keys = [*keys, *keys[:3]]  # some keys twice
    probes = [*probes, *[k for k in keys if k is not None][:4]]  # some probes that are keys
    i, j = lookups.Lookup(_column(keys), empty=empty).find(_column(probes))
    positions: dict[str, list[int]] = {}
    for at, key in enumerate(keys):
        if key is not None and (key or empty):
            positions.setdefault(key, []).append(at)
    expected = [(a, b) for a, p in enumerate(probes) if p is not None for b in positions.get(p, [])]
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == expected


def test_lookup_confirms_every_hit_byte_for_byte_when_hashes_collide() -> None:
    """A table whose every key claims the probe's hash: only the equal keys are found, even
    those that share a length and their first 16 bytes with the probe."""
    values = ["ABCDEFGHIJKLMNOPQ", "ABCDEFGHIJKLMNOPR", "A", "ABCDEFGHIJKLMNOPQ", "", "BA"]
    values += ["ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOPQ\x01", "ABCDEFGHIJKLMNOPQ"]
    keys = _column(values)
    lookup = lookups.Lookup(keys, empty=True)
    probes = _column(["ABCDEFGHIJKLMNOPQ", "A", "", "AB"])
    for k in range(4):
        h = lookups._hash(probes.data, probes.ends[k], probes.ends[k + 1])
        lookup._table = lookups._table(
            np.full(len(values), h, dtype=np.uint64), keys.valid, keys.data, keys.ends
        )
        i, j = lookup.find(probes)
        found = [b for a, b in zip(i.tolist(), j.tolist(), strict=True) if a == k]
        assert found == [at for at, v in enumerate(values) if v == probes.text(k)]


def test_lookup_passes_over_slots_of_other_hashes_sharing_the_top_bits() -> None:
    """A slot keeps only the top 32 bits of its hash: keys whose hashes share those with the
    probe's, earlier in the table, are passed over for the probe's own, and never found."""
    values = ["X1", "X2", "ABC", "X3", "ABC"]
    keys = _column(values)
    probes = _column(["ABC", "X1"])
    h = int(lookups._hash(probes.data, probes.ends[0], probes.ends[1]))
    top, low = h & ~((1 << 32) - 1), (1 << 32) - 1

    def slot(x: int) -> int:  # the table of 4 distinct hashes has 16 slots
        return ((x * int(lookups._MIX)) & ((1 << 64) - 1)) >> 60

    # Hashes that take the probe's first slot (and the ones after) before it is inserted.
    candidates = (top | ((h + d) & low) for d in range(1, 1 << 16))
    others = [x for x in candidates if slot(x) == slot(h)][:3]
    hashes = np.array([others[0], others[1], h, others[2], h], dtype=np.uint64)
    lookup = lookups.Lookup(keys)
    lookup._table = lookups._table(hashes, keys.valid, keys.data, keys.ends)

    i, j = lookup.find(probes)

    # "X1" is found under no hash of its own (its key was given another): only "ABC" is.
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 2), (0, 4)]


def test_a_lookup_refuses_more_bytes_than_its_records_can_say() -> None:
    huge = text.Strings(
        np.zeros(1, dtype=np.uint8),
        np.array([0, 1], dtype=np.int64),
        np.ones(1, dtype=np.bool_),
    )
    big = huge._replace(data=np.lib.stride_tricks.as_strided(huge.data, (1 << 31,), (0,)))
    with pytest.raises(lookups.LookupTooLarge, match="fewer than 2\\*\\*31 bytes"):
        lookups.Lookup(big)


def _first_appearances(rows: list[tuple[Any, ...]]) -> tuple[list[int], list[int]]:
    number: dict[tuple[Any, ...], int] = {}
    first: list[int] = []
    group = []
    for at, row in enumerate(rows):
        if row not in number:
            number[row] = len(first)
            first.append(at)
        group.append(number[row])
    return group, first


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(["t", "u", "", "é"])),
            st.one_of(st.none(), st.sampled_from(["C1", "C2", "c1", "C1 ", "😀"])),
        ),
        max_size=30,
    )
)
def test_groups_number_rows_by_first_appearance(rows: list[tuple[str | None, str | None]]) -> None:
    frame = pl.DataFrame(
        {"tenant": [r[0] for r in rows], "customer_id": [r[1] for r in rows]},
        schema={"tenant": pl.String, "customer_id": pl.String},
    )
    group, first = lookups.groups(frame)
    expected_group, expected_first = _first_appearances(rows)
    assert group.tolist() == expected_group and first.tolist() == expected_first
    # the path taken when two different rows share a hash gives the same numbering
    by_value, by_value_first = lookups._groups_by_value(frame)
    assert by_value.tolist() == expected_group and by_value_first.tolist() == expected_first


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1) | st.sampled_from([0, 1, 2**63, 2**64 - 1]), max_size=40))
def test_groups_of_hashes_are_grouped_by_equal_hash(hashes: list[int]) -> None:
    """The compiled grouping by hash, slots crowded (a small table): equal hashes only."""
    group, first = lookups._groups(np.array(hashes, dtype=np.uint64))
    expected_group, expected_first = _first_appearances([(h,) for h in hashes])
    assert group.tolist() == expected_group and first.tolist() == expected_first


def test_groups_by_value_when_different_rows_would_share_a_group() -> None:
    """_groups_by_value on the very frame `groups` reads: nulls equal, values told apart."""
    frame = pl.DataFrame({"entry_id": ["E", None, "e", "E", None, "", " E", "E "]})
    group, first = lookups._groups_by_value(frame)
    assert group.tolist() == [0, 1, 2, 0, 1, 3, 4, 5]
    assert first.tolist() == [0, 1, 2, 5, 6, 7]
    assert [a.tolist() for a in lookups.groups(frame)] == [group.tolist(), first.tolist()]


def test_of_lists_keeps_rows_places_empty_lists_and_nulls() -> None:
    column = pl.Series(
        [["a", "b"], [], None, [""], [None, "c"], ["\x1f"]], dtype=pl.List(pl.String)
    )
    strings, rows, places = text.of_lists(column)
    assert rows.tolist() == [0, 0, 3, 4, 4, 5]
    assert places.tolist() == [0, 1, 0, 0, 1, 0]
    assert _texts(strings) == ["a", "b", "", None, "c", "\x1f"]


def test_tuples_joined_and_split_back_keep_every_element() -> None:
    """items_frame joins tuples on \\x1f: empty strings, empty tuples and the joint itself."""
    items = [
        item_of(0, references=()),
        item_of(1, references=("",)),
        item_of(2, references=("", "")),
        item_of(3, references=("a", "", "b")),
    ]
    listed = items_frame(items).get_column("references").to_list()
    assert listed == [[], [""], ["", ""], ["a", "", "b"]]
    items.append(item_of(4, references=("x\x1fy",)))
    assert items_frame(items).get_column("references").to_list()[-1] == ["x\x1fy"]


def test_a_mapping_longer_than_the_compiled_buffer_allows_is_refused() -> None:
    """The compiled loop writes unchecked into twice the input's bytes; the table refuses a
    normaliser that would need more, with or without python -O."""

    def tripled(ch: str) -> str:
        return ch * 3

    with pytest.raises(ValueError, match=r"tripled maps U\+0080 to 6 bytes, more than twice its 2"):
        text._char_map(tripled)
