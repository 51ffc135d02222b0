"""Collects a file's entries into a Statement: stable entry ids, totals and control checks."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from cobranza.domain.errors import DomainError
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, Statement, StatementFileError, StatementLine
from cobranza.integrations.bank_files.text_decoding import file_bytes, first_decoding


def fold(text: str | None) -> str:
    """Whitespace folded to single spaces, so a remittance reads the same however it wrapped."""
    return " ".join((text or "").split())


def money(source: str, line: int | None, amount: str | Decimal | int, currency: str) -> Money:
    """A decimal amount from a file as Money; a bad amount or currency names file and line."""
    try:
        return Money.parse(amount, currency)
    except (DomainError, ValueError) as exc:
        raise StatementFileError(source, line, f"amount {amount!r} {currency}: {exc}") from exc


def minor_money(source: str, line: int | None, minor: int, currency: str) -> Money:
    """Money from integer minor units (BAI2, CNAB); an unknown currency names file and line."""
    try:
        return Money(minor=minor, currency=currency)
    except (DomainError, ValueError) as exc:
        raise StatementFileError(source, line, f"currency {currency!r}: {exc}") from exc


def signed(amount: Money, direction: Direction) -> Money:
    """The amount with the sign its direction gives it (debits negative)."""
    sign = 1 if direction is Direction.CREDIT else -1
    return Money(minor=sign * amount.minor, currency=amount.currency)


def check_control(
    builder: StatementBuilder, line: int | None, name: str, declared: object, computed: object
) -> None:
    """Compare a figure the file declares with the one its entries give; record or refuse."""
    if declared != computed:
        raise StatementFileError(
            builder.source,
            line,
            f"{name}: the file declares {declared}, its entries give {computed}",
        )
    builder.controls[name] = str(declared)


@dataclass
class StatementBuilder:
    """Accumulates entries of one file; `build` returns the Statement only once all is read.

    Entry ids: `<family>:<account>:<bank reference>` when the bank gives its own entry
    reference, otherwise `<family>:<account>:c<hash>` over everything the entry says (booking
    date, amount, direction, references, remittance, payer's name and account) and its
    occurrence index among entries that say the same, so re-reading the same file or an
    overlapping statement of the same account finds the same id, and two payers' transfers of
    one amount on one day never share one.
    """

    source: str
    format: str
    family: str
    lines: list[StatementLine] = field(default_factory=list)
    controls: dict[str, str] = field(default_factory=dict)
    _seen: Counter[str] = field(default_factory=Counter)

    @classmethod
    def for_file(cls, path: Path, format: str, family: str) -> StatementBuilder:
        return cls(source=path.name, format=format, family=family)

    def add(
        self,
        *,
        line: int,
        account: str,
        direction: Direction,
        amount: Money,
        booked_on: date,
        bank_ref: str | None = None,
        value_on: date | None = None,
        reference: str | None = None,
        references: tuple[str, ...] = (),
        remittance: str = "",
        counterparty_name: str | None = None,
        counterparty_account: str | None = None,
        bank_code: str | None = None,
    ) -> StatementLine:
        if not amount.is_positive():
            raise StatementFileError(self.source, line, f"entry amount {amount} is not positive")
        others = tuple(r for r in dict.fromkeys(references) if r and r != reference)
        remittance, payer = fold(remittance), fold(counterparty_name)
        # Everything the entry says. The payer's name, account and text are part of it: with
        # only date, amount and reference, the first of two same-amount transfers in an
        # overlapping statement took the id of another payer's transfer imported before, and
        # its money was taken as already matched.
        says = (
            *(booked_on.isoformat(), str(amount), direction.value, reference or ""),
            *others,
            "",  # where the references end
            *(remittance, payer, counterparty_account or ""),
        )
        entry = StatementLine(
            source=self.source,
            line=line,
            entry_id=self._entry_id(account, bank_ref, says),
            account=account,
            direction=direction,
            amount=amount,
            booked_on=booked_on,
            value_on=value_on,
            reference=reference or None,
            references=others,
            remittance=remittance,
            counterparty_name=payer or None,
            counterparty_account=counterparty_account or None,
            bank_code=bank_code or None,
        )
        self.lines.append(entry)
        return entry

    def _entry_id(self, account: str, bank_ref: str | None, says: tuple[str, ...]) -> str:
        if bank_ref and bank_ref.strip().upper() not in {"NONREF", "NOTPROVIDED"}:
            key = f"{self.family}:{account}:{bank_ref.strip()}"
        else:
            material = "\x1f".join((account, *says)).encode()
            # "c" for content; ids of the earlier scheme begin with "h" (first_scheme_base).
            key = f"{self.family}:{account}:c{hashlib.sha256(material).hexdigest()[:20]}"
        self._seen[key] += 1
        occurrence = self._seen[key]
        return key if occurrence == 1 else f"{key}#{occurrence}"

    def totals(self, currency: str, since: int = 0) -> tuple[Money, Money]:
        """Credits and debits (both positive) in one currency of the entries from `since` on."""
        credit = debit = 0
        for entry in self.lines[since:]:
            if entry.amount.currency != currency:
                continue
            if entry.direction is Direction.CREDIT:
                credit += entry.amount.minor
            else:
                debit += entry.amount.minor
        return Money(minor=credit, currency=currency), Money(minor=debit, currency=currency)

    def build(
        self,
        *,
        account: str | None = None,
        currency: str | None = None,
        opening: Money | None = None,
        closing: Money | None = None,
    ) -> Statement:
        return Statement(
            source=self.source,
            format=self.format,
            account=account,
            currency=currency,
            opening_balance=opening,
            closing_balance=closing,
            lines=tuple(self.lines),
            controls=dict(self.controls),
        )


_CONTENT_ID = re.compile(r":c[0-9a-f]{20}(?:#[0-9]+)?$")


def first_scheme_base(line: StatementLine) -> str | None:
    """The id the first scheme gave an entry without a bank reference, less its occurrence
    suffix (`#2`...): a hash of account, date, amount, direction and reference alone, so it
    did not tell two payers' same-amount transfers apart. Stores written before the payer
    was hashed hold such ids; None for an entry whose id is the bank's reference."""
    if not _CONTENT_ID.search(line.entry_id):
        return None
    family_and_account = line.entry_id[: line.entry_id.rindex(":")]
    material = "|".join(
        [
            line.account,
            line.booked_on.isoformat(),
            str(line.amount),
            line.direction.value,
            line.reference or "",
        ]
    )
    return f"{family_and_account}:h{hashlib.sha256(material.encode()).hexdigest()[:20]}"


def read_text(path: Path, encodings: tuple[str, ...] = ("utf-8", "cp1252")) -> str:
    """A text file in the first encoding that decodes it; refused naming the file, the line
    and the byte where each encoding failed."""
    return first_decoding(path, file_bytes(path), encodings)
