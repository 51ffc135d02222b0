"""CSV through a declared mapping, and read_statement's detection of every fixture's format."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cobranza.domain.statements import StatementFileError
from cobranza.integrations.bank_files import CsvMapping, detect_format, read_statement

from .figures import FIXTURES, copy_with, totals

MAPPING = FIXTURES / "csv/bank_export_es.yaml"


def test_csv_with_spanish_number_format_and_credit_debit_columns() -> None:
    statement = read_statement(
        FIXTURES / "csv/bank_export_es.csv", mapping=CsvMapping.from_yaml(MAPPING)
    )
    assert len(statement.lines) == 3
    assert totals(statement) == ({"MXN": "11234.50"}, {"MXN": "15.00"})
    assert statement.account == "0021800012345678901"  # leading zeros kept
    first = statement.lines[0]
    assert (first.reference, first.counterparty_name) == ("FAC-00123", "ACME SA DE CV")
    assert (first.booked_on, first.line) == (date(2024, 3, 2), 2)


def test_csv_with_a_bad_date_names_file_line_and_column(tmp_path: Path) -> None:
    bad = copy_with(tmp_path, "csv/bank_export_es.csv", "05/03/2024", "2024-03-05")
    with pytest.raises(StatementFileError) as refused:
        read_statement(bad, mapping=CsvMapping.from_yaml(MAPPING))
    assert str(refused.value) == (
        "bank_export_es.csv:4: column 'Fecha': '2024-03-05' is not a date in the format %d/%m/%Y"
    )


def test_csv_with_a_bad_amount_names_its_column(tmp_path: Path) -> None:
    bad = copy_with(tmp_path, "csv/bank_export_es.csv", "1.234,50", "1.234,5O")
    with pytest.raises(StatementFileError) as refused:
        read_statement(bad, mapping=CsvMapping.from_yaml(MAPPING))
    assert (refused.value.line, refused.value.reason) == (
        2,
        "column 'Abono': '1.234,5O' is not an amount",
    )


def test_mapping_file_with_both_amount_styles_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = copy_with(
        tmp_path, "csv/bank_export_es.yaml", "credit: Abono", "amount: Importe\ncredit: Abono"
    )
    with pytest.raises(StatementFileError) as refused:
        CsvMapping.from_yaml(bad)
    assert refused.value.file == "bank_export_es.yaml"
    assert "give either `amount` or both `credit` and `debit`" in refused.value.reason


EXPECTED_FORMATS = {
    "bai2": "bai2",
    "camt": "camt",
    "cfdi40": "cfdi",
    "cnab": "cnab240",
    "mt940": "mt940",
    "ofx": "ofx",
    "spei_cep": "spei_cep",
}


@pytest.mark.parametrize(
    "path",
    sorted(p for folder in EXPECTED_FORMATS for p in (FIXTURES / folder).iterdir()),
    ids=lambda p: p.name,
)
def test_format_is_detected_from_content(path: Path, tmp_path: Path) -> None:
    hidden = tmp_path / "upload.bin"  # no suffix to lean on
    hidden.write_bytes(path.read_bytes())
    expected = "cnab400" if path.name.startswith("cnab400") else EXPECTED_FORMATS[path.parent.name]
    assert detect_format(hidden) == expected


def test_read_statement_dispatches_and_refuses_the_unknown(tmp_path: Path) -> None:
    statement = read_statement(FIXTURES / "bai2/svb_us.bai2")
    assert statement.format == "bai2" and len(statement.lines) == 2
    unknown = tmp_path / "notes.txt"
    unknown.write_text("\n  \nhello, this is no statement at all\n")
    with pytest.raises(StatementFileError) as refused:
        read_statement(unknown)
    assert refused.value.line == 3
    assert refused.value.reason.startswith(
        "unrecognised format: the file starts 'hello, this is no statem', as none of camt, "
    )
    with pytest.raises(StatementFileError, match="needs its column mapping: give --mapping FILE"):
        read_statement(FIXTURES / "csv/bank_export_es.csv")


@pytest.mark.parametrize(
    ("content", "line", "shown"),
    [
        ("hello there\n".encode("utf-16"), 1, "'hello there'"),  # as detection decodes it
        (b"\xef\xbb\xbfhello there\n", 1, "'hello there'"),  # the UTF-8 mark is not text
    ],
)
def test_an_unrecognised_file_is_shown_as_its_text(
    tmp_path: Path, content: bytes, line: int, shown: str
) -> None:
    unknown = tmp_path / "notes.txt"
    unknown.write_bytes(content)
    with pytest.raises(StatementFileError) as refused:
        read_statement(unknown)
    assert refused.value.line == line
    assert refused.value.reason.startswith(f"unrecognised format: the file starts {shown}, as")


def test_a_file_of_blank_lines_is_called_so(tmp_path: Path) -> None:
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\t\n")
    with pytest.raises(StatementFileError) as refused:
        read_statement(blank)
    assert str(refused.value) == "blank.txt: only blank lines: no statement in it"


def latin1_export(tmp_path: Path) -> Path:
    return copy_with(
        tmp_path, "csv/bank_export_es.csv", "Distribuidora Lopez", "Distribuidora López"
    )


def test_csv_in_latin1_read_as_utf8_names_line_column_offset_and_the_encoding_option(
    tmp_path: Path,
) -> None:
    with pytest.raises(StatementFileError) as refused:
        read_statement(latin1_export(tmp_path), mapping=CsvMapping.from_yaml(MAPPING))
    assert str(refused.value) == (
        "bank_export_es.csv:4: column 'Ordenante': byte 0xf3 at offset 196 (byte 56 of the "
        "line) is not utf-8: set the mapping's `encoding:` to the file's (latin-1 or cp1252 "
        "for most Western European bank exports)"
    )


def test_csv_in_latin1_with_its_encoding_declared(tmp_path: Path) -> None:
    mapping = copy_with(
        tmp_path, "csv/bank_export_es.yaml", 'delimiter: ";"', 'delimiter: ";"\nencoding: latin-1'
    )
    statement = read_statement(latin1_export(tmp_path), mapping=CsvMapping.from_yaml(mapping))
    assert statement.lines[-1].counterparty_name == "Distribuidora López"


def test_csv_in_utf16_is_told_to_say_so_and_then_read(tmp_path: Path) -> None:
    utf16 = tmp_path / "export.csv"
    utf16.write_bytes((FIXTURES / "csv/bank_export_es.csv").read_text().encode("utf-16"))
    with pytest.raises(StatementFileError) as refused:
        read_statement(utf16, mapping=CsvMapping.from_yaml(MAPPING))
    assert (refused.value.line, refused.value.reason) == (
        1,
        "header: byte 0xff at offset 0 (byte 1 of the line) is not utf-8: the file starts with "
        "a UTF-16 byte order mark: set `encoding: utf-16`",
    )
    mapping = copy_with(
        tmp_path, "csv/bank_export_es.yaml", 'delimiter: ";"', 'delimiter: ";"\nencoding: utf-16'
    )
    statement = read_statement(utf16, mapping=CsvMapping.from_yaml(mapping))
    assert totals(statement) == ({"MXN": "11234.50"}, {"MXN": "15.00"})


def test_mapping_with_an_unknown_encoding_names_its_line(tmp_path: Path) -> None:
    bad = copy_with(
        tmp_path, "csv/bank_export_es.yaml", 'delimiter: ";"', 'delimiter: ";"\nencoding: latin-9x'
    )
    with pytest.raises(StatementFileError) as refused:
        CsvMapping.from_yaml(bad)
    assert refused.value.line == 12
    assert refused.value.reason.startswith("encoding: unknown encoding 'latin-9x'")


def test_an_empty_file_of_any_format_is_called_empty(tmp_path: Path) -> None:
    for name in ("statement.xml", "statement.bai2", "statement.unknown"):
        empty = tmp_path / name
        empty.write_bytes(b"")
        with pytest.raises(StatementFileError) as refused:
            read_statement(empty)
        assert str(refused.value) == f"{name}: empty file: no statement in it"


def test_utf16_is_refused_by_a_reader_of_plain_text_saying_so(tmp_path: Path) -> None:
    utf16 = tmp_path / "citi_gb.bai2"
    utf16.write_bytes((FIXTURES / "bai2/citi_gb.bai2").read_text().encode("utf-16"))
    assert detect_format(utf16) == "bai2"
    with pytest.raises(StatementFileError) as refused:
        read_statement(utf16)
    assert (refused.value.line, refused.value.reason) == (
        1,
        "UTF-16 text (the file starts with its byte order mark): bai2 files are read as UTF-8 "
        "or single-byte text; save it as UTF-8",
    )
