"""CNAB 400 cobrança retorno (Bradesco layout): liquidations as money in, sequence checked."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cobranza.domain.statements import StatementFileError
from cobranza.integrations.bank_files import detect_format, read_cnab400, read_statement

from .figures import FIXTURES, totals

RETORNO = FIXTURES / "cnab/cnab400_bradesco_retorno.ret"


def test_liquidations_become_lines_and_the_entry_confirmation_does_not() -> None:
    statement = read_cnab400(RETORNO)
    # Four details: one entry confirmation (02, no money), two liquidations 06, one 17.
    assert [line.bank_code for line in statement.lines] == ["06", "06", "17"]
    assert totals(statement) == ({"BRL": "1950.40"}, {})  # 899.90 + 600.00 + 450.50
    assert statement.controls == {"records": "6", "bank": "237"}
    assert statement.account == "00090123400567890"
    partial = statement.lines[1]
    assert partial.reference == "INV-BR-1003"  # the creditor's control number: its invoice
    assert "000000001003" in partial.references  # nosso número, leading zeros kept
    assert str(partial.amount) == "600.00 BRL"  # paid, not the 1,200.00 face value
    assert (partial.booked_on, partial.line) == (date(2026, 3, 16), 4)
    assert partial.remittance == "liquidação normal; bank fee 1.95 BRL"


def test_detected_from_content_and_ids_are_stable() -> None:
    assert detect_format(RETORNO) == "cnab400"
    first, again = read_statement(RETORNO), read_statement(RETORNO)
    assert [line.entry_id for line in first.lines] == [line.entry_id for line in again.lines]
    assert len({line.entry_id for line in first.lines}) == 3


def rewrite(tmp_path: Path, line: int, first: int, value: str) -> Path:
    rows = RETORNO.read_bytes().decode("latin-1").split("\r\n")
    row = rows[line - 1]
    rows[line - 1] = row[: first - 1] + value + row[first - 1 + len(value) :]
    bad = tmp_path / "bad.ret"
    bad.write_text("\r\n".join(rows), encoding="latin-1")
    return bad


@pytest.mark.parametrize(
    ("line", "first", "value", "reason"),
    [
        (4, 395, "000009", "record sequence (395-400) is 9, expected 4"),
        (3, 254, "00000008999X0", "amount paid (254-266) '00000008999X0' is not a number"),
        (5, 296, "310226", "credit date (296-301) '310226' is not a date DDMMAA"),
        (1, 1, "1", "a CNAB 400 retorno starts with a header '02RETORNO'"),
    ],
)
def test_bad_records_name_file_line_and_reason(
    tmp_path: Path, line: int, first: int, value: str, reason: str
) -> None:
    with pytest.raises(StatementFileError) as refused:
        read_cnab400(rewrite(tmp_path, line, first, value))
    assert (refused.value.file, refused.value.line) == ("bad.ret", line)
    assert refused.value.reason.startswith(reason)


def test_a_file_cut_before_its_trailer_is_refused(tmp_path: Path) -> None:
    rows = RETORNO.read_bytes().decode("latin-1").split("\r\n")[:4]
    cut = tmp_path / "cut.ret"
    cut.write_text("\r\n".join(rows), encoding="latin-1")
    with pytest.raises(StatementFileError, match=r"cut\.ret:4: the file ends without its trailer"):
        read_cnab400(cut)
