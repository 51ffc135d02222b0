"""Registered references and payers reach the matcher's open items, once each, on both stores."""

from __future__ import annotations

import pytest

from cobranza.store import Store, money_in
from cobranza.store.money_in_payers import (
    Registered,
    UnknownCustomer,
    UnknownInvoice,
    register_payers,
    register_references,
)

from .factories import snapshot


def test_references_of_a_known_invoice_are_kept_once(store: Store) -> None:
    store.upsert_invoice(snapshot("INV-1"))

    first = register_references(store, "acme", "INV-1", ["UUID-1", " UUID-1 ", "RF18"])
    second = register_references(store, "acme", "INV-1", ["RF18", "UUID-2"])

    assert first == Registered(added=("UUID-1", "RF18"), known=())
    assert second == Registered(added=("UUID-2",), known=("RF18",))
    [item] = money_in.open_items(store)
    assert item.references == ("RF18", "UUID-1", "UUID-2")


def test_payers_of_a_known_customer_are_kept_once(store: Store) -> None:
    store.upsert_invoice(snapshot("INV-1"))

    names = register_payers(store, "acme", "CUST-1", "name", ["Kij SA", "Kij SA"])
    accounts = register_payers(store, "acme", "CUST-1", "account", ["0123"])
    again = register_payers(store, "acme", "CUST-1", "name", ["Kij SA"])

    assert names == Registered(added=("Kij SA",), known=())
    assert accounts == Registered(added=("0123",), known=())
    assert again == Registered(added=(), known=("Kij SA",))
    [item] = money_in.open_items(store)
    assert (item.customer_names, item.customer_accounts) == (("Kij SA",), ("0123",))


def test_an_unknown_invoice_or_customer_is_refused(store: Store) -> None:
    store.upsert_invoice(snapshot("INV-1"))

    with pytest.raises(UnknownInvoice, match="no invoice 'INV-9' of tenant 'acme'"):
        register_references(store, "acme", "INV-9", ["UUID-1"])
    with pytest.raises(UnknownCustomer, match="customer 'CUST-1' \\(tenant 'other'\\)"):
        register_payers(store, "other", "CUST-1", "name", ["Kij SA"])
    [item] = money_in.open_items(store)
    assert (item.references, item.customer_names) == ((), ())
