"""FEBRABAN CNAB 240 cobrança retorno reader: field positions as data, trailers checked.

A retorno reports what happened to each boleto (título): segment T names it (nosso número,
document number, face value, payer, bank fee) and segment U says what was paid and when.
Only liquidations (movement 06, and 17 after write-off) are money in and become lines, for
the amount paid (U 78-92), booked on the credit date. Other movements (registration
confirmed, write-off, ...) are counted but carry no money.

Tolerance, deliberately: a record shorter than 240 characters is read as if padded with
blanks on the right, because files that pass through editors or mail lose trailing blanks
(brcobranca's Banco do Brasil sample has records of 146 to 235 characters, every missing
position being a blank filler). A field the cut removed reads as blank, so a required number
or date that was cut off is still refused. A record longer than 240 is refused.

Controls (FEBRABAN v08 trailers): each lote trailer's record count (18-23, header and trailer
included) and the file trailer's lote count (18-23) and record count (24-29).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cobranza.domain.statements import Direction, Statement, StatementFileError
from cobranza.integrations.bank_files.assembly import StatementBuilder, minor_money, read_text

RECORD_LENGTH = 240
LIQUIDATIONS = {"06": "liquidação", "17": "liquidação após baixa"}
CURRENCY_CODES = {"09": "BRL", "00": "BRL", "  ": "BRL"}


@dataclass(frozen=True)
class Field:
    """One fixed-width field: 1-based first and last position, as the FEBRABAN manual prints."""

    name: str
    first: int
    last: int

    def cut(self, record: str) -> str:
        return record[self.first - 1 : self.last]


LAYOUT_240: dict[str, tuple[Field, ...]] = {
    "file_header": (Field("bank", 1, 3), Field("created_on", 144, 151)),
    "segment_T": (
        Field("movement", 16, 17),
        Field("agency", 18, 22),
        Field("account", 24, 35),
        Field("nosso_numero", 38, 57),
        Field("document", 59, 73),
        Field("due_on", 74, 81),
        Field("face_value", 82, 96),
        Field("company_use", 106, 130),
        Field("currency", 131, 132),
        Field("payer_id", 134, 148),
        Field("payer_name", 149, 188),
        Field("fee", 199, 213),
    ),
    "segment_U": (
        Field("movement", 16, 17),
        Field("interest", 18, 32),
        Field("discount", 33, 47),
        Field("paid", 78, 92),
        Field("net", 93, 107),
        Field("occurred_on", 138, 145),
        Field("credited_on", 146, 153),
    ),
    "lote_trailer": (Field("records", 18, 23),),
    "file_trailer": (Field("lotes", 18, 23), Field("records", 24, 29)),
}


@dataclass
class _Record:
    line: int
    text: str
    kind: str

    def fields(self) -> dict[str, str]:
        return {f.name: f.cut(self.text) for f in LAYOUT_240[self.kind]}


class _CnabReader:
    def __init__(self, path: Path) -> None:
        self.source = path.name
        self.builder = StatementBuilder.for_file(path, "cnab240", "cnab240")

    def number(self, record: _Record, name: str, value: str) -> int:
        if not value.strip() or not value.isdigit():
            raise StatementFileError(
                self.source, record.line, f"{name} {value!r} is not a number (digits only)"
            )
        return int(value)

    def day(self, record: _Record, name: str, value: str) -> date | None:
        if value.strip("0 ") == "":
            return None
        try:
            return date(int(value[4:8]), int(value[2:4]), int(value[0:2]))
        except ValueError as exc:
            raise StatementFileError(
                self.source, record.line, f"{name} {value!r} is not a date DDMMAAAA"
            ) from exc

    def records(self, text: str) -> list[_Record]:
        records = []
        for number, row in enumerate(text.splitlines(), 1):
            if not row.strip():
                continue
            if len(row) > RECORD_LENGTH:
                raise StatementFileError(
                    self.source, number, f"record has {len(row)} characters, CNAB 240 has 240"
                )
            row = row.ljust(RECORD_LENGTH)
            kind = {"0": "file_header", "1": "lote_header", "5": "lote_trailer"}.get(row[7])
            if row[7] == "9":
                kind = "file_trailer"
            elif row[7] == "3":
                kind = f"segment_{row[13]}"
            if kind is None:
                raise StatementFileError(
                    self.source, number, f"record type {row[7]!r} at position 8 is not 0/1/3/5/9"
                )
            records.append(_Record(number, row, kind))
        if not records or records[0].kind != "file_header":
            raise StatementFileError(self.source, 1, "a CNAB 240 file starts with a file header")
        if records[-1].kind != "file_trailer":
            raise StatementFileError(
                self.source, records[-1].line, "the file ends without its trailer (record type 9)"
            )
        return records

    def read(self, text: str) -> Statement:
        records = self.records(text)
        lote_size = 0
        lotes = 0
        pending_t: _Record | None = None
        accounts: set[str] = set()
        for record in records:
            if record.kind == "lote_header":
                lote_size, lotes = 1, lotes + 1
                continue
            lote_size += 1
            if record.kind == "segment_T":
                pending_t = record
            elif record.kind == "segment_U":
                if pending_t is None:
                    raise StatementFileError(
                        self.source, record.line, "segment U without the segment T before it"
                    )
                accounts.add(self.title(pending_t, record))
                pending_t = None
            elif record.kind == "lote_trailer":
                declared = self.number(record, "lote record count", record.fields()["records"])
                self.check(record, f"lote {lotes} records", declared, lote_size)
        trailer = records[-1].fields()
        self.check(
            records[-1], "file lotes", self.number(records[-1], "lotes", trailer["lotes"]), lotes
        )
        self.check(
            records[-1],
            "file records",
            self.number(records[-1], "records", trailer["records"]),
            len(records),
        )
        return self.builder.build(
            account=next(iter(accounts)) if len(accounts) == 1 else None, currency="BRL"
        )

    def check(self, record: _Record, name: str, declared: int, counted: int) -> None:
        if declared != counted:
            raise StatementFileError(
                self.source,
                record.line,
                f"{name}: the trailer declares {declared}, the file has {counted}",
            )
        self.builder.controls[name] = str(declared)

    def title(self, t: _Record, u: _Record) -> str:
        tf, uf = t.fields(), u.fields()
        account = f"{tf['agency']}/{tf['account']}"
        if uf["movement"] not in LIQUIDATIONS:
            return account
        if tf["currency"] not in CURRENCY_CODES:
            raise StatementFileError(
                self.source, t.line, f"currency code {tf['currency']!r} (131-132) is not 09 (real)"
            )
        paid = self.number(u, "amount paid (78-92)", uf["paid"])
        occurred = self.day(u, "occurrence date (138-145)", uf["occurred_on"])
        credited = self.day(u, "credit date (146-153)", uf["credited_on"])
        booked = credited or occurred
        if booked is None:
            raise StatementFileError(
                self.source, u.line, "a liquidation without a credit or occurrence date"
            )
        nosso_numero = tf["nosso_numero"].strip()
        payer = tf["payer_name"].strip()
        payer_id = tf["payer_id"].strip()
        self.builder.add(
            line=t.line,
            account=account,
            direction=Direction.CREDIT,
            amount=minor_money(self.source, u.line, paid, "BRL"),
            booked_on=booked,
            value_on=credited,
            bank_ref=f"{nosso_numero}/{uf['movement']}",
            reference=nosso_numero or None,
            references=tuple(
                r
                for r in (tf["document"].strip(), tf["company_use"].strip(), payer_id)
                if r.strip("0")
            ),
            remittance=self.remittance(t, uf["movement"], tf["fee"]),
            counterparty_name=payer if payer.strip("0") else None,
            bank_code=uf["movement"],
        )
        return account

    def remittance(self, t: _Record, movement: str, fee: str) -> str:
        text = LIQUIDATIONS[movement]
        if fee.strip():
            charged = minor_money(self.source, t.line, self.number(t, "fee (199-213)", fee), "BRL")
            text += f"; bank fee {charged}"
        return text


def read_cnab240(path: Path) -> Statement:
    """Read a CNAB 240 cobrança retorno; trailer counts must agree or nothing is returned."""
    return _CnabReader(path).read(read_text(path, ("latin-1",)))
