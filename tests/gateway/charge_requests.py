"""Builds charge requests for the gateway tests."""

from __future__ import annotations

from cobranza.domain.charges import ChargeRequest, PaymentMethod
from cobranza.domain.money import Money


def charge_request(
    token: str | None = "pm_card_visa",
    *,
    attempt: int = 1,
    minor: int = 125_000,
    currency: str = "MXN",
    invoice_id: str = "F-100",
    customer_id: str = "C-7",
) -> ChargeRequest:
    method = None if token is None else PaymentMethod(method_id=token, fingerprint=f"fp-{token}")
    return ChargeRequest(
        workflow_id=f"invoice-t1-{invoice_id}",
        tenant="t1",
        invoice_id=invoice_id,
        customer_id=customer_id,
        attempt=attempt,
        amount=Money(minor=minor, currency=currency),
        method=method,
    )
