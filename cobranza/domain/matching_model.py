"""What matching reads and decides, shared by the per-line and the compiled rules.

Open items and what became of each line (allocations, outcome, rule, confidence), with the
thresholds and reasons both engines must agree on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from cobranza.domain.money import Money
from cobranza.domain.statements import StatementLine

# A payment booked this long after the due date still counts for the amount+customer rule.
DATE_WINDOW_AFTER_DUE = timedelta(days=120)
# ... and this long before the issue date (a bank books a transfer a day or two early).
DATE_WINDOW_BEFORE_ISSUE = timedelta(days=3)
# Grouped payments without references: how many open items of a customer the search looks at
# and how many steps it may take before giving up (then: exception, not a guess).
GROUP_SEARCH_ITEMS = 24
GROUP_SEARCH_STEPS = 20_000


Owner = tuple[str, str]  # (tenant, customer_id)


class Rule(StrEnum):
    EXACT_REFERENCE = "exact_reference"
    PARTIAL = "partial"
    GROUPED = "grouped"
    AMOUNT_CUSTOMER = "amount_customer"
    OVERPAYMENT = "overpayment"


class Outcome(StrEnum):
    MATCHED = "matched"  # allocated to invoices (maybe with a credit for the surplus)
    CREDITED = "credited"  # the customer is known but owes nothing more: all of it is credit
    EXCEPTION = "exception"  # a person must decide
    DEBIT = "debit"  # money out: reported, never matched
    DUPLICATE = "duplicate"  # the same entry appeared earlier in the input


CONFIDENCE: dict[Rule, float] = {
    Rule.EXACT_REFERENCE: 1.0,
    Rule.PARTIAL: 0.9,
    Rule.GROUPED: 0.9,
    Rule.AMOUNT_CUSTOMER: 0.8,
    Rule.OVERPAYMENT: 0.8,
}
# A reference found only in free remittance text is a little weaker than a structured one;
# a grouped payment found by amounts alone weaker still.
TEXT_PENALTY = 0.05
OVERPAID = "overpayment: surplus is customer credit"
GROUPED_BY_AMOUNT_CONFIDENCE = 0.7


class OpenItem(BaseModel):
    """An invoice with money still owed, as the matcher needs to see it."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    invoice_id: str = Field(min_length=1)
    workflow_id: str
    customer_id: str
    customer_names: tuple[str, ...] = ()
    customer_accounts: tuple[str, ...] = ()
    outstanding: Money
    issued_on: date
    due_on: date
    references: tuple[str, ...] = Field(
        default=(),
        description="payment reference, structured creditor reference (RF...), CFDI UUID, ...",
    )


# Plain (not frozen) slotted dataclasses: a frozen one costs a setattr call per field, which
# is a third of the engine's time at 100,000 lines. Treat them as read-only all the same.
@dataclass(slots=True)
class Allocation:
    invoice_id: str
    workflow_id: str
    tenant: str
    amount: Money


@dataclass(slots=True)
class LineMatch:
    """What became of one statement line."""

    line: StatementLine
    outcome: Outcome
    rule: Rule | None = None
    confidence: float = 0.0
    allocations: tuple[Allocation, ...] = ()
    credit: Money | None = None
    customer_id: str | None = None
    tenant: str | None = None
    reason: str = ""
    candidates: tuple[str, ...] = field(default=())

    @property
    def allocated(self) -> int:
        return sum(a.amount.minor for a in self.allocations)


UNKNOWN_PAYER = "no reference to an open invoice and payer unknown"


def several_payers(customer_ids: Iterable[str]) -> str:
    """Why a line whose payer fits more than one customer is left to a person."""
    who = sorted(customer_ids)
    return f"payer matches {len(who)} customers: {', '.join(who)}"
