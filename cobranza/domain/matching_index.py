"""Open items indexed for matching: by reference, by payer and by (customer, currency)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cobranza.domain.matching_model import OpenItem, Owner
from cobranza.domain.matching_text import normalise_name, normalise_reference
from cobranza.domain.statements import StatementLine


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
