"""BAI2 reader on the `bai2` package; amounts are minor units of the group's currency.

The package checks, with `check_integrity=True`: each account's control total (its detail
amounts plus its status/summary amounts) and record count, each group's account count,
control total and record count, and the file's group count, control total and record count.
When it refuses a file, the same figures are recomputed here only to name the line of the
trailer that disagrees. Ledger balances (status 010 opening, 015 closing) are reported but not
balanced against the entries: BAI2 does not declare that they must.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bai2 import bai2 as bai2_parser
from bai2.exceptions import IntegrityException, NotSupportedYetException, ParsingException
from bai2.helpers import IteratorHelper
from bai2.parsers import Bai2FileParser

from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, Statement, StatementFileError
from cobranza.integrations.bank_files.assembly import (
    StatementBuilder,
    check_control,
    minor_money,
    read_text,
)
from cobranza.integrations.bank_files.bai2_structure import check_structure

_OPENING_LEDGER = "010"
_CLOSING_LEDGER = "015"


@dataclass
class _Lines:
    """Physical line numbers of each record kind (01, 02, 03, 16, 49, 98, 99), in file order."""

    by_code: dict[str, list[int]]

    @classmethod
    def of(cls, numbered: list[tuple[int, str]]) -> _Lines:
        by_code: dict[str, list[int]] = {}
        for number, row in numbered:
            by_code.setdefault(row.split(",", 1)[0].strip(), []).append(number)
        return cls(by_code)

    def nth(self, code: str, index: int) -> int:
        found = self.by_code.get(code, [])
        return found[index] if index < len(found) else 1


def read_bai2(path: Path) -> Statement:
    """Read a BAI2 file; control totals and record counts must agree or nothing is returned."""
    text = read_text(path)
    numbered = [(n, row) for n, row in enumerate(text.splitlines(), 1) if row.strip()]
    rows = [row for _, row in numbered]
    records = check_structure(path.name, numbered)
    for number, row in numbered:
        fields = row.split(",")
        if fields[0] == "16" and len(fields) > 2 and not fields[2].strip().lstrip("+-").isdigit():
            reason = f"transaction amount {fields[2]!r} is not a whole number of minor units"
            raise StatementFileError(path.name, number, reason)
    reading = _CountedRecords(rows)
    try:
        parsed = Bai2FileParser(reading, check_integrity=True).parse()
    except IntegrityException as exc:
        line = _failing_trailer(rows, _Lines.of(numbered))
        raise StatementFileError(path.name, line, f"BAI2 control check failed: {exc}") from exc
    except (ParsingException, NotSupportedYetException, ValueError, KeyError, IndexError) as exc:
        failed = records[min(max(reading.index, 0), len(records) - 1)]
        reason = f"not a readable {failed.code} record: {exc or type(exc).__name__}"
        raise StatementFileError(path.name, failed.line, reason) from exc
    return _statement(path, parsed, _Lines.of(numbered))


class _CountedRecords(IteratorHelper):  # type: ignore[misc]
    """The package's record iterator, counting records so a refusal can name its line."""

    def __init__(self, rows: list[str]) -> None:
        self.index = -1
        super().__init__(rows)

    def advance(self) -> None:
        self.index += 1  # first: a record the package cannot even assemble is the one counted
        super().advance()


def _failing_trailer(rows: list[str], lines: _Lines) -> int | None:
    parsed = bai2_parser.parse_from_lines(rows, check_integrity=False)
    accounts = 0
    for group_index, group in enumerate(parsed.children):
        group_total = 0
        for account in group.children:
            amounts = sum(t.amount or 0 for t in account.children)
            amounts += sum(s.amount or 0 for s in account.header.summary_items)
            if amounts != account.trailer.account_control_total:
                return lines.nth("49", accounts)
            accounts += 1
            group_total += account.trailer.account_control_total
        if group_total != group.trailer.group_control_total:
            return lines.nth("98", group_index)
        if len(group.children) != group.trailer.number_of_accounts:
            return lines.nth("98", group_index)
    # Record counts, group count or file total: the package names which; the file trailer
    # is where a count that includes every record is declared.
    return lines.nth("99", 0)


def _statement(path: Path, parsed: Any, lines: _Lines) -> Statement:
    builder = StatementBuilder.for_file(path, "bai2", "bai2")
    account_index = transaction_index = 0
    openings: list[Money] = []
    closings: list[Money] = []
    accounts: set[str] = set()
    currencies: set[str] = set()
    for group_index, group in enumerate(parsed.children, 1):
        as_of: date = group.header.as_of_date
        for account in group.children:
            header_line = lines.nth("03", account_index)
            account_index += 1
            number = str(account.header.customer_account_number)
            currency = str(account.header.currency or group.header.currency)
            accounts.add(number)
            currencies.add(currency)
            for item in account.header.summary_items:
                code = str(item.type_code.code) if item.type_code else ""
                if code in (_OPENING_LEDGER, _CLOSING_LEDGER) and item.amount is not None:
                    balance = minor_money(builder.source, header_line, int(item.amount), currency)
                    (openings if code == _OPENING_LEDGER else closings).append(balance)
            first = len(builder.lines)
            for transaction in account.children:
                line = lines.nth("16", transaction_index)
                transaction_index += 1
                _add(builder, number, currency, as_of, line, transaction)
            _check_summaries(builder, account, currency, first, header_line, account_index)
            label = f"account {account_index} ({number}, as of {as_of})"
            builder.controls[f"{label} control total"] = str(account.trailer.account_control_total)
            builder.controls[f"{label} records"] = str(account.trailer.number_of_records)
        group_label = f"group {group_index} (as of {as_of})"
        builder.controls[f"{group_label} control total"] = str(group.trailer.group_control_total)
        builder.controls[f"{group_label} accounts"] = str(group.trailer.number_of_accounts)
    builder.controls["file control total"] = str(parsed.trailer.file_control_total)
    builder.controls["file groups"] = str(parsed.trailer.number_of_groups)
    builder.controls["file records"] = str(parsed.trailer.number_of_records)
    single = len(accounts) == 1 and len(currencies) == 1
    return builder.build(
        account=next(iter(accounts)) if len(accounts) == 1 else None,
        currency=next(iter(currencies)) if len(currencies) == 1 else None,
        opening=openings[0] if single and openings else None,
        closing=closings[-1] if single and closings else None,
    )


_SUMMARIES = {"100": Direction.CREDIT, "400": Direction.DEBIT}


def _check_summaries(
    builder: StatementBuilder, account: Any, currency: str, first: int, line: int, index: int
) -> None:
    """Type 100 (total credits) and 400 (total debits) summaries, with their item counts."""
    credits, debits = builder.totals(currency, first)
    entries = builder.lines[first:]
    for item in account.header.summary_items:
        code = str(item.type_code.code) if item.type_code else ""
        direction = _SUMMARIES.get(code)
        if direction is None or item.amount is None:
            continue
        name = f"account {index} total {direction.value}s (type {code})"
        total = credits if direction is Direction.CREDIT else debits
        declared = minor_money(builder.source, line, int(item.amount), currency)
        check_control(builder, line, name, declared, total)
        if item.item_count is not None:
            count = sum(1 for e in entries if e.direction is direction)
            check_control(builder, line, f"{name} items", int(item.item_count), count)


def _add(
    builder: StatementBuilder, account: str, currency: str, as_of: date, line: int, tx: Any
) -> None:
    kind = tx.type_code.transaction.value if tx.type_code else ""
    if kind not in ("credit", "debit"):
        raise StatementFileError(
            builder.source, line, f"type code {tx.type_code} is neither a credit nor a debit"
        )
    amount = minor_money(builder.source, line, int(tx.amount or 0), currency)
    availability = tx.availability or {}
    value_on = availability.get("date") if isinstance(availability, dict) else None
    customer_ref = (tx.customer_reference or "").strip()
    bank_ref = (tx.bank_reference or "").strip()
    builder.add(
        line=line,
        account=account,
        direction=Direction.CREDIT if kind == "credit" else Direction.DEBIT,
        amount=amount,
        booked_on=as_of,
        value_on=value_on,
        bank_ref=bank_ref or None,
        reference=customer_ref or None,
        references=(bank_ref,) if bank_ref else (),
        remittance=tx.text or "",
        bank_code=str(tx.type_code.code),
    )
