"""camt.053 / camt.054 files read with their balances checked, or refused with file and line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cobranza.domain.statements import Direction, StatementFileError
from cobranza.integrations.bank_files import read_camt

from .figures import FIXTURES, copy_with, line_containing, names_file_line, totals


def test_camt054_notification_one_batch_entry_with_three_details() -> None:
    statement = read_camt(FIXTURES / "camt/camt054.001.02.xml")
    assert statement.format == "camt.054.001.02"
    assert len(statement.lines) == 1
    assert totals(statement) == ({}, {"SEK": "200000.00"})
    assert statement.opening_balance is None and statement.controls == {}
    (entry,) = statement.lines
    assert entry.account == "CH2801234000123456789"
    assert entry.direction is Direction.DEBIT
    assert entry.booked_on == date(2007, 10, 18)
    assert entry.entry_id == "camt:CH2801234000123456789:AAAASESS-FP-ACCR001"
    assert entry.reference == "ISR ref number V1"
    assert "MUELL/FINP/RA12345" in entry.references
    assert "Ref number V3 block 2" in entry.references
    assert entry.bank_code == "PMNT/ICDT/DMCT"


@pytest.mark.parametrize(
    ("fixture", "line"),
    [("camt/camt053.001.02_minimal.xml", 60), ("camt/camt053.001.08.xml", 80)],
)
def test_camt053_samples_with_closing_balance_in_another_currency_are_refused(
    fixture: str, line: int
) -> None:
    with pytest.raises(StatementFileError) as refused:
        read_camt(FIXTURES / fixture)
    assert refused.value.line == line
    assert refused.value.reason == "balance CLBD is in SEK but the account is in EUR"
    assert names_file_line(str(refused.value), Path(fixture).name, line)


def test_camt053_v02_balances_opening_plus_entries_to_closing() -> None:
    statement = read_camt(FIXTURES / "derived/camt053.001.02_balanced.xml")
    assert len(statement.lines) == 1
    assert totals(statement) == ({"EUR": "8.85"}, {})
    assert str(statement.opening_balance) == "18.15 EUR"
    assert str(statement.closing_balance) == "27.00 EUR"
    assert statement.controls == {"closing balance (opening + credits - debits)": "27.00 EUR"}
    (entry,) = statement.lines
    assert entry.account == "NL26VAYB8060476890"
    assert entry.reference == "4654654654654654"  # structured creditor reference (SCOR)
    assert entry.counterparty_name == "NAME NAME"
    assert entry.counterparty_account == "NL56AGDH9619008421"
    assert (entry.booked_on, entry.value_on) == (date(2014, 12, 31), date(2015, 1, 2))


def test_camt053_v08_uses_the_banks_entry_reference_and_end_to_end_id() -> None:
    statement = read_camt(FIXTURES / "derived/camt053.001.08_balanced.xml")
    assert statement.format == "camt.053.001.08"
    assert totals(statement) == ({"EUR": "8.85"}, {})
    assert str(statement.closing_balance) == "27.00 EUR"
    (entry,) = statement.lines
    assert entry.entry_id == "camt:NL26VAYB8060476890:AAAASESS-FP-CN_98765/01"
    assert entry.references == ("MUELL/FINP/RA12345",)
    assert entry.booked_on == date(2014, 12, 31)  # from BookgDt/DtTm, in the bank's offset
    assert entry.bank_code == "PMNT/RCDT/BOOK"


def test_truncated_xml_names_file_and_line(tmp_path: Path) -> None:
    text = (FIXTURES / "camt/camt054.001.02.xml").read_text()
    cut = tmp_path / "cut.xml"
    cut.write_text("\n".join(text.splitlines()[:100]) + "\n")  # lxml: "line 101"
    with pytest.raises(StatementFileError) as refused:
        read_camt(cut)
    assert refused.value.file == "cut.xml"
    assert refused.value.line == 100  # the last line there is, not the one after it
    assert refused.value.reason.startswith("the file ends before its XML does, <")
    assert refused.value.reason.endswith("still open: it is cut short")


def test_xml_broken_inside_names_the_line_and_what_libxml_says(tmp_path: Path) -> None:
    bad = copy_with(tmp_path, "camt/camt054.001.02.xml", "<Ntry>", "<Ntry <")
    with pytest.raises(StatementFileError) as refused:
        read_camt(bad)
    assert refused.value.line == line_containing(bad, "<Ntry <")
    assert refused.value.reason.startswith("not well-formed XML: ")


def test_corrupted_entry_amount_names_its_line(tmp_path: Path) -> None:
    bad = copy_with(tmp_path, "derived/camt053.001.08_balanced.xml", ">8.85<", ">8.8S<")
    with pytest.raises(StatementFileError) as refused:
        read_camt(bad)
    assert refused.value.line == line_containing(bad, ">8.8S<")
    assert "'8.8S'" in refused.value.reason


def test_closing_balance_that_does_not_add_up_is_refused(tmp_path: Path) -> None:
    bad = copy_with(tmp_path, "derived/camt053.001.02_balanced.xml", '"EUR">27.00<', '"EUR">27.01<')
    with pytest.raises(StatementFileError) as refused:
        read_camt(bad)
    assert refused.value.line == line_containing(bad, '"EUR">27.01<')
    assert refused.value.reason == (
        "closing balance (opening + credits - debits): the file declares 27.01 EUR, "
        "its entries give 27.00 EUR"
    )


def _with_detail_amounts(tmp_path: Path, amounts: list[str]) -> Path:
    text = (FIXTURES / "camt/camt054.001.02.xml").read_text().replace("</Refs>", "</Refs>@@")
    for amount in amounts:
        text = text.replace(
            "@@", f'<AmtDtls><TxAmt><Amt Ccy="SEK">{amount}</Amt></TxAmt></AmtDtls>', 1
        )
    target = tmp_path / "camt054_split.xml"
    target.write_text(text)
    return target


def test_batch_entry_with_detail_amounts_becomes_one_line_per_payment(tmp_path: Path) -> None:
    statement = read_camt(_with_detail_amounts(tmp_path, ["50000", "50000", "100000"]))
    assert [str(e.amount) for e in statement.lines] == [
        "50000.00 SEK",
        "50000.00 SEK",
        "100000.00 SEK",
    ]
    assert [e.reference for e in statement.lines] == [
        "ISR ref number V1",
        "ISR ref number V2",
        "Ref number V3 block 1",
    ]
    assert [e.entry_id for e in statement.lines] == [
        f"camt:CH2801234000123456789:AAAASESS-FP-ACCR001/{n}" for n in (1, 2, 3)
    ]
    assert totals(statement) == ({}, {"SEK": "200000.00"})


def test_detail_amounts_that_do_not_add_up_to_the_entry_are_refused(tmp_path: Path) -> None:
    bad = _with_detail_amounts(tmp_path, ["50000", "50000", "99999"])
    with pytest.raises(StatementFileError) as refused:
        read_camt(bad)
    assert refused.value.line == line_containing(bad, "<Ntry>")
    assert refused.value.reason == (
        "the entry's transaction details add up to 199999.00 SEK, the entry says 200000.00 SEK"
    )
