"""MT940 statements: each balances (:60F: + entries = :62F:) or the file is refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cobranza.domain.statements import Direction, StatementFileError
from cobranza.integrations.bank_files import read_mt940, read_statement
from cobranza.integrations.bank_files.swift_mt940 import parse_details

from .figures import FIXTURES, copy_with, line_containing, totals


def test_rabobank_two_statements_balance_and_structured_86() -> None:
    statement = read_mt940(FIXTURES / "mt940/rabobank_iban_nl.sta")
    assert len(statement.lines) == 4
    assert totals(statement) == ({}, {"EUR": "70.00"})
    assert str(statement.opening_balance) == "1000.00 EUR"
    assert str(statement.closing_balance) == "930.00 EUR"
    assert statement.controls == {
        "statement 1 closing balance (:60F: + entries = :62F:)": "965.00 EUR",
        "statement 2 closing balance (:60F: + entries = :62F:)": "930.00 EUR",
    }
    first, second = statement.lines[:2]
    assert first.reference == "01-01-2013 12:00 0030000987654321"  # /EREF/
    assert first.counterparty_name == "CONTRA ACCOUNT HOLDER"  # /NAME/ wrapped over two lines
    assert first.counterparty_account == "NL70ABNA0987654321"
    assert first.booked_on == date(2013, 1, 1)
    assert second.remittance == "Reference 201301234"  # /REMI/
    assert second.counterparty_name == "JOHN DOE"
    assert all(line.direction is Direction.DEBIT for line in statement.lines)


def test_ing_sample_whose_entries_do_not_reach_its_closing_balance_is_refused() -> None:
    with pytest.raises(StatementFileError) as refused:
        read_mt940(FIXTURES / "mt940/ing_nl.sta")
    assert refused.value.line == 26  # the :62F: line
    assert refused.value.reason == (
        "statement 1 closing balance (:60F: + entries = :62F:): the file declares 3.47 EUR, "
        "its entries give -45.59 EUR"
    )


def test_cmxl_sample_in_deutsche_mark_balances_and_keeps_its_eur_and_pln_statements() -> None:
    # DEM left ISO 4217's current list in 2002; the file's money is read all the same.
    statement = read_mt940(FIXTURES / "mt940/generic_de_cmxl.sta")
    assert len(statement.lines) == 16
    marks = [line for line in statement.lines if line.amount.currency == "DEM"]
    assert len(marks) == 11
    assert totals(statement) == (
        {"DEM": "49396.74", "EUR": "3000.00", "PLN": "20040.00"},
        {"DEM": "49309.44", "EUR": "800.00", "PLN": "10000.00"},
    )
    # 84,349.74 DEM + 49,396.74 - 49,309.44 = 84,437.04 DEM, the :62F: it declares.
    assert statement.controls == {
        "statement 1 closing balance (:60F: + entries = :62F:)": "84437.04 DEM",
        "statement 2 closing balance (:60F: + entries = :62F:)": "4387.95 EUR",
        "statement 3 closing balance (:60F: + entries = :62F:)": "50040.00 PLN",
    }
    assert statement.currency is None and statement.opening_balance is None
    first = marks[0]
    assert (first.line, str(first.amount), first.direction) == (5, "6800.00 DEM", Direction.DEBIT)
    assert first.reference == "16703074"  # the cheque number after NCHK


def test_cmxl_eur_and_pln_statements_with_gv_subfields() -> None:
    statement = read_mt940(FIXTURES / "derived/generic_de_cmxl_eur_pln.sta")
    assert len(statement.lines) == 5
    assert totals(statement) == (
        {"EUR": "3000.00", "PLN": "20040.00"},
        {"EUR": "800.00", "PLN": "10000.00"},
    )
    assert statement.currency is None and statement.opening_balance is None
    assert statement.controls == {
        "statement 1 closing balance (:60F: + entries = :62F:)": "4387.95 EUR",
        "statement 2 closing balance (:60F: + entries = :62F:)": "50040.00 PLN",
    }
    rent = statement.lines[0]
    assert (rent.remittance, rent.counterparty_name) == ("Miete November", "MUELLER")
    assert rent.counterparty_account == "234567"  # ?31
    assert rent.bank_code == "008"
    assert (rent.booked_on, rent.value_on) == (date(2002, 11, 2), date(2002, 11, 1))
    polish = statement.lines[2]
    assert polish.counterparty_account == "PL08106000760000777777777777"  # ?38
    assert "FAKTURA 333/2003." in polish.remittance
    assert polish.entry_id == "mt940:BPHKPLPK/320000546101:8327000090031789"


def test_sepa_keys_inside_gv_purpose() -> None:
    details = parse_details("166?00SEPA-UEBERWEISUNG?20EREF+RE-2024-0042?21SVWZ+Rechnung 42?32ACME")
    assert details.reference == "RE-2024-0042"
    assert details.remittance == "Rechnung 42"
    assert details.counterparty_name == "ACME"


def test_corrupted_amount_in_a_later_entry_refuses_the_whole_file(tmp_path: Path) -> None:
    bad = copy_with(
        tmp_path,
        "mt940/rabobank_iban_nl.sta",
        ":61:130109D000000000010,00",
        ":61:130109D0000000000I0,00",
    )
    with pytest.raises(StatementFileError) as refused:
        read_mt940(bad)
    assert refused.value.file == "rabobank_iban_nl.sta"
    assert refused.value.line == line_containing(bad, "0000000000I0,00")
    assert refused.value.reason.startswith("entry :61: is not value date")


def test_wrong_closing_balance_names_the_62F_line(tmp_path: Path) -> None:
    bad = copy_with(
        tmp_path, "mt940/rabobank_iban_nl.sta", "EUR000000000930,00", "EUR000000000931,00"
    )
    with pytest.raises(StatementFileError) as refused:
        read_mt940(bad)
    assert refused.value.line == 25
    assert "declares 931.00 EUR, its entries give 930.00 EUR" in refused.value.reason


def test_overlapping_statement_gives_the_same_entry_ids(tmp_path: Path) -> None:
    whole = read_mt940(FIXTURES / "mt940/rabobank_iban_nl.sta")
    rows = (FIXTURES / "mt940/rabobank_iban_nl.sta").read_text().splitlines()
    second_only = tmp_path / "second.sta"
    second_only.write_text("\n".join(rows[13:]) + "\n")
    again = read_mt940(second_only)
    assert [e.entry_id for e in again.lines] == [e.entry_id for e in whole.lines[2:]]
    assert read_mt940(FIXTURES / "mt940/rabobank_iban_nl.sta") == whole
    assert len({e.entry_id for e in whole.lines}) == 4


def _nonref_statement(path: Path, number: str, payers: list[tuple[str, str]]) -> Path:
    """One day's statement of 100.00 USD credits without a bank reference, one per payer."""
    entries = [
        f":61:2612041204C100,00NTRFNONREF\n:86:/NAME/{name}/REMI/{text}/" for name, text in payers
    ]
    closing = f"{100 * len(payers)},00"
    path.write_text(
        f":20:{number}\n:25:NL00BANK0123456789\n:28C:1/1\n:60F:C261204USD0,00\n"
        + "\n".join(entries)
        + f"\n:62F:C261204USD{closing}\n-\n"
    )
    return path


def test_same_amount_transfers_of_two_payers_never_share_an_entry_id(tmp_path: Path) -> None:
    """An overlapping statement lists another payer's 100.00 first: each transfer keeps its
    own id (the first import's ACME line is found again), so neither is taken for the other."""
    first = read_mt940(_nonref_statement(tmp_path / "f1.sta", "S1", [("ACME CORP", "INV-1")]))
    overlap = read_mt940(
        _nonref_statement(
            tmp_path / "f2.sta", "S2", [("BETA LLC", "INV-2"), ("ACME CORP", "INV-1")]
        )
    )
    (acme,) = first.lines
    beta, acme_again = overlap.lines
    assert acme_again.entry_id == acme.entry_id
    assert beta.entry_id != acme.entry_id
    # Two transfers saying exactly the same are two entries all the same.
    twice = read_mt940(_nonref_statement(tmp_path / "f3.sta", "S3", [("ACME CORP", "INV-1")] * 2))
    assert [line.entry_id for line in twice.lines] == [acme.entry_id, f"{acme.entry_id}#2"]


@pytest.mark.parametrize("content", [b"", b"\r\n  \n"])
def test_an_empty_file_is_called_empty(tmp_path: Path, content: bytes) -> None:
    empty = tmp_path / "empty.sta"
    empty.write_bytes(content)
    with pytest.raises(StatementFileError) as refused:
        read_mt940(empty)
    assert str(refused.value) == "empty.sta: empty file: no statement in it"


def test_a_utf16_statement_reads_as_its_utf8_original(tmp_path: Path) -> None:
    original = FIXTURES / "mt940/rabobank_iban_nl.sta"
    utf16 = tmp_path / "rabobank_iban_nl.sta"
    utf16.write_bytes(original.read_text(encoding="utf-8").encode("utf-16"))
    assert read_statement(utf16) == read_mt940(original)


def test_bytes_no_encoding_reads_name_their_line_and_offset(tmp_path: Path) -> None:
    rows = (FIXTURES / "mt940/rabobank_iban_nl.sta").read_bytes().split(b"\n")
    rows[2] = rows[2] + b"\x81"  # undefined in cp1252, invalid alone in utf-8
    bad = tmp_path / "bad.sta"
    bad.write_bytes(b"\n".join(rows))
    offset = len(rows[0]) + len(rows[1]) + 2 + len(rows[2]) - 1
    with pytest.raises(StatementFileError) as refused:
        read_mt940(bad)
    assert refused.value.line == 3
    assert refused.value.reason == (
        f"byte 0x81 at offset {offset} (byte {len(rows[2])} of the line) is not utf-8; "
        f"byte 0x81 at offset {offset} (byte {len(rows[2])} of the line) is not cp1252"
    )
