"""OFX 1.x (SGML) and 2.x (XML) bank statement reader on `ofxparse`.

`ofxparse` rather than `ofxtools`: ofxtools refuses the SGML checking-account sample
(OFXSpecError) that ofxparse reads correctly, and both read the other sample the same way.
OFX declares no opening balance and no control totals, so nothing can be balanced: the
ledger balance is reported as the closing balance and `controls` stays empty. Every TRNAMT is
checked to be a plain decimal before parsing, so a corrupted amount names its line; and every
aggregate must close (`ofx_structure`), so a file cut short is refused at its last line.
"""

from __future__ import annotations

import io
import re
import warnings
from datetime import date
from pathlib import Path

from ofxparse import OfxParser

from cobranza.domain.statements import Direction, Statement, StatementFileError
from cobranza.integrations.bank_files.assembly import StatementBuilder, money, read_text
from cobranza.integrations.bank_files.ofx_structure import OfxOutline, check_nesting

_AMOUNT = re.compile(r"<TRNAMT>\s*([^<\r\n]*)", re.IGNORECASE)
_FITID = re.compile(r"<FITID>\s*([^<\r\n]*)", re.IGNORECASE)
_DECIMAL = re.compile(r"^[+-]?\d+(\.\d+)?$")


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _first(outline: OfxOutline, *names: str) -> int:
    found = [outline.first_line[n] for n in names if n in outline.first_line]
    return min(found, default=outline.body_line)


def read_ofx(path: Path) -> Statement:
    """Read the first bank or card statement of an OFX file."""
    text = read_text(path, ("utf-8", "cp1252"))
    outline = check_nesting(path.name, text)
    for match in _AMOUNT.finditer(text):
        if not _DECIMAL.match(match.group(1).strip()):
            raise StatementFileError(
                path.name,
                _line_at(text, match.start()),
                f"TRNAMT {match.group(1).strip()!r} is not a decimal amount",
            )
    fitid_lines = {m.group(1).strip(): _line_at(text, m.start()) for m in _FITID.finditer(text)}
    try:
        with warnings.catch_warnings():
            # ofxparse calls BeautifulSoup's findAll, deprecated in bs4 4.x; nothing to act on.
            warnings.simplefilter("ignore", DeprecationWarning)
            parsed = OfxParser.parse(io.BytesIO(text.encode("utf-8")))
    except Exception as exc:  # ofxparse raises its own and bare exceptions alike
        reason = f"not a readable OFX file: {exc or type(exc).__name__}"
        raise StatementFileError(path.name, outline.body_line, reason) from exc
    account = getattr(parsed, "account", None)
    if account is None or getattr(account, "statement", None) is None:
        reason = "the OFX file holds no bank or card statement (STMTRS or CCSTMTRS)"
        raise StatementFileError(path.name, outline.body_line, reason)
    statement = account.statement
    statement_line = _first(outline, "STMTRS", "CCSTMTRS")
    currency = str(statement.currency or "").upper()
    if not currency:
        reason = "the statement has no CURDEF currency"
        raise StatementFileError(path.name, statement_line, reason)
    number = str(account.account_id).strip()
    builder = StatementBuilder.for_file(path, "ofx", "ofx")
    for transaction in statement.transactions:
        fitid = str(transaction.id or "").strip()
        line = fitid_lines.get(fitid, 1)
        raw = transaction.amount
        if raw == 0:
            continue
        # DTPOSTED without a zone is GMT by the OFX spec; ofxparse turns every one into UTC.
        posted: date = transaction.date.date()
        name = str(transaction.payee or "").strip()
        builder.add(
            line=line,
            account=number,
            direction=Direction.CREDIT if raw > 0 else Direction.DEBIT,
            amount=money(path.name, line, abs(raw), currency),
            booked_on=posted,
            bank_ref=fitid or None,
            reference=str(transaction.checknum or "").strip().lstrip("0") or None,
            remittance=str(transaction.memo or ""),
            counterparty_name=name or None,
            bank_code=str(transaction.type or "").upper() or None,
        )
    closing = (
        money(path.name, _first(outline, "LEDGERBAL"), statement.balance, currency)
        if getattr(statement, "balance", None) is not None
        else None
    )
    return builder.build(account=number, currency=currency, closing=closing)
