"""Scenario events for the gateway's failure reports (L-07)."""

from __future__ import annotations

from pathlib import Path

from cobranza.domain.invoice import PaymentFailed
from cobranza.starter.scenario import load_scenario


def test_a_payment_failed_event_carries_its_attempt_and_time(tmp_path: Path) -> None:
    path = tmp_path / "failed.yaml"
    path.write_text(
        """name: failed
customers:
  - {customer_id: C1, country: MX, timezone: America/Mexico_City, email: c1@customers.example.com}
invoices:
  - {invoice_id: INV-1, customer: C1, amount: "10.00", currency: MXN,
     issued_on: 2026-03-11, due_on: 2026-04-10}
events:
  - {at: "2026-04-09T12:00:00-06:00", invoice: INV-1, kind: payment_failed,
     attempt_id: A1, reason: card_declined}
"""
    )
    sim = load_scenario(path)
    assert not sim.errors, sim.errors
    (event,) = sim.events
    assert isinstance(event.payload, PaymentFailed)
    assert event.payload.attempt_id == "A1" and event.payload.failed_at == event.at
