"""Typed domain exceptions; each message names the field and the accepted values."""

from __future__ import annotations

from datetime import date


class DomainError(ValueError):
    """Base of every rule the domain refuses."""


class UnknownCurrency(DomainError):
    def __init__(self, code: str) -> None:
        super().__init__(
            f"unknown currency {code!r}: expected an ISO 4217 code such as USD, MXN, JPY"
        )
        self.code = code


class WithdrawnCurrency(UnknownCurrency):
    def __init__(self, code: str, last_used: date) -> None:
        DomainError.__init__(
            self,
            f"currency {code!r} was withdrawn from ISO 4217 (last in use {last_used}): "
            "expected a current code such as EUR, USD, MXN",
        )
        self.code = code
        self.last_used = last_used


class AmountPrecisionError(DomainError):
    def __init__(self, amount: str, currency: str, exponent: int) -> None:
        super().__init__(
            f"amount {amount} has more decimals than {currency} allows "
            f"(ISO 4217 exponent {exponent})"
        )


class CurrencyMismatch(DomainError):
    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"cannot combine amounts in {left} and {right}")


class OpenItemListedTwice(DomainError):
    """One invoice's lifecycle was given to matching twice: it would be paid as two invoices."""

    def __init__(self, workflow_id: str, invoice_id: str) -> None:
        super().__init__(
            f"open items: invoice {invoice_id!r} (workflow {workflow_id!r}) is listed twice"
        )
        self.workflow_id = workflow_id
        self.invoice_id = invoice_id
