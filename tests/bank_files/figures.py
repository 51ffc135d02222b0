"""Where the money-in fixtures live and the figures a test compares with a file's own."""

from __future__ import annotations

import re
from pathlib import Path

from cobranza.domain.statements import Direction, Statement

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "money_in"


def totals(statement: Statement) -> tuple[dict[str, str], dict[str, str]]:
    """Credits and debits per currency, as decimal strings ("12.34")."""
    sums: dict[Direction, dict[str, int]] = {Direction.CREDIT: {}, Direction.DEBIT: {}}
    exponents: dict[str, int] = {}
    for line in statement.lines:
        bucket = sums[line.direction]
        bucket[line.amount.currency] = bucket.get(line.amount.currency, 0) + line.amount.minor
        exponents[line.amount.currency] = line.amount.exponent

    def text(bucket: dict[str, int]) -> dict[str, str]:
        return {c: _decimal(v, exponents[c]) for c, v in sorted(bucket.items())}

    return text(sums[Direction.CREDIT]), text(sums[Direction.DEBIT])


def _decimal(minor: int, exponent: int) -> str:
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor)).rjust(exponent + 1, "0")
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}" if exponent else f"{sign}{digits}"


def copy_with(tmp_path: Path, fixture: str, old: str, new: str, *, count: int = 1) -> Path:
    """A copy of a fixture with one exact piece of text replaced (it must occur)."""
    source = FIXTURES / fixture
    text = source.read_bytes().decode("latin-1")
    assert text.count(old) >= 1, f"{old!r} not in {fixture}"
    target = tmp_path / source.name
    target.write_bytes(text.replace(old, new, count).encode("latin-1"))
    return target


def line_containing(path: Path, needle: str) -> int:
    """1-based line of the first occurrence of a piece of text in a file."""
    text = path.read_bytes().decode("latin-1")
    return text[: text.index(needle)].count("\n") + 1


def names_file_line(message: str, file: str, line: int) -> bool:
    return re.match(rf"^{re.escape(file)}:{line}: \S", message) is not None
