"""Registering what a payment is recognised by: an invoice's references, a customer's payers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlmodel import Session, select

from cobranza.domain.invoice import invoice_workflow_id
from cobranza.store import money_in
from cobranza.store.store import Store
from cobranza.store.tables import InvoiceRow

PayerKind = Literal["name", "account"]


class UnknownInvoice(LookupError):
    """A reference was given for an invoice the store has never seen."""

    def __init__(self, tenant: str, invoice_id: str) -> None:
        super().__init__(f"no invoice {invoice_id!r} of tenant {tenant!r} in the store")
        self.tenant = tenant
        self.invoice_id = invoice_id


class UnknownCustomer(LookupError):
    """A payer was given for a customer without any invoice in the store."""

    def __init__(self, tenant: str, customer_id: str) -> None:
        super().__init__(f"no invoice of customer {customer_id!r} (tenant {tenant!r}) in the store")
        self.tenant = tenant
        self.customer_id = customer_id


@dataclass(frozen=True)
class Registered:
    """What a registration added; the rest was known already and stays as it was."""

    added: tuple[str, ...]
    known: tuple[str, ...]


def register_references(
    store: Store, tenant: str, invoice_id: str, references: Sequence[str]
) -> Registered:
    """Let a statement line carrying any of references pay this invoice."""
    workflow_id = invoice_workflow_id(tenant, invoice_id)
    if store.get_invoice(workflow_id) is None:
        raise UnknownInvoice(tenant, invoice_id)
    wanted = tuple(dict.fromkeys(r.strip() for r in references if r.strip()))
    added = tuple(money_in.add_invoice_references(store, workflow_id, wanted))
    return Registered(added=added, known=tuple(r for r in wanted if r not in added))


def register_payers(
    store: Store, tenant: str, customer_id: str, kind: PayerKind, values: Sequence[str]
) -> Registered:
    """Let a transfer from one of these names or accounts count as the customer's money."""
    if not has_customer(store, tenant, customer_id):
        raise UnknownCustomer(tenant, customer_id)
    added: list[str] = []
    known: list[str] = []
    for value in dict.fromkeys(v.strip() for v in values if v.strip()):
        new = money_in.add_customer_alias(store, tenant, customer_id, kind=kind, value=value)
        (added if new else known).append(value)
    return Registered(added=tuple(added), known=tuple(known))


def has_customer(store: Store, tenant: str, customer_id: str) -> bool:
    query = select(InvoiceRow.workflow_id).where(
        InvoiceRow.tenant == tenant, InvoiceRow.customer_id == customer_id
    )
    with Session(store.engine) as session:
        return session.exec(query.limit(1)).first() is not None
