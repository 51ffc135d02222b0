"""The seeded autopay mix of a dataset replay: stable customers, the four kinds, the new cards."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from cobranza.domain.charges import PaymentMethodAdded
from cobranza.domain.declines_file import load_retry_rules
from cobranza.starter.autopay_mix import NEW_CARD, AutopayMix, MethodKind
from cobranza.starter.dataset import load_ibm_csv
from cobranza.starter.simulation_input import EventKind

DATASET = (
    Path(__file__).resolve().parents[2] / "examples" / "ibm_accounts_receivable_late_payments.csv"
)


def test_share_of_customers_is_seeded_stable_and_per_customer() -> None:
    sim = load_ibm_csv(DATASET)
    mix = AutopayMix(0.3, load_retry_rules())
    kinds = {i.customer.customer_id: mix.kind_of(i) for i in sim.invoices}
    again = AutopayMix(0.3, load_retry_rules())
    # Same seed, same customers, whatever the order the invoices are read in.
    assert {i.customer.customer_id: again.kind_of(i) for i in reversed(sim.invoices)} == kinds
    # Every invoice of a customer is on the same footing.
    for invoice in sim.invoices:
        assert mix.kind_of(invoice) == kinds[invoice.customer.customer_id]
    on = [k for k in kinds.values() if k is not None]
    assert 0.2 <= len(on) / len(kinds) <= 0.4
    assert set(Counter(on)) == set(MethodKind)
    other_seed = AutopayMix(0.3, load_retry_rules(), seed=8)
    assert {c for c, k in kinds.items() if k} != {
        i.customer.customer_id for i in sim.invoices if other_seed.kind_of(i)
    }


def test_short_of_funds_customers_add_a_new_card_after_the_due_date() -> None:
    sim = load_ibm_csv(DATASET)
    mix = AutopayMix(0.3, load_retry_rules())
    with_cards = mix.with_events(sim)
    added = [e for e in with_cards.events if e.kind is EventKind.METHOD_ADDED]
    short = [i for i in sim.invoices if mix.kind_of(i) is MethodKind.INSUFFICIENT_THEN_NEW_CARD]
    assert len(added) == len(short) > 0
    assert all(
        isinstance(e.payload, PaymentMethodAdded) and e.payload.method == NEW_CARD for e in added
    )
    setup = mix.setup(short[0])
    assert setup is not None and setup.method is not None
    assert setup.method.method_id == "pm_decline_visa_51"
    assert mix.setup(next(i for i in sim.invoices if mix.kind_of(i) is None)) is None


def test_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        AutopayMix(1.5, load_retry_rules())
