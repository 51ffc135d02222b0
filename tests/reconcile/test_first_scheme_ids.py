"""A store written when entry ids left the payer out still knows the entries it imported.

Entries without a bank reference were once keyed by a hash of account, date, amount,
direction and reference alone (`<family>:<account>:h<hash>`, then `#2`, `#3` for the same
again). An overlapping statement read now must find those entries as imported, and must not
take another payer's same-amount transfer for one of them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from cobranza.domain.matching import match_lines
from cobranza.domain.statements import StatementLine
from cobranza.integrations.bank_files import read_mt940
from cobranza.reconciliation.statement_run import reconcile_statement
from cobranza.store import Store, money_in

ACCOUNT = "NL00BANK0123456789"


def statement(path: Path, payers: list[tuple[str, str]]) -> Path:
    """One day's MT940 of 100.00 USD credits without a bank reference, one per payer."""
    entries = "\n".join(
        f":61:2612041204C100,00NTRFNONREF\n:86:/NAME/{name}/REMI/{text}/" for name, text in payers
    )
    path.write_text(
        f":20:S\n:25:{ACCOUNT}\n:28C:1/1\n:60F:C261204USD0,00\n{entries}\n"
        f":62F:C261204USD{100 * len(payers)},00\n-\n"
    )
    return path


def first_scheme_id(line: StatementLine, occurrence: int) -> str:
    material = f"{ACCOUNT}|2026-12-04|100.00 USD|credit|"  # no reference: NONREF
    key = f"mt940:{ACCOUNT}:h{hashlib.sha256(material.encode()).hexdigest()[:20]}"
    return key if occurrence == 1 else f"{key}#{occurrence}"


def imported_by_the_first_scheme(store: Store, lines: tuple[StatementLine, ...]) -> None:
    renamed = [
        line.model_copy(update={"entry_id": first_scheme_id(line, n)})
        for n, line in enumerate(lines, start=1)
    ]
    money_in.record_import(store, match_lines(renamed, []), datetime(2026, 12, 5, tzinfo=UTC))


def test_an_overlap_finds_the_entry_the_first_scheme_imported_and_only_that(
    store: Store, tmp_path: Path
) -> None:
    before = read_mt940(statement(tmp_path / "f1.sta", [("ACME CORP", "INV-1")]))
    imported_by_the_first_scheme(store, before.lines)
    overlap = read_mt940(
        statement(tmp_path / "f2.sta", [("BETA LLC", "INV-2"), ("ACME CORP", "INV-1")])
    )
    beta, acme = overlap.lines
    run = reconcile_statement(store, overlap)
    assert set(run.known) == {acme.entry_id}
    assert run.known[acme.entry_id].entry_id == first_scheme_id(acme, 1)
    assert [r.line.entry_id for r in run.results] == [beta.entry_id]
    assert run.imported is not None and run.imported.new_entries == [beta.entry_id]
    # Read again: both known, nothing new.
    again = reconcile_statement(store, overlap)
    assert set(again.known) == {beta.entry_id, acme.entry_id}
    assert again.results == []


def test_identical_transfers_each_count_once(store: Store, tmp_path: Path) -> None:
    twice = [("ACME CORP", "INV-1")] * 2
    imported_by_the_first_scheme(store, read_mt940(statement(tmp_path / "f1.sta", twice)).lines)
    thrice = read_mt940(statement(tmp_path / "f2.sta", [*twice, ("ACME CORP", "INV-1")]))
    run = reconcile_statement(store, thrice, dry_run=True)
    first, second, third = thrice.lines
    assert run.known[first.entry_id].entry_id == first_scheme_id(first, 1)
    assert run.known[second.entry_id].entry_id == first_scheme_id(second, 2)
    assert [r.line.entry_id for r in run.results] == [third.entry_id]
