"""What statement money is matched against: open invoices, their references, payer aliases."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cobranza.domain.invoice import CLOSED_STATUSES
from cobranza.domain.matching import OpenItem
from cobranza.domain.money import Money
from cobranza.store.money_in_tables import (
    CustomerAliasRow,
    InvoiceReferenceRow,
    MatchRow,
    _all,
    ensure_money_in_tables,
)
from cobranza.store.store import Store
from cobranza.store.tables import InvoiceRow, PaymentRow


def add_invoice_references(store: Store, workflow_id: str, references: Iterable[str]) -> list[str]:
    """Remember what else an invoice may be paid by (its CFDI UUID, a creditor reference).

    Returns the references that were new; one already known is left as it is.
    """
    ensure_money_in_tables(store)
    added = []
    with store._writing() as conn:
        for reference in dict.fromkeys(r for r in references if r):
            row = {"workflow_id": workflow_id, "reference": reference}
            if store._insert_ignoring(conn, InvoiceReferenceRow, row, ["workflow_id", "reference"]):
                added.append(reference)
    return added


def add_customer_alias(
    store: Store, tenant: str, customer_id: str, *, kind: str, value: str
) -> bool:
    """Remember a name or account the customer pays from; True when it was new."""
    if kind not in ("name", "account"):
        raise ValueError(f"alias kind must be 'name' or 'account', not {kind!r}")
    if not value:
        raise ValueError(f"a customer's {kind} must not be empty")
    ensure_money_in_tables(store)
    values = {"tenant": tenant, "customer_id": customer_id, "kind": kind, "value": value}
    with store._writing() as conn:
        return store._insert_ignoring(
            conn, CustomerAliasRow, values, ["tenant", "customer_id", "kind", "value"]
        )


def _payer_names(row: InvoiceRow, registered: list[str]) -> tuple[str, ...]:
    """The names a payer of this invoice may use: the customer's own, then those registered."""
    own = [row.customer_name] if row.customer_name else []
    return tuple(dict.fromkeys([*own, *registered]))


def open_items(store: Store, tenant: str | None = None) -> list[OpenItem]:
    """Invoices still owing money, less what matched entries already gave them but their
    workflow has not yet recorded (a reconcile run right after another must not double up).
    """
    ensure_money_in_tables(store)
    closed = [s.value for s in CLOSED_STATUSES]
    filters: list[Any] = [InvoiceRow.status.not_in(closed)]  # type: ignore[attr-defined]
    if tenant is not None:
        filters.append(InvoiceRow.tenant == tenant)
    invoices: list[InvoiceRow] = _all(store, InvoiceRow, *filters)
    recorded = {row.payment_id for row in _all(store, PaymentRow)}
    pending: dict[str, int] = {}
    for match in _all(store, MatchRow):
        if match.payment_id not in recorded:
            pending[match.workflow_id] = pending.get(match.workflow_id, 0) + match.amount_minor
    refs: dict[str, list[str]] = {}
    for ref in _all(store, InvoiceReferenceRow):
        refs.setdefault(ref.workflow_id, []).append(ref.reference)
    names: dict[tuple[str, str], list[str]] = {}
    accounts: dict[tuple[str, str], list[str]] = {}
    for alias in _all(store, CustomerAliasRow):
        target = names if alias.kind == "name" else accounts
        target.setdefault((alias.tenant, alias.customer_id), []).append(alias.value)
    items = []
    for row in invoices:
        owed = (
            row.amount_minor
            - row.paid_minor
            - row.credited_minor
            - row.written_off_minor
            - pending.get(row.workflow_id, 0)
        )
        if owed <= 0:
            continue
        owner = (row.tenant, row.customer_id)
        items.append(
            OpenItem(
                tenant=row.tenant,
                invoice_id=row.invoice_id,
                workflow_id=row.workflow_id,
                customer_id=row.customer_id,
                customer_names=_payer_names(row, names.get(owner, [])),
                customer_accounts=tuple(accounts.get(owner, ())),
                outstanding=Money(minor=owed, currency=row.currency),
                issued_on=row.issued_on,
                due_on=row.due_on,
                references=tuple(sorted(refs.get(row.workflow_id, ()))),
            )
        )
    return items
