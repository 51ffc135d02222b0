"""Money in on an invoice: a payment received or failed, an autopay charge settled, a method."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from cobranza.domain.charges import PaymentMethodAdded, PaymentSettled
    from cobranza.domain.declines import Decline
    from cobranza.domain.invoice import PaymentFailed, PaymentReceived, TimelineKind
    from cobranza.domain.lifecycle import Lifecycle, PaymentOutcome
    from cobranza.domain.views import CollectionInput
    from cobranza.workflows.autopay import AutopayDesk
    from cobranza.workflows.invoice_effects import ErpNote


class PaymentSignals:
    """The signals that bring news of money; InvoiceCollectionWorkflow supplies the state."""

    _input: CollectionInput
    _life: Lifecycle
    _erp_queue: list[ErpNote]

    # Declared for the type checker only: at run time a stub could shadow the real method
    # that a later base of InvoiceCollectionWorkflow supplies (SupportActions._task, say).
    if TYPE_CHECKING:

        def _now(self) -> datetime: ...

        def _event_time(self, happened_at: datetime) -> datetime: ...

        def _pay(self) -> AutopayDesk | None: ...

        def _wake(self) -> None: ...

    @workflow.signal
    def payment_received(self, payment: PaymentReceived) -> None:
        """Money arrived (webhook, bank file, simulation); a repeated payment id changes nothing."""
        if payment.amount.currency != self._life.currency:
            self._life.add(
                TimelineKind.PAYMENT,
                self._now(),
                event="rejected",
                payment_id=payment.payment_id,
                reason=f"payment in {payment.amount.currency}, invoice in {self._life.currency}",
            )
            return
        outcome = self._life.apply_payment(payment, self._event_time(payment.received_at))
        if outcome in (PaymentOutcome.DUPLICATE, PaymentOutcome.IGNORED_CLOSED):
            return
        self._erp_queue.append(ErpNote.of_payment(payment))
        self._wake()

    @workflow.signal
    def payment_failed(self, failure: PaymentFailed) -> None:
        """A failed attempt; stale once the invoice is paid, when it changes nothing (L-07).

        The gateway's "payment failed" for a charge that is processing settles it (L-05).
        """
        pay = self._pay() if self._input.autopay is not None else None
        if pay is not None and pay.processing == failure.attempt_id:
            settled = PaymentSettled(
                payment_id=failure.attempt_id,
                succeeded=False,
                settled_at=failure.failed_at,
                decline=Decline(code=failure.reason or None),
            )
            if pay.settled(settled):
                self._wake()
            return
        if not self._life.is_closed:
            self._life.add(
                TimelineKind.CHARGE_ATTEMPT,
                self._event_time(failure.failed_at),
                attempt_id=failure.attempt_id,
                result="failed",
                reason=failure.reason,
            )

    @workflow.signal
    def payment_settled(self, event: PaymentSettled) -> None:
        """A processing charge settled: closes on success, resumes dunning with the decline."""
        pay = self._pay()
        if pay is None:
            self._life.add(
                TimelineKind.CHARGE_ATTEMPT,
                self._now(),
                event="ignored",
                payment_id=event.payment_id,
                reason="invoice is not on autopay",
            )
            return
        if pay.settled(event):
            self._wake()

    @workflow.signal
    def payment_method_added(self, event: PaymentMethodAdded) -> None:
        """The customer put a method on file: charge at once (L-06)."""
        pay = self._pay()
        if pay is None:
            self._life.add(
                TimelineKind.CHARGE_ATTEMPT,
                self._now(),
                event="method_refused",
                method=event.method.method_id,
                reason="invoice is not on autopay",
            )
            return
        if pay.method_added(event):
            self._wake()
