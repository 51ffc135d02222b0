"""SWIFT MT940 reader on the `mt-940` package, one statement (:20: .. :62F:) at a time.

The package is lenient: it reads "30X0,00" as 30. Every balance and :61: line is therefore
first checked against the MT940 syntax here, so a corrupted amount is refused with its line
rather than read as a different number. Each statement must balance: :60F: + entries = :62F:.
:86: is read as SEPA-style /CODE/ fields (/EREF/, /REMI/, /NAME/, ...) or German GV subfields
(?00 posting text, ?20-?29 and ?60-?63 purpose, ?30-?31 and ?38 counterparty bank and
account, ?32-?33 counterparty name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import mt940

from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, Statement, StatementFileError
from cobranza.integrations.bank_files.assembly import (
    StatementBuilder,
    check_control,
    money,
    signed,
)
from cobranza.integrations.bank_files.text_decoding import statement_text

_BALANCE = re.compile(r"^:6[02][FM]:([CD])(\d{6})([A-Z]{3})(\d{1,12},\d{0,3})\s*$")
_ENTRY = re.compile(r"^:61:(\d{6})(\d{4})?(R?[CD])([A-Z])?(\d{1,12},\d{0,3})([A-Z][A-Z0-9]{3})")
_SEPA_CODES = (
    "EREF|KREF|MREF|CRED|DEBT|NAME|REMI|ISDT|BENM|ORDP|IBAN|BIC|CSID|RTRN|MARF|PREF|CNTP|"
    "ULTC|ULTD|PURP|SVCL|TRCD|BUSP|ADDR|OCMT|COAM|CDTRREFTP|CDTRREF|CD|ISSR"
)
_SEPA_FIELD = re.compile(rf"/({_SEPA_CODES})/")
_GV_FIELD = re.compile(r"\?(\d\d)")
_GV_SEPA_KEY = re.compile(r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE)\+")
_NO_REFERENCE = {"", "NONREF", "NOTPROVIDED", "EREF"}


@dataclass
class Details:
    """What an :86: field says about an entry."""

    reference: str | None = None
    references: list[str] = field(default_factory=list)
    remittance: str = ""
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    gv_code: str | None = None


def parse_details(text: str) -> Details:
    """Split an :86: field into reference, remittance and counterparty."""
    joined = text.replace("\r", "").replace("\n", "")
    if _SEPA_FIELD.search(joined) and joined.lstrip().startswith("/"):
        return _sepa_details(joined)
    gv = re.match(r"^\s*(\d{3})\?", joined)
    if gv:
        return _gv_details(gv.group(1), joined[gv.end() - 1 :])
    return Details(remittance=" ".join(text.split()))


def _sepa_details(text: str) -> Details:
    parts = _SEPA_FIELD.split(text)
    fields: dict[str, str] = {}
    for code, value in zip(parts[1::2], parts[2::2], strict=True):
        fields.setdefault(code, value.strip())
    eref = fields.get("EREF", "")
    return Details(
        reference=eref if eref.upper() not in _NO_REFERENCE else None,
        references=[v for k in ("KREF", "MREF", "CRED", "PREF") if (v := fields.get(k, ""))],
        remittance=fields.get("REMI", ""),
        counterparty_name=fields.get("NAME") or None,
        counterparty_account=fields.get("IBAN") or None,
    )


def _gv_details(code: str, text: str) -> Details:
    parts = _GV_FIELD.split(text)
    fields: dict[int, str] = {}
    for key, value in zip(parts[1::2], parts[2::2], strict=True):
        fields[int(key)] = fields.get(int(key), "") + value
    # ?2x/?6x are fixed-width pieces of one purpose text: words and invoice numbers run
    # across them ("FAKTURA 333/2" + "003."), so they join without a separator.
    purpose = "".join(fields.get(k, "") for k in (*range(20, 30), *range(60, 64)))
    keyed = _GV_SEPA_KEY.split(purpose)
    sepa = {k: v.strip() for k, v in zip(keyed[1::2], keyed[2::2], strict=True)}
    eref = sepa.get("EREF", "")
    name = (fields.get(32, "") + fields.get(33, "")).strip()
    account = fields.get(38, "").strip() or fields.get(31, "").strip()
    return Details(
        reference=eref if eref.upper() not in _NO_REFERENCE else None,
        references=[v for k in ("KREF", "MREF") if (v := sepa.get(k, ""))],
        remittance=sepa.get("SVWZ", purpose) if sepa else purpose,
        counterparty_name=name or None,
        counterparty_account=account or None,
        gv_code=code,
    )


def read_mt940(path: Path) -> Statement:
    """Read every statement of an MT940 file; each must balance, or nothing is returned."""
    text = statement_text(path, ("utf-8", "cp1252"))
    rows = text.splitlines()
    starts = [i for i, row in enumerate(rows) if row.startswith(":20:")]
    if not starts:
        raise StatementFileError(path.name, 1, "no :20: tag: not an MT940 statement")
    builder = StatementBuilder.for_file(path, "mt940", "mt940")
    balances: list[tuple[str, Money, Money]] = []
    for number, (start, end) in enumerate(zip(starts, [*starts[1:], len(rows)], strict=True), 1):
        balances.append(_read_statement(builder, rows, start, end, number))
    accounts = {account for account, _, _ in balances}
    currencies = {opening.currency for _, opening, _ in balances}
    single = len(accounts) == 1 and len(currencies) == 1
    return builder.build(
        account=next(iter(accounts)) if len(accounts) == 1 else None,
        currency=next(iter(currencies)) if len(currencies) == 1 else None,
        opening=balances[0][1] if single else None,
        closing=balances[-1][2] if single else None,
    )


def _balance(builder: StatementBuilder, rows: list[str], index: int) -> Money:
    row = rows[index].rstrip()
    match = _BALANCE.match(row)
    if match is None:
        raise StatementFileError(
            builder.source,
            index + 1,
            f"balance {row[:5]} is not D/C mark + YYMMDD + currency + amount with a decimal comma",
        )
    mark, _, currency, amount = match.groups()
    value = money(builder.source, index + 1, amount.replace(",", "."), currency)
    return signed(value, Direction.CREDIT if mark == "C" else Direction.DEBIT)


def _find(rows: list[str], start: int, end: int, *tags: str) -> int | None:
    return next((i for i in range(start, end) if rows[i].startswith(tags)), None)


def _read_statement(
    builder: StatementBuilder, rows: list[str], start: int, end: int, number: int
) -> tuple[str, Money, Money]:
    opening_at = _find(rows, start, end, ":60F:", ":60M:")
    closing_at = _find(rows, start, end, ":62F:", ":62M:")
    if opening_at is None or closing_at is None:
        missing = ":60F:" if opening_at is None else ":62F:"
        raise StatementFileError(
            builder.source, start + 1, f"statement {number} has no {missing} balance"
        )
    opening = _balance(builder, rows, opening_at)
    closing = _balance(builder, rows, closing_at)
    entry_rows = [i for i in range(start, end) if rows[i].startswith(":61:")]
    for i in entry_rows:
        if _ENTRY.match(rows[i]) is None:
            raise StatementFileError(
                builder.source,
                i + 1,
                "entry :61: is not value date + [entry date] + C/D/RC/RD + [funds code] + "
                "amount with a decimal comma + transaction type",
            )
    parsed = mt940.models.Transactions(processors={"post_transaction_details": []})
    try:
        parsed.parse("\n".join(rows[start:end]))
    except Exception as exc:  # the package raises bare exceptions of many kinds
        raise StatementFileError(
            builder.source, start + 1, f"MT940 statement {number}: {exc}"
        ) from exc
    transactions = list(parsed)
    if len(transactions) != len(entry_rows):
        raise StatementFileError(
            builder.source,
            start + 1,
            f"statement {number}: {len(entry_rows)} :61: lines but "
            f"{len(transactions)} entries read",
        )
    account = str(parsed.data.get("account_identification", "")).strip()
    if not account:
        raise StatementFileError(
            builder.source, start + 1, f"statement {number} has no :25: account"
        )
    first = len(builder.lines)
    for row, transaction in zip(entry_rows, transactions, strict=True):
        _add_entry(builder, account, row + 1, transaction.data, opening.currency)
    credits, debits = builder.totals(opening.currency, first)
    check_control(
        builder,
        closing_at + 1,
        f"statement {number} closing balance (:60F: + entries = :62F:)",
        closing,
        opening + credits - debits,
    )
    return account, opening, closing


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    return date(value.year, value.month, value.day)


def _add_entry(
    builder: StatementBuilder, account: str, line: int, data: dict[str, Any], currency: str
) -> None:
    raw = data["amount"].amount
    amount = money(builder.source, line, abs(raw), currency)
    direction = Direction.CREDIT if raw > 0 else Direction.DEBIT
    details = parse_details(str(data.get("transaction_details") or ""))
    customer_ref = str(data.get("customer_reference") or "").strip()
    bank_ref = str(data.get("bank_reference") or "").strip() or None
    reference = details.reference or (
        customer_ref if customer_ref.upper() not in _NO_REFERENCE else None
    )
    extra = str(data.get("extra_details") or "").strip()
    booked = _as_date(data.get("guessed_entry_date") or data.get("entry_date") or data.get("date"))
    assert booked is not None
    builder.add(
        line=line,
        account=account,
        direction=direction,
        amount=amount,
        booked_on=booked,
        value_on=_as_date(data.get("date")),
        bank_ref=bank_ref,
        reference=reference,
        references=tuple(
            r
            for r in (*details.references, customer_ref, bank_ref or "")
            if r.upper() not in _NO_REFERENCE
        ),
        remittance=details.remittance,
        counterparty_name=details.counterparty_name,
        counterparty_account=details.counterparty_account or (extra if extra.isalnum() else None),
        bank_code=details.gv_code or str(data.get("id") or "") or None,
    )
