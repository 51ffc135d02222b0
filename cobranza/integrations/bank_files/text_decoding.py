"""A statement file's bytes as text, or an error naming the file, line and byte that failed."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from cobranza.domain.statements import StatementFileError

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def file_bytes(path: Path) -> bytes:
    """The file's content; an unreadable file names itself and why."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StatementFileError(path.name, None, f"cannot read the file: {exc}") from exc


def has_utf16_bom(data: bytes) -> bool:
    """Whether the bytes start with a UTF-16 byte order mark (Excel's "Unicode text", say)."""
    return data.startswith(_UTF16_BOMS)


@dataclass(frozen=True)
class Undecodable:
    """Where a file stops being text in an encoding: the first byte it cannot decode."""

    encoding: str
    byte: int
    offset: int  # from the start of the file, 0-based
    line: int  # 1-based
    line_start: int  # offset of the first byte of that line

    @property
    def column(self) -> int:
        """1-based byte position within its line."""
        return self.offset - self.line_start + 1

    def words(self) -> str:
        return (
            f"byte 0x{self.byte:02x} at offset {self.offset} (byte {self.column} of the line) "
            f"is not {self.encoding}"
        )


def decode(data: bytes, encoding: str) -> str | Undecodable:
    """The text, or where decoding it in `encoding` first fails."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        return Undecodable(
            encoding=encoding,
            byte=data[exc.start],
            offset=exc.start,
            line=data.count(b"\n", 0, exc.start) + 1,
            line_start=line_start,
        )


def statement_text(path: Path, encodings: tuple[str, ...]) -> str:
    """A text statement's content: refused when empty, read as UTF-16 when it starts with that
    byte order mark, else in the first of `encodings` that decodes all of it."""
    data = file_bytes(path)
    if not data.strip():
        raise StatementFileError(path.name, None, "empty file: no statement in it")
    if has_utf16_bom(data):
        decoded = decode(data, "utf-16")
        if isinstance(decoded, str):
            return decoded
        raise StatementFileError(path.name, decoded.line, decoded.words())
    return first_decoding(path, data, encodings)


def first_decoding(path: Path, data: bytes, encodings: tuple[str, ...]) -> str:
    """The bytes in the first of `encodings` that decodes all of them; refused naming the line
    and byte where each encoding failed."""
    failures: list[Undecodable] = []
    for encoding in encodings:
        decoded = decode(data, encoding)
        if isinstance(decoded, str):
            return decoded
        failures.append(decoded)
    raise StatementFileError(path.name, failures[0].line, "; ".join(f.words() for f in failures))
