"""CNAB 240 cobrança retorno: liquidations as money in, trailer counts checked."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cobranza.domain.statements import StatementFileError
from cobranza.integrations.bank_files import read_cnab240

from .figures import FIXTURES, copy_with, totals


def test_banco_do_brasil_retorno_with_trimmed_records_reads_by_padding() -> None:
    statement = read_cnab240(FIXTURES / "cnab/cnab240_bb_retorno.ret")
    assert len(statement.lines) == 35  # 35 T/U pairs, all movement 17 (liquidação após baixa)
    # Sum of U 78-92 over the file, added by hand with awk: 2188094 centavos.
    assert totals(statement) == ({"BRL": "21880.94"}, {})
    assert statement.controls == {"lote 1 records": "72", "file lotes": "1", "file records": "74"}
    assert statement.account == "01234/000000005432"
    first = statement.lines[0]
    assert first.reference == "14499570000020673"  # nosso número, leading zeros kept
    assert str(first.amount) == "344.00 BRL"
    assert (first.booked_on, first.line) == (date(2012, 1, 2), 3)
    assert first.remittance == "liquidação após baixa; bank fee 1.03 BRL"


def test_santander_sample_whose_lote_trailer_miscounts_is_refused() -> None:
    with pytest.raises(StatementFileError) as refused:
        read_cnab240(FIXTURES / "cnab/python_cnab_santander240.ret")
    assert refused.value.line == 5
    assert refused.value.reason == "lote 1 records: the trailer declares 2, the file has 4"


def test_wrong_file_trailer_count(tmp_path: Path) -> None:
    bad = copy_with(
        tmp_path,
        "cnab/cnab240_bb_retorno.ret",
        "00199999         000001000074",
        "00199999         000001000075",
    )
    with pytest.raises(StatementFileError) as refused:
        read_cnab240(bad)
    assert refused.value.line == 74
    assert refused.value.reason == "file records: the trailer declares 75, the file has 74"


def test_corrupted_paid_amount_in_a_later_title(tmp_path: Path) -> None:
    rows = (FIXTURES / "cnab/cnab240_bb_retorno.ret").read_text(encoding="latin-1").splitlines()
    u = list(rows[41])
    u[80] = "X"  # position 81, inside "valor pago" (78-92) of the 20th title
    rows[41] = "".join(u)
    bad = tmp_path / "bad.ret"
    bad.write_text("\n".join(rows) + "\n", encoding="latin-1")
    with pytest.raises(StatementFileError) as refused:
        read_cnab240(bad)
    assert refused.value.line == 42
    assert "amount paid (78-92)" in refused.value.reason


def test_record_longer_than_240_is_refused(tmp_path: Path) -> None:
    rows = (FIXTURES / "cnab/cnab240_bb_retorno.ret").read_text(encoding="latin-1").splitlines()
    rows[2] = rows[2].ljust(241, "0")
    bad = tmp_path / "long.ret"
    bad.write_text("\n".join(rows) + "\n", encoding="latin-1")
    with pytest.raises(StatementFileError) as refused:
        read_cnab240(bad)
    assert (refused.value.line, refused.value.reason) == (
        3,
        "record has 241 characters, CNAB 240 has 240",
    )
