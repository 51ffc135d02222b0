"""CSV statements read through a declared column mapping (a pydantic model, loadable from YAML).

The mapping names which column holds the date, the amount (signed, or a credit/debit pair),
the currency (or a fixed one), the reference and the counterparty, and how dates and numbers
are written. A bad cell is refused with file, line and column; nothing is half-read.
"""

from __future__ import annotations

import codecs
import csv
import io
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, Statement, StatementFileError
from cobranza.domain.yaml_marks import YamlSyntaxError, compose, line_of
from cobranza.integrations.bank_files.assembly import StatementBuilder, money, read_text
from cobranza.integrations.bank_files.text_decoding import (
    Undecodable,
    decode,
    file_bytes,
    has_utf16_bom,
)


class CsvMapping(BaseModel):
    """Which CSV column means what, and how its values are written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account: str = Field(min_length=1, description="the statement's account (a fixed string)")
    date: str = Field(min_length=1, description="column of the booking date")
    date_format: str = Field(default="%Y-%m-%d", description="strptime format of the date")
    value_date: str | None = Field(default=None, description="column of the value date")
    amount: str | None = Field(default=None, description="column of a signed amount")
    credit: str | None = Field(default=None, description="column of credits (with `debit`)")
    debit: str | None = Field(default=None, description="column of debits (with `credit`)")
    currency: str | None = Field(default=None, description="column of the currency code")
    fixed_currency: str | None = Field(default=None, description="one currency for every row")
    reference: str | None = None
    counterparty: str | None = None
    counterparty_account: str | None = None
    remittance: str | None = None
    entry_id: str | None = Field(default=None, description="column of the bank's entry id")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    decimal_separator: str = Field(default=".", min_length=1, max_length=1)
    thousands_separator: str = Field(default="", max_length=1)
    encoding: str = Field(
        default="utf-8", description="the file's text encoding: utf-8, latin-1, cp1252, utf-16..."
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"unknown encoding {value!r}: expected a Python codec name such as utf-8, "
                "latin-1, cp1252 or utf-16"
            ) from None
        return value

    @model_validator(mode="after")
    def _one_way_each(self) -> Self:
        if (self.amount is None) == (self.credit is None and self.debit is None):
            raise ValueError("give either `amount` or both `credit` and `debit`")
        if self.amount is None and (self.credit is None or self.debit is None):
            raise ValueError("`credit` and `debit` go together")
        if (self.currency is None) == (self.fixed_currency is None):
            raise ValueError("give exactly one of `currency` (a column) or `fixed_currency`")
        if self.decimal_separator == self.thousands_separator:
            raise ValueError("decimal and thousands separators must differ")
        return self

    @classmethod
    def from_yaml(cls, path: Path) -> CsvMapping:
        """Load a mapping file; a bad field names the file, its line and the reason."""
        text = read_text(path)
        try:
            node, data = compose(text, path.name)
        except YamlSyntaxError as exc:
            raise StatementFileError(path.name, None, str(exc)) from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "mapping"
            reason = error["msg"].removeprefix("Value error, ")
            raise StatementFileError(
                path.name, line_of(node, tuple(error["loc"])), f"{where}: {reason}"
            ) from exc


def _decimal(mapping: CsvMapping, raw: str) -> Decimal:
    text = raw.strip().replace(" ", "")
    if mapping.thousands_separator:
        text = text.replace(mapping.thousands_separator, "")
    text = text.replace(mapping.decimal_separator, ".")
    negative = text.startswith("(") and text.endswith(")")
    value = Decimal(text.strip("()"))
    if not value.is_finite():
        raise InvalidOperation(raw)
    return -value if negative else value


class _Row:
    def __init__(self, source: str, line: int, cells: dict[str, str]) -> None:
        self.source, self.line, self.cells = source, line, cells

    def get(self, column: str | None) -> str:
        if column is None:
            return ""
        return (self.cells.get(column) or "").strip()

    def fail(self, column: str, reason: str) -> StatementFileError:
        return StatementFileError(self.source, self.line, f"column {column!r}: {reason}")

    def day(self, column: str, fmt: str) -> date:
        raw = self.get(column)
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError as exc:
            raise self.fail(column, f"{raw!r} is not a date in the format {fmt}") from exc


def _signed_amount(mapping: CsvMapping, row: _Row) -> tuple[str, Decimal]:
    columns = [mapping.amount] if mapping.amount else [mapping.credit, mapping.debit]
    values: list[Decimal] = []
    for column in columns:
        assert column is not None
        raw = row.get(column)
        try:
            values.append(_decimal(mapping, raw) if raw else Decimal(0))
        except InvalidOperation as exc:
            raise row.fail(column, f"{raw!r} is not an amount") from exc
    if mapping.amount:
        return mapping.amount, values[0]
    credit, debit = (abs(v) for v in values)
    if credit and debit:
        raise row.fail(f"{mapping.credit}/{mapping.debit}", "both credit and debit are filled")
    return (mapping.credit if credit else mapping.debit) or "", credit - debit


def _text(path: Path, mapping: CsvMapping) -> str:
    """The file decoded with the mapping's encoding; where it fails, which line, byte and
    column, and the `encoding:` that would read it."""
    data = file_bytes(path)
    decoded = decode(data, mapping.encoding)
    if isinstance(decoded, str):
        return decoded
    if has_utf16_bom(data):
        hint = "the file starts with a UTF-16 byte order mark: set `encoding: utf-16`"
    else:
        hint = (
            "set the mapping's `encoding:` to the file's (latin-1 or cp1252 for most "
            "Western European bank exports)"
        )
    where = _column_of(data, decoded, mapping)
    raise StatementFileError(path.name, decoded.line, f"{where}{decoded.words()}: {hint}")


def _column_of(data: bytes, at: Undecodable, mapping: CsvMapping) -> str:
    """'column 'Ordenante': ' for the cell that holds the undecodable byte, when it can tell."""
    if at.line == 1:
        return "header: "
    header_end = data.find(b"\n")
    head = data[:header_end].decode(mapping.encoding, errors="replace").rstrip("\r")
    before = data[at.line_start : at.offset].decode(mapping.encoding, errors="replace")
    names = next(csv.reader([head], delimiter=mapping.delimiter), [])
    cells = next(csv.reader([before], delimiter=mapping.delimiter), [""])
    index = len(cells) - 1
    return f"column {names[index]!r}: " if index < len(names) else ""


def read_mapped_csv(path: Path, mapping: CsvMapping) -> Statement:
    """Read a CSV statement through its mapping: one line per non-empty row."""
    text = _text(path, mapping)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=mapping.delimiter)
    header = reader.fieldnames or []
    wanted = [
        c
        for c in (
            mapping.date,
            mapping.value_date,
            mapping.amount,
            mapping.credit,
            mapping.debit,
            mapping.currency,
            mapping.reference,
            mapping.counterparty,
            mapping.counterparty_account,
            mapping.remittance,
            mapping.entry_id,
        )
        if c
    ]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise StatementFileError(
            path.name, 1, f"columns {missing} not in the header (it has {header})"
        )
    builder = StatementBuilder.for_file(path, "csv", "csv")
    currencies: set[str] = set()
    for cells in reader:
        row = _Row(path.name, reader.line_num, {k: v for k, v in cells.items() if k})
        if not any(v.strip() for v in row.cells.values() if isinstance(v, str)):
            continue
        booked = row.day(mapping.date, mapping.date_format)
        value_on = row.day(mapping.value_date, mapping.date_format) if mapping.value_date else None
        column, signed_value = _signed_amount(mapping, row)
        if signed_value == 0:
            raise row.fail(column, "amount is zero or empty")
        currency = mapping.fixed_currency or row.get(mapping.currency)
        currencies.add(currency)
        amount: Money = money(path.name, row.line, abs(signed_value), currency)
        builder.add(
            line=row.line,
            account=mapping.account,
            direction=Direction.CREDIT if signed_value > 0 else Direction.DEBIT,
            amount=amount,
            booked_on=booked,
            value_on=value_on,
            bank_ref=row.get(mapping.entry_id) or None,
            reference=row.get(mapping.reference) or None,
            remittance=row.get(mapping.remittance),
            counterparty_name=row.get(mapping.counterparty) or None,
            counterparty_account=row.get(mapping.counterparty_account) or None,
        )
    return builder.build(
        account=mapping.account,
        currency=next(iter(currencies)) if len(currencies) == 1 else None,
    )
