"""ISO 20022 camt.053 (statement) and camt.054 (debit/credit notification) readers, on lxml.

Any message version (001.02 to 001.13) is read through its own namespace. Only booked entries
(status BOOK) become lines. An entry with several transaction details becomes one line per
detail when every detail carries its own amount in the entry's currency and they add up to
the entry; otherwise the entry stays one line carrying every detail's references.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from lxml import etree

from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, Statement, StatementFileError
from cobranza.integrations.bank_files.assembly import (
    StatementBuilder,
    check_control,
    money,
    signed,
)
from cobranza.integrations.bank_files.xml_source import line_of, load_xml, namespace

CAMT_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.(05[34])\.001\.(\d\d)$")
_CONTAINERS = {"053": ("BkToCstmrStmt", "Stmt"), "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn")}
_OPENING = ("OPBD", "PRCD")
_CLOSING = ("CLBD",)
_NOT_PROVIDED = {"NOTPROVIDED", "NONREF", ""}


def read_camt(path: Path) -> Statement:
    """Read a camt.053 or camt.054 file of any 001.xx version into one Statement."""
    root = load_xml(path)
    match = CAMT_NAMESPACE.match(namespace(root))
    if match is None:
        raise StatementFileError(
            path.name,
            line_of(root),
            f"not a camt.053/camt.054 document (namespace {namespace(root)!r})",
        )
    message, version = match.groups()
    reader = _CamtReader(path, root, message, version)
    return reader.read()


@dataclass
class _Detail:
    line: int
    amount: Money | None
    reference: str | None
    references: tuple[str, ...]
    remittance: str
    counterparty_name: str | None
    counterparty_account: str | None
    bank_ref: str | None


class _CamtReader:
    def __init__(self, path: Path, root: etree._Element, message: str, version: str) -> None:
        self.ns = {"c": namespace(root)}
        self.root = root
        self.message = message
        self.builder = StatementBuilder.for_file(path, f"camt.{message}.001.{version}", "camt")

    def _all(self, element: etree._Element, xpath: str) -> list[etree._Element]:
        found = element.xpath(xpath, namespaces=self.ns)
        assert isinstance(found, list)
        return [e for e in found if isinstance(e, etree._Element)]

    def _first(self, element: etree._Element, xpath: str) -> etree._Element | None:
        found = self._all(element, xpath)
        return found[0] if found else None

    def _text(self, element: etree._Element, xpath: str) -> str | None:
        node = self._first(element, xpath)
        if node is None or node.text is None:
            return None
        return node.text.strip() or None

    def _required(self, element: etree._Element, xpath: str, what: str) -> str:
        value = self._text(element, xpath)
        if value is None:
            raise StatementFileError(self.builder.source, line_of(element), f"{what} is missing")
        return value

    def read(self) -> Statement:
        group, item = _CONTAINERS[self.message]
        reports = self._all(self.root, f"c:{group}/c:{item}")
        if not reports:
            raise StatementFileError(
                self.builder.source, line_of(self.root), f"no {group}/{item} element in the file"
            )
        summaries = [self._read_report(report, index) for index, report in enumerate(reports, 1)]
        accounts = {account for account, _, _, _ in summaries}
        currencies = {currency for _, currency, _, _ in summaries}
        single = len(accounts) == 1 and len(currencies) == 1
        return self.builder.build(
            account=next(iter(accounts)) if len(accounts) == 1 else None,
            currency=next(iter(currencies)) if len(currencies) == 1 else None,
            opening=summaries[0][2] if single else None,
            closing=summaries[-1][3] if single else None,
        )

    def _read_report(
        self, report: etree._Element, index: int
    ) -> tuple[str, str, Money | None, Money | None]:
        account = self._text(report, "c:Acct/c:Id/c:IBAN") or self._required(
            report, "c:Acct/c:Id/c:Othr/c:Id", "account id (Acct/Id/IBAN or Acct/Id/Othr/Id)"
        )
        entries = self._all(report, "c:Ntry")
        currency = self._text(report, "c:Acct/c:Ccy")
        if currency is None and entries:
            currency = entries[0].xpath("string(c:Amt/@Ccy)", namespaces=self.ns) or None
        if currency is None:
            currency = self._balance_currency(report)
        if currency is None:
            raise StatementFileError(
                self.builder.source,
                line_of(report),
                "no currency on the account, balances or entries",
            )
        booked = [e for e in entries if self._status(e) == "BOOK"]
        start = len(self.builder.lines)
        for entry in booked:
            self._read_entry(entry, account)
        opening = self._balance(report, _OPENING, currency)
        closing = self._balance(report, _CLOSING, currency)
        prefix = f"report {index} " if index > 1 else ""
        self._check_summary(report, currency, prefix, booked, start)
        if opening is not None and closing is not None:
            credits, debits = self.builder.totals(currency, start)
            check_control(
                self.builder,
                line_of(closing[1]),
                f"{prefix}closing balance (opening + credits - debits)",
                closing[0],
                opening[0] + credits - debits,
            )
        return (
            account,
            currency,
            opening[0] if opening else None,
            closing[0] if closing else None,
        )

    def _status(self, entry: etree._Element) -> str:
        return (self._text(entry, "c:Sts/c:Cd") or self._text(entry, "c:Sts") or "BOOK").upper()

    def _balance_currency(self, report: etree._Element) -> str | None:
        value = report.xpath("string(c:Bal/c:Amt/@Ccy)", namespaces=self.ns)
        return str(value) or None

    def _balance(
        self, report: etree._Element, codes: tuple[str, ...], currency: str
    ) -> tuple[Money, etree._Element] | None:
        for balance in self._all(report, "c:Bal"):
            code = self._text(balance, "c:Tp/c:CdOrPrtry/c:Cd")
            if code not in codes:
                continue
            amount_el = self._first(balance, "c:Amt")
            if amount_el is None:
                raise StatementFileError(
                    self.builder.source, line_of(balance), f"balance {code} has no Amt"
                )
            amount = self._amount(amount_el)
            if amount.currency != currency:
                raise StatementFileError(
                    self.builder.source,
                    line_of(amount_el),
                    f"balance {code} is in {amount.currency} but the account is in {currency}",
                )
            sign = self._direction(balance)
            return signed(amount, sign), amount_el
        return None

    def _amount(self, element: etree._Element) -> Money:
        currency = element.get("Ccy") or ""
        return money(self.builder.source, line_of(element), (element.text or "").strip(), currency)

    def _direction(self, element: etree._Element) -> Direction:
        indicator = self._text(element, "c:CdtDbtInd")
        if indicator == "CRDT":
            return Direction.CREDIT
        if indicator == "DBIT":
            return Direction.DEBIT
        raise StatementFileError(
            self.builder.source,
            line_of(element),
            f"CdtDbtInd is {indicator!r}: expected CRDT or DBIT",
        )

    def _date(self, element: etree._Element, xpath: str) -> date | None:
        node = self._first(element, xpath)
        if node is None:
            return None
        text = self._text(node, "c:Dt") or self._text(node, "c:DtTm")
        try:
            # A DtTm is the bank's local time with its offset: its calendar date is the booking day.
            return date.fromisoformat((text or "")[:10])
        except ValueError as exc:
            raise StatementFileError(
                self.builder.source, line_of(node), f"date {text!r} is not YYYY-MM-DD"
            ) from exc

    def _read_entry(self, entry: etree._Element, account: str) -> None:
        amount_el = self._first(entry, "c:Amt")
        if amount_el is None:
            raise StatementFileError(self.builder.source, line_of(entry), "entry has no Amt")
        amount = self._amount(amount_el)
        direction = self._direction(entry)
        booked_on = self._date(entry, "c:BookgDt")
        if booked_on is None:
            raise StatementFileError(
                self.builder.source, line_of(entry), "booked entry has no BookgDt"
            )
        value_on = self._date(entry, "c:ValDt")
        bank_ref = self._text(entry, "c:AcctSvcrRef")
        bank_code = self._bank_code(entry)
        details = [self._detail(tx, direction) for tx in self._all(entry, "c:NtryDtls/c:TxDtls")]
        common = {
            "account": account,
            "direction": direction,
            "booked_on": booked_on,
            "value_on": value_on,
            "bank_code": bank_code,
        }
        if self._splits(entry, amount, details):
            for index, detail in enumerate(details, 1):
                assert detail.amount is not None
                own_ref = detail.bank_ref or (f"{bank_ref}/{index}" if bank_ref else None)
                self.builder.add(
                    line=detail.line,
                    amount=detail.amount,
                    bank_ref=own_ref,
                    reference=detail.reference,
                    references=detail.references,
                    remittance=detail.remittance,
                    counterparty_name=detail.counterparty_name,
                    counterparty_account=detail.counterparty_account,
                    **common,  # type: ignore[arg-type]
                )
            return
        refs = [r for d in details for r in ((d.reference or ""), *d.references)]
        first = details[0] if details else None
        self.builder.add(
            line=line_of(entry),
            amount=amount,
            bank_ref=bank_ref,
            reference=first.reference if first else None,
            references=tuple(refs),
            remittance=" ".join(d.remittance for d in details)
            or (self._text(entry, "c:AddtlNtryInf") or ""),
            counterparty_name=first.counterparty_name if first else None,
            counterparty_account=first.counterparty_account if first else None,
            **common,  # type: ignore[arg-type]
        )

    def _splits(self, entry: etree._Element, amount: Money, details: list[_Detail]) -> bool:
        if len(details) < 2 or any(d.amount is None for d in details):
            return False
        if any(d.amount is not None and d.amount.currency != amount.currency for d in details):
            return False
        total = sum(d.amount.minor for d in details if d.amount is not None)
        if total != amount.minor:
            raise StatementFileError(
                self.builder.source,
                line_of(entry),
                f"the entry's transaction details add up to "
                f"{Money(minor=total, currency=amount.currency)}, the entry says {amount}",
            )
        return True

    def _bank_code(self, entry: etree._Element) -> str | None:
        domain = self._text(entry, "c:BkTxCd/c:Domn/c:Cd")
        if domain:
            family = self._text(entry, "c:BkTxCd/c:Domn/c:Fmly/c:Cd") or ""
            sub = self._text(entry, "c:BkTxCd/c:Domn/c:Fmly/c:SubFmlyCd") or ""
            return "/".join(p for p in (domain, family, sub) if p)
        return self._text(entry, "c:BkTxCd/c:Prtry/c:Cd")

    def _detail(self, tx: etree._Element, direction: Direction) -> _Detail:
        amount_el = self._first(tx, "c:Amt | c:AmtDtls/c:TxAmt/c:Amt")
        creditor_refs = [
            r
            for r in (
                e.text.strip()
                for e in self._all(tx, "c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref")
                if e.text
            )
            if r
        ]
        end_to_end = self._text(tx, "c:Refs/c:EndToEndId")
        if end_to_end and end_to_end.upper() in _NOT_PROVIDED:
            end_to_end = None
        others = [
            self._text(tx, f"c:Refs/c:{name}")
            for name in ("InstrId", "TxId", "MndtId", "PmtInfId", "ChqNb")
        ]
        ordered = [*creditor_refs, end_to_end, *others]
        refs = [r for r in ordered if r and r.upper() not in _NOT_PROVIDED]
        remittance = " ".join(
            (e.text or "").strip()
            for e in self._all(tx, "c:RmtInf/c:Ustrd | c:RmtInf/c:Strd/c:AddtlRmtInf")
        )
        party, party_account = (
            ("Dbtr", "DbtrAcct") if direction is Direction.CREDIT else ("Cdtr", "CdtrAcct")
        )
        name = self._text(tx, f"c:RltdPties/c:{party}/c:Nm") or self._text(
            tx, f"c:RltdPties/c:{party}/c:Pty/c:Nm"
        )
        counter_account = self._text(
            tx, f"c:RltdPties/c:{party_account}/c:Id/c:IBAN"
        ) or self._text(tx, f"c:RltdPties/c:{party_account}/c:Id/c:Othr/c:Id")
        return _Detail(
            line=line_of(tx),
            amount=self._amount(amount_el) if amount_el is not None else None,
            reference=refs[0] if refs else None,
            references=tuple(refs[1:]),
            remittance=remittance,
            counterparty_name=name,
            counterparty_account=counter_account,
            bank_ref=self._text(tx, "c:Refs/c:AcctSvcrRef"),
        )

    def _check_summary(
        self,
        report: etree._Element,
        currency: str,
        prefix: str,
        booked: list[etree._Element],
        start: int,
    ) -> None:
        summary = self._first(report, "c:TxsSummry")
        if summary is None:
            return
        credits, debits = self.builder.totals(currency, start)
        counts = {Direction.CREDIT: 0, Direction.DEBIT: 0}
        for entry in booked:
            counts[self._direction(entry)] += 1
        checks = [
            ("c:TtlNtries", "entries", len(booked), credits + debits),
            ("c:TtlCdtNtries", "credit entries", counts[Direction.CREDIT], credits),
            ("c:TtlDbtNtries", "debit entries", counts[Direction.DEBIT], debits),
        ]
        for xpath, name, count, total in checks:
            node = self._first(summary, xpath)
            if node is None:
                continue
            number = self._text(node, "c:NbOfNtries")
            if number is not None:
                check_control(
                    self.builder, line_of(node), f"{prefix}{name} count", number, str(count)
                )
            declared = self._text(node, "c:Sum")
            if declared is not None:
                check_control(
                    self.builder,
                    line_of(node),
                    f"{prefix}{name} sum",
                    money(self.builder.source, line_of(node), declared, currency),
                    total,
                )
