"""OFX statements on ofxparse (both samples, including the one ofxtools refuses)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cobranza.domain.statements import Direction, StatementFileError
from cobranza.integrations.bank_files import read_ofx

from .figures import FIXTURES, copy_with, line_containing, totals


def test_checking_sgml_with_returned_check_fee() -> None:
    statement = read_ofx(FIXTURES / "ofx/ofxparse_checking.ofx")
    assert len(statement.lines) == 3
    assert totals(statement) == ({"USD": "0.01"}, {"USD": "59.51"})
    assert str(statement.closing_balance) == "100.99 USD"  # LEDGERBAL; OFX has no opening
    assert statement.controls == {}
    assert statement.account == "1452687~7"
    fee = statement.lines[2]
    assert fee.entry_id == "ofx:1452687~7:0000488"
    assert (fee.reference, fee.booked_on, fee.direction) == (
        "319",
        date(2011, 4, 7),
        Direction.DEBIT,
    )


def test_bank_medium_keeps_the_account_as_printed() -> None:
    statement = read_ofx(FIXTURES / "ofx/ofxparse_bank_medium.ofx")
    assert len(statement.lines) == 3
    assert totals(statement) == ({}, {"CAD": "345.27"})
    assert str(statement.closing_balance) == "382.34 CAD"
    assert statement.account == "12300 000012345678"
    first = statement.lines[0]
    assert first.counterparty_name == "MCDONALD'S #112"
    assert first.booked_on == date(2009, 4, 1)


def test_corrupted_amount_names_its_line(tmp_path: Path) -> None:
    bad = copy_with(tmp_path, "ofx/ofxparse_bank_medium.ofx", "<TRNAMT>-22.00", "<TRNAMT>-22.0O")
    with pytest.raises(StatementFileError) as refused:
        read_ofx(bad)
    assert refused.value.line == line_containing(bad, "-22.0O")
    assert refused.value.reason == "TRNAMT '-22.0O' is not a decimal amount"


def test_a_file_no_encoding_reads_names_the_line_and_byte(tmp_path: Path) -> None:
    """0x81 is neither UTF-8 nor cp1252: refused at its line, never read in part."""
    bad = tmp_path / "bad.ofx"
    bad.write_bytes(b"OFXHEADER:100\nDATA:OFXSGML\n<NAME>Pe\x81a\n")
    with pytest.raises(StatementFileError) as refused:
        read_ofx(bad)
    assert (refused.value.file, refused.value.line) == ("bad.ofx", 3)
    assert "byte 0x81 at offset 35 (byte 9 of the line) is not utf-8" in refused.value.reason
    assert "is not cp1252" in refused.value.reason
