"""Matching money that arrived to what is owed: pure rules, in order, never a guess.

Rules, strongest first:
1. exact reference: the line's reference (or a token of its remittance text, taken on word
   boundaries) is an invoice number, payment reference, creditor reference or CFDI UUID of
   one open item. Less than outstanding is a *partial* payment; more is an overpayment whose
   surplus becomes the customer's credit; several referenced items of one customer are a
   *grouped* payment.
2. amount + customer + date window: the payer is known by account or name and exactly one of
   their open items owes exactly the amount, issued before and due not long before the booking.
3. grouped by amount: exactly one set of that customer's open items sums to the amount
   (bounded search).
Anything else, or two equally good candidates, is an exception for a person. Only credits are
matched; debits are reported.

The rules run in two passes over the whole input, each in booking order: first every line that
names an open item (rule 1), then the lines that name none (rules 2 and 3) against what is
still owed. So a transfer that names its invoice always wins over an earlier one that only
fits it by amount, whatever the order the bank booked them in.

Indexes by reference and by payer keep a line's work constant however many items are open. A
large statement is decided by the same rules compiled over columns (matching_frames).
"""

from __future__ import annotations

import gc
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from operator import attrgetter

from pydantic import BaseModel, ConfigDict, Field

from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, StatementLine

# A payment booked this long after the due date still counts for the amount+customer rule.
DATE_WINDOW_AFTER_DUE = timedelta(days=120)
# ... and this long before the issue date (a bank books a transfer a day or two early).
DATE_WINDOW_BEFORE_ISSUE = timedelta(days=3)
# Grouped payments without references: how many open items of a customer the search looks at
# and how many steps it may take before giving up (then: exception, not a guess).
GROUP_SEARCH_ITEMS = 24
GROUP_SEARCH_STEPS = 20_000

_TOKEN = re.compile(r"[A-Z0-9]+(?:[-_/.][A-Z0-9]+)*")
_RF = re.compile(r"\bRF\d{2}(?: ?[A-Z0-9]{1,4}){1,6}\b")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")


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


def normalise_reference(text: str) -> str:
    """References compare upper-case, without spaces ("rf18 5390" is "RF185390")."""
    return "".join(text.split()).upper()


@lru_cache(maxsize=65_536)
def normalise_name(text: str) -> str:
    """Names compare by their letters and digits only: "Kij, S.A. de C.V." is "KIJSADECV"."""
    if not text.isascii():
        folded = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in folded if not unicodedata.combining(c))
    return _NOT_ALNUM.sub("", text.upper())


def is_creditor_reference(text: str) -> bool:
    """ISO 11649 structured creditor reference: RF, two check digits, mod 97 of it is 1."""
    ref = normalise_reference(text)
    if not (5 <= len(ref) <= 25 and ref.startswith("RF") and ref[2:4].isdigit()):
        return False
    if not ref[4:].isalnum():
        return False
    digits = "".join(str(int(c, 36)) for c in ref[4:] + ref[:4])
    return int(digits) % 97 == 1


def remittance_tokens(text: str) -> list[str]:
    """Reference-like tokens of free text, on word boundaries ("INV-10" never hits "INV-100")."""
    if not text:
        return []
    upper = text.upper()
    tokens = _TOKEN.findall(upper)
    for printed in _RF.findall(upper) if "RF" in upper else ():
        # Printed in groups of four: take the longest run of groups whose check digits hold.
        groups = printed.split(" ")
        for end in range(len(groups), 0, -1):
            candidate = "".join(groups[:end])
            if is_creditor_reference(candidate):
                tokens.append(candidate)
                break
    return tokens


def _money(minor: int, currency: str) -> Money:
    """An amount in a currency already validated (the line's): no need to check it again."""
    return Money.model_construct(minor=minor, currency=currency)


class _Index:
    """Open items by reference, by payer and by (customer, currency, amount).

    Columns of plain values (remaining, currency) are what the hot loop reads; the payer
    indexes are built on first use, since a statement whose lines all carry references never
    needs them.
    """

    def __init__(self, items: Sequence[OpenItem]) -> None:
        self.items = items
        self.outstanding: list[int] = []
        self.currency: list[str] = []
        by_ref: dict[str, list[int]] = {}
        outstanding_append = self.outstanding.append
        currency_append = self.currency.append
        for i, item in enumerate(items):
            outstanding = item.outstanding
            outstanding_append(outstanding.minor)
            currency_append(outstanding.currency)
            for ref in (item.invoice_id, *item.references):
                key = normalise_reference(ref)
                if not key:
                    continue
                hits = by_ref.get(key)
                if hits is None:
                    by_ref[key] = [i]
                elif hits[-1] != i:
                    hits.append(i)
        self.by_ref = by_ref
        self.remaining = list(self.outstanding)
        self._payers_built = False
        self._by_account: dict[str, set[Owner]] = {}
        self._by_name: dict[str, set[Owner]] = {}
        self._by_owner: dict[tuple[Owner, str], list[int]] = {}  # in input order
        self._by_due: dict[tuple[Owner, str], list[int]] = {}  # the same, by due date

    def _build_payers(self) -> None:
        by_account = self._by_account
        by_name = self._by_name
        by_owner = self._by_owner
        currencies = self.currency
        described: set[tuple[Owner, tuple[str, ...], tuple[str, ...]]] = set()
        for i, item in enumerate(self.items):
            owner = (item.tenant, item.customer_id)
            group = (owner, currencies[i])
            members = by_owner.get(group)
            if members is None:
                by_owner[group] = [i]
            else:
                members.append(i)
            # A customer's invoices mostly carry the same names and accounts: index them once.
            description = (owner, item.customer_accounts, item.customer_names)
            if description in described:
                continue
            described.add(description)
            for account in item.customer_accounts:
                key = normalise_reference(account)
                owners = by_account.get(key)
                if owners is None:
                    by_account[key] = {owner}
                else:
                    owners.add(owner)
            for name in item.customer_names:
                key = normalise_name(name)
                owners = by_name.get(key)
                if owners is None:
                    by_name[key] = {owner}
                else:
                    owners.add(owner)
        self._payers_built = True

    def owing(self, owner: Owner, currency: str, amount: int) -> list[int]:
        """The owner's items in that currency that owed exactly `amount` to begin with."""
        outstanding = self.outstanding
        return [i for i in self._by_owner.get((owner, currency), ()) if outstanding[i] == amount]

    def by_due_date(self, owner: Owner, currency: str) -> list[int]:
        """The owner's items in that currency, earliest due first (then invoice id)."""
        group = (owner, currency)
        members = self._by_due.get(group)
        if members is None:
            items = self.items
            members = sorted(
                self._by_owner.get(group, ()), key=lambda i: (items[i].due_on, items[i].invoice_id)
            )
            self._by_due[group] = members
        return members

    def lookup(self, refs: Iterable[str | None], tokens: Iterable[str] = ()) -> list[int]:
        """Items named by refs (normalised here) then by tokens (already normalised)."""
        by_ref = self.by_ref
        found: list[int] = []
        for ref in refs:
            if not ref:
                continue
            for i in by_ref.get(normalise_reference(ref), ()):
                if i not in found:
                    found.append(i)
        for token in tokens:
            for i in by_ref.get(token, ()):
                if i not in found:
                    found.append(i)
        return found

    def payers(self, line: StatementLine) -> set[Owner]:
        if not self._payers_built:
            self._build_payers()
        if line.counterparty_account:
            known = self._by_account.get(normalise_reference(line.counterparty_account))
            if known:
                return known
        if line.counterparty_name:
            return self._by_name.get(normalise_name(line.counterparty_name), set())
        return set()


class _Matcher:
    def __init__(self, items: Sequence[OpenItem]) -> None:
        self.ix = _Index(items)

    def by_reference(self, line: StatementLine) -> LineMatch | None:
        """Rule 1 for a credit line, or None when it names no open item."""
        strong = self.ix.lookup((line.reference,))
        if strong:
            return self._by_reference(line, strong, from_text=False)
        # Remittance tokens are upper-case runs of letters, digits and separators: normalised.
        weak = self.ix.lookup(line.references, remittance_tokens(line.remittance))
        if weak:
            return self._by_reference(line, weak, from_text=True)
        return None

    # -- rule 1 -----------------------------------------------------------------------------

    def _by_reference(self, line: StatementLine, hits: list[int], *, from_text: bool) -> LineMatch:
        items = self.ix.items
        currency = line.amount.currency
        same = [i for i in hits if items[i].outstanding.currency == currency]
        names = tuple(items[i].invoice_id for i in hits)
        if not same:
            found = ", ".join(
                f"{items[i].invoice_id} in {items[i].outstanding.currency}" for i in hits
            )
            return self._exception(
                line,
                f"currency mismatch: {currency} line, invoices {found}",
                names,
                self._owner(hits),
            )
        customers = {(items[i].tenant, items[i].customer_id) for i in same}
        if len(customers) > 1:
            return self._exception(
                line,
                f"references invoices of {len(customers)} customers: {', '.join(names)}",
                names,
            )
        penalty = TEXT_PENALTY if from_text else 0.0
        if len(same) == 1:
            return self._single(line, same[0], penalty)
        return self._grouped_by_reference(line, same, penalty)

    def _single(self, line: StatementLine, i: int, penalty: float) -> LineMatch:
        item = self.ix.items[i]
        owed = self.ix.remaining[i]
        amount = line.amount.minor
        if owed == 0:
            return self._credit_only(line, item, f"{item.invoice_id} is already settled")
        take = min(owed, amount)
        rule = Rule.PARTIAL if amount < owed else Rule.EXACT_REFERENCE
        return self._allocate(line, [(i, take)], rule, CONFIDENCE[rule] - penalty)

    def _grouped_by_reference(
        self, line: StatementLine, same: list[int], penalty: float
    ) -> LineMatch:
        # What the open ones owe: an invoice owing less than nothing neither takes money nor
        # lowers what the others need (netting a credit against an invoice is not a payment).
        open_ones = [i for i in same if self.ix.remaining[i] > 0]
        owed = sum(self.ix.remaining[i] for i in open_ones)
        if line.amount.minor < owed:
            names = tuple(self.ix.items[i].invoice_id for i in open_ones)
            return self._exception(
                line,
                f"pays {line.amount} of {len(open_ones)} referenced invoices owing "
                f"{Money(minor=owed, currency=line.amount.currency)}: which one is short?",
                names,
                self._owner(same),
            )
        if not open_ones:
            return self._credit_only(
                line, self.ix.items[same[0]], "referenced invoices are settled"
            )
        plan = [(i, self.ix.remaining[i]) for i in open_ones]
        return self._allocate(line, plan, Rule.GROUPED, CONFIDENCE[Rule.GROUPED] - penalty)

    # -- rules 2 and 3 ----------------------------------------------------------------------

    def by_payer(self, line: StatementLine) -> LineMatch:
        """Rules 2 and 3 for a credit line that names no open item."""
        payers = self.ix.payers(line)
        if not payers:
            return self._exception(line, UNKNOWN_PAYER)
        if len(payers) > 1:
            return self._exception(line, several_payers(c for _, c in payers))
        (owner,) = payers
        customer = owner[1]
        currency = line.amount.currency
        amount = line.amount.minor
        exact = [
            i
            for i in self.ix.owing(owner, currency, amount)
            if self.ix.remaining[i] == amount and self._in_window(i, line.booked_on)
        ]
        if len(exact) == 1:
            rule = Rule.AMOUNT_CUSTOMER
            return self._allocate(line, [(exact[0], amount)], rule, CONFIDENCE[rule])
        if len(exact) > 1:
            names = tuple(self.ix.items[i].invoice_id for i in exact)
            why = f"{len(exact)} open invoices of {customer} owe exactly {line.amount}"
            return self._exception(line, why, names, owner)
        return self._grouped_by_amount(line, owner)

    def _in_window(self, i: int, booked_on: date) -> bool:
        # Day numbers: a window reaching past year 1 or 9999 is still a window.
        item = self.ix.items[i]
        day = booked_on.toordinal()
        return (
            item.issued_on.toordinal() - DATE_WINDOW_BEFORE_ISSUE.days
            <= day
            <= item.due_on.toordinal() + DATE_WINDOW_AFTER_DUE.days
        )

    def _grouped_by_amount(self, line: StatementLine, owner: Owner) -> LineMatch:
        customer = owner[1]
        members = [
            i
            for i in self.ix.by_due_date(owner, line.amount.currency)
            if self.ix.remaining[i] > 0 and self._in_window(i, line.booked_on)
        ][:GROUP_SEARCH_ITEMS]
        found, exhausted = subsets_summing_to(
            [self.ix.remaining[i] for i in members], line.amount.minor, limit=2
        )
        if len(found) == 1 and not exhausted:
            plan = [(members[k], self.ix.remaining[members[k]]) for k in found[0]]
            if len(plan) == 1:
                # An invoice partly paid earlier whose remainder is exactly this amount.
                rule = Rule.AMOUNT_CUSTOMER
                return self._allocate(line, plan, rule, CONFIDENCE[rule])
            return self._allocate(line, plan, Rule.GROUPED, GROUPED_BY_AMOUNT_CONFIDENCE)
        if len(found) > 1:
            why = f"several sets of {customer}'s open invoices sum to {line.amount}"
            return self._exception(line, why, (), owner)
        why = "search gave up" if exhausted else "no open invoice or set of them"
        why = f"payer {customer} known but {why} matches {line.amount}"
        return self._exception(line, why, (), owner)

    # -- outcomes ---------------------------------------------------------------------------

    def _allocate(
        self, line: StatementLine, plan: list[tuple[int, int]], rule: Rule, confidence: float
    ) -> LineMatch:
        items = self.ix.items
        currency = line.amount.currency
        allocations = []
        for i, minor in plan:
            self.ix.remaining[i] -= minor
            item = items[i]
            allocations.append(
                Allocation(
                    item.invoice_id,
                    item.workflow_id,
                    item.tenant,
                    line.amount if minor == line.amount.minor else _money(minor, currency),
                )
            )
        surplus = line.amount.minor - sum(m for _, m in plan)
        first = items[plan[0][0]]
        return LineMatch(
            line,
            Outcome.MATCHED,
            rule=rule,
            confidence=round(confidence, 2),
            allocations=tuple(allocations),
            credit=_money(surplus, currency) if surplus else None,
            customer_id=first.customer_id,
            tenant=first.tenant,
            reason=OVERPAID if surplus else "",
        )

    def _credit_only(self, line: StatementLine, item: OpenItem, why: str) -> LineMatch:
        return LineMatch(
            line,
            Outcome.CREDITED,
            rule=Rule.OVERPAYMENT,
            confidence=CONFIDENCE[Rule.OVERPAYMENT],
            credit=line.amount,
            customer_id=item.customer_id,
            tenant=item.tenant,
            reason=f"{why}: all of it is customer credit",
            candidates=(item.invoice_id,),
        )

    def _exception(
        self,
        line: StatementLine,
        reason: str,
        names: tuple[str, ...] = (),
        owner: tuple[str, str] | None = None,
    ) -> LineMatch:
        """Money for a person to decide on; owner (tenant, customer) when it is known."""
        tenant, customer_id = owner if owner is not None else (None, None)
        return LineMatch(
            line,
            Outcome.EXCEPTION,
            reason=reason,
            candidates=names,
            customer_id=customer_id,
            tenant=tenant,
        )

    def _owner(self, indexes: Iterable[int]) -> Owner | None:
        """The one (tenant, customer) the items belong to, if there is exactly one."""
        owners = {(self.ix.items[i].tenant, self.ix.items[i].customer_id) for i in indexes}
        return next(iter(owners)) if len(owners) == 1 else None


UNKNOWN_PAYER = "no reference to an open invoice and payer unknown"


def several_payers(customer_ids: Iterable[str]) -> str:
    """Why a line whose payer fits more than one customer is left to a person."""
    who = sorted(customer_ids)
    return f"payer matches {len(who)} customers: {', '.join(who)}"


def subsets_summing_to(
    amounts: Sequence[int], target: int, *, limit: int = 2, budget: int = GROUP_SEARCH_STEPS
) -> tuple[list[tuple[int, ...]], bool]:
    """Up to `limit` sets of positions whose amounts sum exactly to target; True if cut short."""
    order = sorted(range(len(amounts)), key=lambda k: (-amounts[k], k))
    values = [amounts[k] for k in order]
    suffix = [0] * (len(values) + 1)
    for k in range(len(values) - 1, -1, -1):
        suffix[k] = suffix[k + 1] + values[k]
    found: list[tuple[int, ...]] = []
    steps = 0
    chosen: list[int] = []

    def walk(k: int, left: int) -> bool:
        nonlocal steps
        steps += 1
        if steps > budget:
            return False
        if left == 0:
            found.append(tuple(sorted(order[c] for c in chosen)))
            return len(found) < limit
        if k == len(values) or suffix[k] < left:
            return True
        if values[k] <= left:
            chosen.append(k)
            go_on = walk(k + 1, left - values[k])
            chosen.pop()
            if not go_on:
                return False
        return walk(k + 1, left)

    completed = walk(0, target) if target > 0 else True
    return found, not completed and len(found) < limit


# From this many lines on, `fast` matching runs compiled over columns (matching_frames); below
# it, loading polars and the compiled rules costs more than the per-line rules take.
COMPILED_FROM = 2_000


def match_lines(
    lines: Iterable[StatementLine], items: Sequence[OpenItem], *, fast: bool = True
) -> list[LineMatch]:
    """Match every line against the open items; results in booking order (then file, line).

    Each line's result is in the output exactly once; an entry id seen before in the same
    input is a duplicate and changes nothing. A large input (COMPILED_FROM lines or more) is
    decided by the compiled rules of `matching_frames` unless `fast=False`; everything else
    by `_Matcher`, one line at a time, as is input the compiled rules cannot hold: sums past
    int64 (`fits_compiled`) or text no frame can hold (a lone surrogate).
    tests/domain/test_matching_equivalence.py holds both to the same results on any input.
    """
    lines = list(lines)
    if fast and len(lines) >= COMPILED_FROM and fits_compiled(lines, items):
        from cobranza.domain.matching_objects import match_objects  # loaded only when needed

        try:
            return match_objects(lines, items)
        except UnicodeEncodeError:
            pass  # text no frame can hold (a lone surrogate): the per-line rules read it
    # Only acyclic objects are made here; the cyclic collector would rescan every live line
    # and invoice again and again (a third of the time at 100,000 lines) for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _match_in_passes(_Matcher(items), sorted(lines, key=BOOKING_ORDER))
    finally:
        if collecting:
            gc.enable()


# The compiled rules sum amounts in int64; below this every sum they make fits.
COMPILED_BOUND = 2**62


def fits_compiled(lines: Sequence[StatementLine], items: Sequence[OpenItem]) -> bool:
    """Whether the compiled rules can decide these exactly: every amount, line number and sum
    of them stays within int64 (an input of trillions in a currency's minor units does not)."""
    owed = sum(abs(i.outstanding.minor) for i in items)
    largest = max((max(ln.amount.minor, ln.line) for ln in lines), default=0)
    return owed + largest < COMPILED_BOUND


BOOKING_ORDER = attrgetter("booked_on", "source", "line", "entry_id")
DUPLICATE = "entry seen earlier"
DEBIT = "money out: reported, not matched"


def _match_in_passes(matcher: _Matcher, ordered: list[StatementLine]) -> list[LineMatch]:
    """Rule 1 over every line in booking order, then rules 2 and 3 over the lines left."""
    seen: set[str] = set()
    results: list[LineMatch | None] = []
    unnamed: list[int] = []
    for line in ordered:
        if line.entry_id in seen:
            results.append(LineMatch(line, Outcome.DUPLICATE, reason=DUPLICATE))
            continue
        seen.add(line.entry_id)
        if line.direction is not Direction.CREDIT:
            results.append(LineMatch(line, Outcome.DEBIT, reason=DEBIT))
            continue
        named = matcher.by_reference(line)
        if named is None:
            unnamed.append(len(results))
        results.append(named)
    for pos in unnamed:
        results[pos] = matcher.by_payer(ordered[pos])
    return [r for r in results if r is not None]
