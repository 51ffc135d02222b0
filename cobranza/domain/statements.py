"""Money that arrived, as read from a bank statement, a gateway or a payment receipt.

Every importer (camt, MT940, BAI2, OFX, CNAB, CSV, SPEI CEP, CFDI Pagos) turns its file into
these models; the matching engine reads nothing else. Amounts are `Money` (integer minor
units), dates are calendar dates as the bank booked them, account numbers stay strings.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cobranza.domain.errors import DomainError
from cobranza.domain.money import Money


class Direction(StrEnum):
    CREDIT = "credit"  # money in: what collections match
    DEBIT = "debit"  # money out: fees, refunds, returned debits


class StatementLine(BaseModel):
    """One entry of a statement: a single movement of money on one account."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1, description="file name the entry was read from")
    line: int = Field(ge=1, description="1-based line of the file where the entry starts")
    entry_id: str = Field(
        min_length=1,
        description="stable key of the entry: the bank's own reference when it has one, "
        "otherwise derived from everything the entry says (account, date, amount, references, "
        "text, payer) and its position among entries that say the same; re-importing the "
        "same or an overlapping statement finds the same key",
    )
    account: str = Field(description="the statement's own account, as printed (leading zeros kept)")
    direction: Direction
    amount: Money = Field(description="always positive; `direction` says which way it moved")
    booked_on: date
    value_on: date | None = None
    reference: str | None = Field(
        default=None,
        description="the strongest single reference: end-to-end id, structured creditor "
        "reference, CFDI UUID or payment reference",
    )
    references: tuple[str, ...] = Field(
        default=(), description="every other reference-like token the entry carries"
    )
    remittance: str = Field(default="", description="free remittance text, whitespace folded")
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    bank_code: str | None = Field(
        default=None, description="the format's own transaction code (BTC, BAI type, GV code)"
    )

    @model_validator(mode="after")
    def _positive(self) -> StatementLine:
        if not self.amount.is_positive():
            raise ValueError(f"amount must be positive, got {self.amount}")
        return self


class Statement(BaseModel):
    """One file's worth of entries, with the balances and control totals it declares."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    format: str = Field(description="camt.053, camt.054, mt940, bai2, ofx, cnab240, ...")
    account: str | None = None
    currency: str | None = None
    opening_balance: Money | None = None
    closing_balance: Money | None = None
    lines: tuple[StatementLine, ...] = ()
    controls: dict[str, str] = Field(
        default_factory=dict,
        description="each control total the file declares and that was checked, e.g. "
        "{'entries': '7', 'credits': '1234.56 EUR'}",
    )


class StatementFileError(DomainError):
    """A file that cannot be read as what it claims to be: names the file, line and reason."""

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason
