"""Bank statement and payment-evidence readers: every file becomes a `Statement` or an error.

`read_statement(path)` recognises the format from the file's content (the suffix is only a
last hint) and dispatches to the reader of that format; each reader is also public.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from cobranza.domain.statements import Statement, StatementFileError
from cobranza.integrations.bank_files.bai2_records import read_bai2
from cobranza.integrations.bank_files.camt import CAMT_NAMESPACE, read_camt
from cobranza.integrations.bank_files.cfdi import CfdiInvoice, read_cfdi_invoice, read_cfdi_payment
from cobranza.integrations.bank_files.cnab import read_cnab240
from cobranza.integrations.bank_files.cnab400 import read_cnab400
from cobranza.integrations.bank_files.csv_mapping import CsvMapping, read_mapped_csv
from cobranza.integrations.bank_files.ofx import read_ofx
from cobranza.integrations.bank_files.spei_cep import read_spei_cep
from cobranza.integrations.bank_files.swift_mt940 import read_mt940
from cobranza.integrations.bank_files.text_decoding import has_utf16_bom

__all__ = [
    "FORMATS",
    "CfdiInvoice",
    "CsvMapping",
    "detect_format",
    "read_bai2",
    "read_camt",
    "read_cfdi_invoice",
    "read_cfdi_payment",
    "read_cnab240",
    "read_cnab400",
    "read_mapped_csv",
    "read_mt940",
    "read_ofx",
    "read_spei_cep",
    "read_statement",
]

FORMATS: dict[str, Callable[[Path], Statement]] = {
    "camt": read_camt,
    "mt940": read_mt940,
    "bai2": read_bai2,
    "ofx": read_ofx,
    "cnab240": read_cnab240,
    "cnab400": read_cnab400,
    "spei_cep": read_spei_cep,
    "cfdi": read_cfdi_payment,
}
_SUFFIXES = {
    ".sta": "mt940",
    ".mt940": "mt940",
    ".940": "mt940",
    ".bai": "bai2",
    ".bai2": "bai2",
    ".ofx": "ofx",
    ".qfx": "ofx",
    ".ret": "cnab240",
    ".csv": "csv",
}
_XML_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s>/]")
_XML_NAMESPACE = re.compile(rb'xmlns(?::\w+)?="([^"]+)"')


def _detect_xml(head: bytes) -> str | None:
    body = re.sub(rb"<\?.*?\?>|<!--.*?-->", b"", head, flags=re.S).lstrip()
    root = _XML_ROOT.match(body)
    if root is None:
        return None
    name = root.group(1)
    if name == b"Document" and any(
        CAMT_NAMESPACE.match(ns.decode("ascii", "replace")) for ns in _XML_NAMESPACE.findall(head)
    ):
        return "camt"
    if name == b"SPEI_Tercero":
        return "spei_cep"
    if name == b"Comprobante":
        return "cfdi"
    return None


def detect_format(path: Path) -> str | None:
    """The format a file's content shows: camt, mt940, bai2, ofx, cnab240/400, spei_cep, cfdi."""
    try:
        head = path.read_bytes()[:8192]
    except OSError as exc:
        raise StatementFileError(path.name, None, f"cannot read the file: {exc}") from exc
    if has_utf16_bom(head):
        # Detected on the text, whatever its encoding; the reader decodes it or says it can't.
        head = head.decode("utf-16", errors="replace").encode("utf-8")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    looks_xml = stripped.startswith(b"<") and b"<OFX>" not in head.upper()
    if stripped.startswith(b"<?xml") or looks_xml:
        found = _detect_xml(stripped)
        if found:
            return found
    if stripped.startswith(b"OFXHEADER") or b"<OFX>" in head.upper():
        return "ofx"
    if stripped.startswith(b"01,"):
        return "bai2"
    text = head.decode("latin-1")
    if re.search(r"^:20:", text, re.M) and re.search(r"^:(25|60F|61):", text, re.M):
        return "mt940"
    first = text.splitlines()[0] if text else ""
    if first.startswith("02RETORNO"):
        return "cnab400"
    if len(first) <= 240 and first[:8].isdigit() and first[7] == "0" and len(first) > 140:
        return "cnab240"
    return None


# Readers that take a file starting with a UTF-16 byte order mark: MT940 decodes it, lxml reads
# XML in any encoding it declares, a CSV says so in its mapping's `encoding:`.
_READ_AS_UTF16 = frozenset({"mt940", "camt", "spei_cep", "cfdi", "csv"})


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(2)
    except OSError as exc:
        raise StatementFileError(path.name, None, f"cannot read the file: {exc}") from exc


def _unrecognised(path: Path, known: str) -> StatementFileError:
    """The refusal of a file no reader claims: where its text starts and how (detection looked
    there first), read as detection reads it: UTF-16 by its mark, else UTF-8, a mark dropped."""
    with path.open("rb") as file:
        head = file.read(8192)
    text = head.decode("utf-16" if has_utf16_bom(head) else "utf-8-sig", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            reason = f"unrecognised format: the file starts {line.strip()[:24]!r}, as none of "
            return StatementFileError(path.name, number, f"{reason}{known} does")
    return StatementFileError(path.name, None, "only blank lines: no statement in it")


def read_statement(
    path: Path, *, format: str | None = None, mapping: CsvMapping | None = None
) -> Statement:
    """Read any supported statement or payment-evidence file into a Statement.

    `format` overrides detection (one of FORMATS or "csv"); a CSV needs its `mapping`.
    """
    head = _head(path)
    if not head:
        raise StatementFileError(path.name, None, "empty file: no statement in it")
    chosen = format or detect_format(path)
    if chosen is None and mapping is not None:
        chosen = "csv"
    if chosen is None:
        chosen = _SUFFIXES.get(path.suffix.lower())
    if chosen == "csv":
        if mapping is None:
            reason = "a CSV statement needs its column mapping: give --mapping FILE (YAML)"
            raise StatementFileError(path.name, None, reason)
        return read_mapped_csv(path, mapping)
    if chosen is None or chosen not in FORMATS:
        known = ", ".join([*FORMATS, "csv"])
        if chosen:
            reason = f"format {chosen!r} is not one of {known}"
            raise StatementFileError(path.name, None, reason)
        raise _unrecognised(path, known)
    if has_utf16_bom(head) and chosen not in _READ_AS_UTF16:
        reason = (
            f"UTF-16 text (the file starts with its byte order mark): {chosen} files are read "
            "as UTF-8 or single-byte text; save it as UTF-8"
        )
        raise StatementFileError(path.name, 1, reason)
    return FORMATS[chosen](path)
