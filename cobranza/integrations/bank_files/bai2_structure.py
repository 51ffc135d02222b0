"""Checks a BAI2 file's record nesting (01, 02, 03, 16, 49, 98, 99 and 88) before it is parsed.

The `bai2` package (0.15) loops forever on a file that ends inside an account, and on other
cuts reports no line; so the file must be known to be well nested before the package sees it.
A file is: 01, then groups (02, accounts, 98), then 99 and nothing after it; an account is 03,
its 16 transaction details, then 49. An 88 continues the record before it, of any kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cobranza.domain.statements import StatementFileError

_RECORD = re.compile(r"^(\d\d),")
_NAMES = {
    "01": "01 file header",
    "02": "02 group header",
    "03": "03 account identifier",
    "16": "16 transaction detail",
    "49": "49 account trailer",
    "88": "88 continuation",
    "98": "98 group trailer",
    "99": "99 file trailer",
}
_CONTINUATION = "88"
# What may come next at each depth: outside a group, inside a group, inside an account.
_ALLOWED = (("02", "99"), ("03", "98"), ("16", "49"))


@dataclass(frozen=True)
class Record:
    """One logical record: its code and the physical line where it starts."""

    code: str
    line: int


def check_structure(source: str, numbered: list[tuple[int, str]]) -> list[Record]:
    """The file's logical records, if they nest as BAI2 requires; otherwise refuse at a line.

    `numbered` holds the non-blank physical lines with their 1-based numbers.
    """
    records = _records(source, numbered)
    if not records or records[0].code != "01":
        line = records[0].line if records else 1
        raise StatementFileError(source, line, "a BAI2 file starts with a 01 file header record")
    opened: list[Record] = [records[0]]  # the 01, then the open 02, then the open 03
    for record in records[1:]:
        if not opened:
            raise StatementFileError(
                source, record.line, f"a {_NAMES[record.code]} after the 99 file trailer"
            )
        if record.code not in _ALLOWED[len(opened) - 1]:
            raise StatementFileError(source, record.line, _misplaced(record, opened))
        if record.code in ("02", "03"):
            opened.append(record)
        elif record.code in ("49", "98", "99"):
            opened.pop()
    if opened:
        raise StatementFileError(source, numbered[-1][0], _unclosed(opened))
    return records


def _records(source: str, numbered: list[tuple[int, str]]) -> list[Record]:
    records: list[Record] = []
    for number, row in numbered:
        found = _RECORD.match(row)
        code = found.group(1) if found else None
        if code is None or code not in _NAMES:
            known = ", ".join(_NAMES)
            shown = row[:2] if found else row[:12]
            raise StatementFileError(
                source, number, f"record code {shown!r} is not one of {known} followed by a comma"
            )
        if code != _CONTINUATION:
            records.append(Record(code, number))
        elif not records:
            raise StatementFileError(
                source, number, "an 88 continuation record with no record before it to continue"
            )
    return records


def _misplaced(record: Record, opened: list[Record]) -> str:
    where = {
        1: f"between groups (after the 01 file header on line {opened[0].line})",
        2: f"in the group opened on line {opened[1].line}",
        3: f"in the account opened on line {opened[-1].line}",
    }[len(opened)]
    expected = " or ".join(_NAMES[code] for code in _ALLOWED[len(opened) - 1])
    return f"a {_NAMES[record.code]} {where}: expected a {expected}"


def _unclosed(opened: list[Record]) -> str:
    inside = opened[-1]
    if inside.code == "03":
        where = f"inside the account opened on line {inside.line}"
        missing = "no 49 account trailer, nor the 98 and 99 after it"
    elif inside.code == "02":
        where = f"inside the group opened on line {inside.line}"
        missing = "no 98 group trailer, nor the 99 after it"
    else:
        return "the file ends without its 99 file trailer: it is cut short"
    return f"the file ends {where} ({missing}): it is cut short"
