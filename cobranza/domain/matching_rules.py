"""The matching rules one line at a time: exact reference, amount and customer, grouped."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from cobranza.domain.matching_index import _Index
from cobranza.domain.matching_model import (
    CONFIDENCE,
    DATE_WINDOW_AFTER_DUE,
    DATE_WINDOW_BEFORE_ISSUE,
    GROUP_SEARCH_ITEMS,
    GROUP_SEARCH_STEPS,
    GROUPED_BY_AMOUNT_CONFIDENCE,
    OVERPAID,
    TEXT_PENALTY,
    UNKNOWN_PAYER,
    Allocation,
    LineMatch,
    OpenItem,
    Outcome,
    Owner,
    Rule,
    several_payers,
)
from cobranza.domain.matching_text import remittance_tokens
from cobranza.domain.money import Money
from cobranza.domain.statements import StatementLine


def _money(minor: int, currency: str) -> Money:
    """An amount in a currency already validated (the line's): no need to check it again."""
    return Money.model_construct(minor=minor, currency=currency)


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
        if owed <= 0:  # settled, or owing less than nothing: it takes no money
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
