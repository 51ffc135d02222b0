"""Files cut short after any line are refused at a line, never hang, never half-read."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cobranza.domain.statements import Statement, StatementFileError
from cobranza.integrations.bank_files import read_bai2, read_ofx
from cobranza.starter.cli import app

from .figures import FIXTURES, copy_with, line_containing, names_file_line

READERS: dict[str, Callable[[Path], Statement]] = {".bai2": read_bai2, ".ofx": read_ofx}
SAMPLES = [
    "bai2/citi_gb.bai2",
    "bai2/moov_sample1_cad.bai2",
    "bai2/svb_us.bai2",
    "ofx/ofxparse_bank_medium.ofx",
    "ofx/ofxparse_checking.ofx",
]


def cuts() -> list[tuple[str, int]]:
    found = []
    for sample in SAMPLES:
        count = len((FIXTURES / sample).read_bytes().splitlines())
        found += [(sample, kept) for kept in range(1, count + 1)]
    return found


def cut(tmp_path: Path, sample: str, kept: int) -> Path:
    lines = (FIXTURES / sample).read_bytes().splitlines(keepends=True)
    target = tmp_path / Path(sample).name
    target.write_bytes(b"".join(lines[:kept]))
    return target


def read_within(path: Path, seconds: float = 5.0) -> Statement | StatementFileError:
    """The reader's Statement or refusal; a reader still busy after `seconds` fails the test."""
    outcome: list[Statement | BaseException] = []

    def run() -> None:
        try:
            outcome.append(READERS[path.suffix](path))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)  # a hung reader must not block exit
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"reading {path.name} still runs after {seconds} s"
    (result,) = outcome
    if isinstance(result, StatementFileError | Statement):
        return result
    raise result


@pytest.mark.parametrize(("sample", "kept"), cuts())
def test_a_cut_file_is_refused_at_a_line_or_is_the_whole_file(
    tmp_path: Path, sample: str, kept: int
) -> None:
    path = cut(tmp_path, sample, kept)
    rows = (FIXTURES / sample).read_bytes().splitlines()
    last = max(number for number, row in enumerate(rows, 1) if row.strip())
    result = read_within(path)
    if kept >= last:  # only blank lines left out: the file is whole
        assert isinstance(result, Statement), result
        return
    assert isinstance(result, StatementFileError), f"a cut after line {kept} was read"
    assert result.line is not None and 1 <= result.line <= kept
    assert "cut short" in result.reason
    assert names_file_line(str(result), path.name, result.line)


def test_bai2_cut_after_a_continuation_names_the_open_account(tmp_path: Path) -> None:
    path = cut(tmp_path, "bai2/svb_us.bai2", 8)  # the reported hang: 16 then 88, then nothing
    with pytest.raises(StatementFileError) as refused:
        read_bai2(path)
    assert refused.value.line == 8
    assert refused.value.reason == (
        "the file ends inside the account opened on line 3 (no 49 account trailer, nor the 98 "
        "and 99 after it): it is cut short"
    )


def test_bai2_cut_between_groups_misses_only_the_file_trailer(tmp_path: Path) -> None:
    with pytest.raises(StatementFileError) as refused:
        read_bai2(cut(tmp_path, "bai2/svb_us.bai2", 10))
    assert refused.value.line == 10
    assert refused.value.reason == "the file ends without its 99 file trailer: it is cut short"


@pytest.mark.parametrize(
    ("old", "new", "needle", "reason"),
    [
        (
            "49,138884258,7/\n",
            "",
            "98,138884258",
            "a 98 group trailer in the account opened on line 3: expected a 16 transaction "
            "detail or 49 account trailer",
        ),
        (
            "03,1234567890,USD,010,35217175",
            "16,142,1,,1,/\n03,1234567890,USD,010,35217175",
            "16,142,1,,1",
            "a 16 transaction detail in the group opened on line 11: expected a 03 account "
            "identifier or 98 group trailer",
        ),
        (
            "99,282030196,2,20",
            "99,282030196,2,20/\n02,121140399,121140399,1,220203,,USD,2/",
            "02,121140399,121140399,1,220203",
            "a 02 group header after the 99 file trailer",
        ),
        (
            "88,SOME PAYMENT ACH OFFSET",
            "77,SOME PAYMENT ACH OFFSET",
            "77,",
            "record code '77' is not one of 01, 02, 03, 16, 49, 88, 98, 99 followed by a comma",
        ),
    ],
)
def test_bai2_misplaced_records_are_refused_before_parsing(
    tmp_path: Path, old: str, new: str, needle: str, reason: str
) -> None:
    bad = copy_with(tmp_path, "bai2/svb_us.bai2", old, new)
    with pytest.raises(StatementFileError) as refused:
        read_bai2(bad)
    assert (refused.value.line, refused.value.reason) == (line_containing(bad, needle), reason)


def test_bai2_continuation_on_the_first_line_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "only88.bai2"
    path.write_text("88,ORPHAN TEXT\n01,A,B,230214,0754,1,,,2/\n")
    with pytest.raises(StatementFileError) as refused:
        read_bai2(path)
    assert refused.value.line == 1
    assert "88 continuation record with no record before it" in refused.value.reason


def test_bai2_record_the_package_cannot_read_names_its_line(tmp_path: Path) -> None:
    bad = copy_with(tmp_path, "bai2/svb_us.bai2", "16,142,905800,,150675", "16,142,905800,X,1")
    with pytest.raises(StatementFileError) as refused:
        read_bai2(bad)
    assert refused.value.line == 16
    assert refused.value.reason.startswith("not a readable 16 record: ")


def test_ofx_cut_in_a_transaction_names_its_opening_line(tmp_path: Path) -> None:
    path = cut(tmp_path, "ofx/ofxparse_checking.ofx", 58)
    with pytest.raises(StatementFileError) as refused:
        read_ofx(path)
    assert refused.value.line == 58
    assert refused.value.reason == (
        "the file ends inside <STMTTRN> opened on line 54, before its </STMTTRN> (also left "
        "open: BANKTRANLIST, STMTRS, STMTTRNRS, BANKMSGSRSV1, OFX): it is cut short"
    )


def test_ofx_headers_only_say_the_body_is_missing(tmp_path: Path) -> None:
    with pytest.raises(StatementFileError) as refused:
        read_ofx(cut(tmp_path, "ofx/ofxparse_bank_medium.ofx", 9))
    assert refused.value.line == 9
    assert refused.value.reason == "the file ends before its <OFX> body begins: it is cut short"


def test_ofx_without_currency_names_the_statement_line(tmp_path: Path) -> None:
    bad = copy_with(tmp_path, "ofx/ofxparse_bank_medium.ofx", "<CURDEF>CAD", "")
    with pytest.raises(StatementFileError) as refused:
        read_ofx(bad)
    assert (refused.value.line, refused.value.reason) == (
        13,
        "the statement has no CURDEF currency",
    )


def test_ofx_without_a_statement_names_the_body_line(tmp_path: Path) -> None:
    path = cut(tmp_path, "ofx/ofxparse_bank_medium.ofx", 11)
    path.write_bytes(path.read_bytes() + b"</OFX>\n")
    with pytest.raises(StatementFileError) as refused:
        read_ofx(path)
    assert refused.value.line == 11
    assert "holds no bank or card statement" in refused.value.reason


@pytest.mark.parametrize(
    ("sample", "kept"), [("bai2/svb_us.bai2", 8), ("ofx/ofxparse_bank_medium.ofx", 11)]
)
def test_reconcile_refuses_a_cut_file_with_exit_2(tmp_path: Path, sample: str, kept: int) -> None:
    path = cut(tmp_path, sample, kept)
    result = CliRunner().invoke(app, ["reconcile", str(path), "--dry-run"])
    assert result.exit_code == 2, result.output
    assert f"{path.name}:{kept}: the file ends" in result.stderr
    assert "Traceback" not in result.output
