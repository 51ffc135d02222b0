"""BAI2 files: amounts in minor units, control totals and record counts checked."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cobranza.domain.statements import Direction, StatementFileError
from cobranza.integrations.bank_files import read_bai2

from .figures import FIXTURES, copy_with, totals


def test_citi_gbp_with_88_continuations() -> None:
    statement = read_bai2(FIXTURES / "bai2/citi_gb.bai2")
    assert len(statement.lines) == 1
    assert totals(statement) == ({"GBP": "0.01"}, {})  # 16 record amount 001 = one penny
    assert (str(statement.opening_balance), str(statement.closing_balance)) == (
        "100.00 GBP",
        "100.00 GBP",
    )
    assert statement.controls["file control total"] == "20001"
    assert statement.controls["file records"] == "14"
    (entry,) = statement.lines
    assert entry.entry_id == "bai2:77777777:1234567890"
    assert entry.reference == "RP12312312312312"
    assert entry.bank_code == "191"
    assert "OB:111111 BUCKINGHAM PALACE" in entry.remittance  # joined from 88 records
    assert entry.booked_on == date(2015, 7, 15)


def test_svb_two_days_with_ledger_balances_and_type_100_400_summaries() -> None:
    statement = read_bai2(FIXTURES / "bai2/svb_us.bai2")
    assert len(statement.lines) == 2
    assert totals(statement) == ({"USD": "13959.96"}, {})
    assert str(statement.opening_balance) == "347269.79 USD"
    assert str(statement.closing_balance) == "361229.75 USD"
    assert statement.controls["file control total"] == "282030196"
    assert statement.controls["file groups"] == "2"
    assert statement.controls["account 1 total credits (type 100)"] == "4901.96 USD"
    assert statement.controls["account 2 total credits (type 100)"] == "9058.00 USD"
    assert [e.booked_on for e in statement.lines] == [date(2022, 2, 1), date(2022, 2, 2)]
    assert statement.lines[0].remittance == "SOME PAYMENT ACH OFFSET"


def test_moov_cad_returned_cheques_against_declared_summaries() -> None:
    statement = read_bai2(FIXTURES / "bai2/moov_sample1_cad.bai2")
    assert len(statement.lines) == 17
    assert totals(statement) == ({"CAD": "3200.00"}, {"CAD": "3200.00"})
    assert statement.controls["account 1 total debits (type 400)"] == "2085.00 CAD"
    assert statement.controls["account 1 total debits (type 400) items"] == "8"
    assert statement.controls["account 2 total credits (type 100)"] == "1115.00 CAD"
    assert statement.controls["file control total"] == "1280000"
    assert statement.controls["file records"] == "27"
    first = statement.lines[0]
    assert (first.direction, first.remittance, str(first.amount)) == (
        Direction.DEBIT,
        "RETURNED CHEQUE",
        "25.00 CAD",
    )
    assert first.value_on == date(2006, 3, 16)
    ids = [e.entry_id for e in statement.lines]
    assert len(set(ids)) == 17  # equal amounts on one day differ by occurrence


def test_wrong_account_control_total_names_the_49_record(tmp_path: Path) -> None:
    bad = copy_with(tmp_path, "bai2/citi_gb.bai2", "49,20001,10/", "49,20002,10/")
    with pytest.raises(StatementFileError) as refused:
        read_bai2(bad)
    assert refused.value.line == 12
    assert "account control total" in refused.value.reason


def test_wrong_record_count_in_the_file_trailer(tmp_path: Path) -> None:
    bad = copy_with(tmp_path, "bai2/svb_us.bai2", "99,282030196,2,20", "99,282030196,2,21")
    with pytest.raises(StatementFileError) as refused:
        read_bai2(bad)
    assert refused.value.line == 20
    assert "number of records" in refused.value.reason


def test_corrupted_amount_names_its_16_record(tmp_path: Path) -> None:
    bad = copy_with(
        tmp_path, "bai2/moov_sample1_cad.bai2", "16,108,000000000100000", "16,108,0000000001O0000"
    )
    with pytest.raises(StatementFileError) as refused:
        read_bai2(bad)
    assert refused.value.line == 20
    assert "'0000000001O0000' is not a whole number" in refused.value.reason
