"""CNAB 400 cobrança retorno reader (Bradesco's 400-position layout), positions as data.

Each detail record (type 1) reports what happened to one boleto: the company's own control
number (positions 38-62, where the creditor puts its invoice number when it registers the
boleto), the bank's nosso número (71-82), the occurrence code (109-110) and, for liquidations
(06 normal, 15 in a notary's office, 17 after write-off), the amount paid (254-266) and the
credit date (296-301). Other occurrences (entry confirmed, rejected, write-off) carry no money
and are counted only.

Control: every record carries its own sequence number (395-400), 1 for the header up to the
trailer's; a gap, a repeat or a missing trailer refuses the file with the line. CNAB 400
trailers also declare totals, but their positions differ from bank to bank, so they are not
read. Dates are DDMMAA: the two-digit year is read in 2000-2099. Records shorter than 400 are
read as padded with blanks (see cnab.py for why); longer ones are refused.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from cobranza.domain.statements import Direction, Statement, StatementFileError
from cobranza.integrations.bank_files.assembly import StatementBuilder, minor_money, read_text
from cobranza.integrations.bank_files.cnab import Field

RECORD_LENGTH = 400
LIQUIDATIONS = {
    "06": "liquidação normal",
    "15": "liquidação em cartório",
    "17": "liquidação após baixa",
}
LAYOUT_400: dict[str, tuple[Field, ...]] = {
    "header": (
        Field("kind", 2, 2),
        Field("literal", 3, 9),
        Field("bank", 77, 79),
        Field("created_on", 95, 100),
    ),
    "detail": (
        Field("company_at_bank", 21, 37),
        Field("company_control", 38, 62),
        Field("nosso_numero", 71, 82),
        Field("occurrence", 109, 110),
        Field("occurred_on", 111, 116),
        Field("document", 117, 126),
        Field("due_on", 147, 152),
        Field("face_value", 153, 165),
        Field("fee", 176, 188),
        Field("paid", 254, 266),
        Field("interest", 267, 279),
        Field("credited_on", 296, 301),
    ),
}
SEQUENCE = Field("sequence", 395, 400)


class _Cnab400Reader:
    def __init__(self, path: Path) -> None:
        self.source = path.name
        self.builder = StatementBuilder.for_file(path, "cnab400", "cnab400")

    def fail(self, line: int, reason: str) -> StatementFileError:
        return StatementFileError(self.source, line, reason)

    def number(self, line: int, name: str, value: str) -> int:
        if not value.isdigit():
            raise self.fail(line, f"{name} {value!r} is not a number (digits only)")
        return int(value)

    def day(self, line: int, name: str, value: str) -> date | None:
        if value.strip("0 ") == "":
            return None
        try:
            return date(2000 + int(value[4:6]), int(value[2:4]), int(value[0:2]))
        except ValueError as exc:
            raise self.fail(line, f"{name} {value!r} is not a date DDMMAA") from exc

    def records(self, text: str) -> list[tuple[int, str]]:
        rows = [(n, row) for n, row in enumerate(text.splitlines(), 1) if row.strip()]
        if not rows:
            raise self.fail(1, "the file is empty")
        for expected, (line, row) in enumerate(rows, 1):
            if len(row) > RECORD_LENGTH:
                raise self.fail(line, f"record has {len(row)} characters, CNAB 400 has 400")
            sequence = self.number(line, "sequence (395-400)", SEQUENCE.cut(row.ljust(400)))
            if sequence != expected:
                raise self.fail(
                    line, f"record sequence (395-400) is {sequence}, expected {expected}"
                )
        padded = [(line, row.ljust(RECORD_LENGTH)) for line, row in rows]
        header_line, header = padded[0]
        if header[0] != "0" or header[1] != "2" or header[2:9] != "RETORNO":
            raise self.fail(header_line, "a CNAB 400 retorno starts with a header '02RETORNO'")
        if padded[-1][1][0] != "9":
            raise self.fail(padded[-1][0], "the file ends without its trailer (record type 9)")
        return padded

    def read(self, text: str) -> Statement:
        records = self.records(text)
        accounts: set[str] = set()
        for line, record in records[1:-1]:
            if record[0] != "1":
                raise self.fail(line, f"record type {record[0]!r} at position 1 is not 1")
            accounts.add(self.detail(line, record))
        self.builder.controls["records"] = str(len(records))
        self.builder.controls["bank"] = LAYOUT_400["header"][2].cut(records[0][1])
        return self.builder.build(
            account=next(iter(accounts)) if len(accounts) == 1 else None, currency="BRL"
        )

    def detail(self, line: int, record: str) -> str:
        f = {field.name: field.cut(record) for field in LAYOUT_400["detail"]}
        account = f["company_at_bank"].strip()
        occurrence = f["occurrence"]
        if occurrence not in LIQUIDATIONS:
            return account
        paid = self.number(line, "amount paid (254-266)", f["paid"])
        booked = self.day(line, "credit date (296-301)", f["credited_on"]) or self.day(
            line, "occurrence date (111-116)", f["occurred_on"]
        )
        if booked is None:
            raise self.fail(line, "a liquidation without a credit or occurrence date")
        nosso_numero = f["nosso_numero"].strip()
        control = f["company_control"].strip()
        remittance = LIQUIDATIONS[occurrence]
        fee = self.number(line, "fee (176-188)", f["fee"])
        if fee:
            remittance += f"; bank fee {minor_money(self.source, line, fee, 'BRL')}"
        self.builder.add(
            line=line,
            account=account,
            direction=Direction.CREDIT,
            amount=minor_money(self.source, line, paid, "BRL"),
            booked_on=booked,
            value_on=self.day(line, "credit date (296-301)", f["credited_on"]),
            bank_ref=f"{nosso_numero}/{occurrence}",
            # The company's control number is the creditor's own reference: the invoice.
            reference=control or nosso_numero or None,
            references=tuple(r for r in (nosso_numero, f["document"].strip()) if r.strip("0")),
            remittance=remittance,
            bank_code=occurrence,
        )
        return account


def read_cnab400(path: Path) -> Statement:
    """Read a CNAB 400 cobrança retorno; the record sequence must be whole or nothing is."""
    return _Cnab400Reader(path).read(read_text(path, ("latin-1",)))
