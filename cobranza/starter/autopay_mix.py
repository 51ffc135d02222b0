"""Which customers of a replayed dataset are on autopay, and with what kind of method.

The choice is a hash of a seed and the customer, so it is stable across runs, orderings and
`--limit`: the same customers are on autopay every time, with the same test method. Methods are
the sandbox gateway's test tokens; the mix covers the answers that matter for collections.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from cobranza.domain.autopay import AutopaySetup
from cobranza.domain.charges import PaymentMethod, PaymentMethodAdded
from cobranza.domain.declines import CardNetwork, RetryRules
from cobranza.domain.invoice import Invoice, local_instant
from cobranza.starter.simulation_input import EventKind, ScheduledEvent, SimulationInput

DEFAULT_SEED = 7
# A customer whose card is short of funds adds a working card this long after the due date.
NEW_CARD_AFTER = timedelta(days=4, hours=2)


class MethodKind(StrEnum):
    SUCCEEDS = "succeeds"
    INSUFFICIENT_THEN_NEW_CARD = "insufficient_funds_then_new_card"
    HARD_DECLINE = "hard_decline"
    PROCESSING = "processing"


# Share of autopay customers per kind, in this order (the seeded draw picks a slot).
MIX: tuple[tuple[MethodKind, int], ...] = (
    (MethodKind.SUCCEEDS, 50),
    (MethodKind.INSUFFICIENT_THEN_NEW_CARD, 25),
    (MethodKind.HARD_DECLINE, 15),
    (MethodKind.PROCESSING, 10),
)
TOKENS = {
    MethodKind.SUCCEEDS: ("pm_card_visa", CardNetwork.VISA, "card"),
    MethodKind.INSUFFICIENT_THEN_NEW_CARD: ("pm_decline_visa_51", CardNetwork.VISA, "card"),
    MethodKind.HARD_DECLINE: ("pm_decline_visa_46", CardNetwork.VISA, "card"),
    MethodKind.PROCESSING: ("pm_processing", CardNetwork.OTHER, "us_bank_account"),
}
NEW_CARD = PaymentMethod(
    method_id="pm_card_mastercard", fingerprint="sim-new-mastercard", network=CardNetwork.MASTERCARD
)


def _draw(seed: int, what: str, customer: str) -> float:
    digest = hashlib.sha256(f"{seed}:{what}:{customer}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class AutopayMix:
    """A seeded choice of autopay customers and their methods for one dataset replay."""

    share: float
    rules: RetryRules
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"--autopay-share must be between 0 and 1, got {self.share}")

    def kind_of(self, invoice: Invoice) -> MethodKind | None:
        customer = f"{invoice.tenant}/{invoice.customer.customer_id}"
        if _draw(self.seed, "autopay", customer) >= self.share:
            return None
        slot = _draw(self.seed, "method", customer) * sum(w for _, w in MIX)
        for kind, weight in MIX:
            if slot < weight:
                return kind
            slot -= weight
        return MIX[-1][0]

    def setup(self, invoice: Invoice) -> AutopaySetup | None:
        kind = self.kind_of(invoice)
        if kind is None:
            return None
        token, network, method_kind = TOKENS[kind]
        fingerprint = f"sim-{invoice.customer.customer_id}-{kind.value}"
        method = PaymentMethod(
            method_id=token, fingerprint=fingerprint, network=network, kind=method_kind
        )
        return AutopaySetup(method=method, rules=self.rules)

    def chooser(self) -> Callable[[Invoice], AutopaySetup | None]:
        return self.setup

    def with_events(self, sim: SimulationInput) -> SimulationInput:
        """The dataset plus the new card each short-of-funds customer adds after the due date."""
        added = []
        for invoice in sim.invoices:
            if self.kind_of(invoice) is not MethodKind.INSUFFICIENT_THEN_NEW_CARD:
                continue
            due = local_instant(invoice.due_on, time(10), invoice.customer.timezone)
            at: datetime = due + NEW_CARD_AFTER
            added.append(
                ScheduledEvent(
                    at=at,
                    invoice_id=invoice.invoice_id,
                    kind=EventKind.METHOD_ADDED,
                    payload=PaymentMethodAdded(method=NEW_CARD, added_at=at),
                    source=f"--autopay-share {self.share}: new card (seed {self.seed})",
                )
            )
        return sim.model_copy(update={"events": sorted([*sim.events, *added], key=lambda e: e.at)})
