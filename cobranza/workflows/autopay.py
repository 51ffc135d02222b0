"""Autopay inside an invoice's lifecycle: charge the method on file, then retry, ask or wait.

The decisions are `domain.autopay.AutopayBook`'s (over `card_retries.next_attempt`); this desk
runs the charge activity, applies the answer to the lifecycle and says what ops should see.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from cobranza.activities import names
    from cobranza.domain.autopay import (
        DUPLICATE_METHOD,
        AutopayBook,
        AutopaySetup,
        ChargeRecord,
        Move,
        Verdict,
    )
    from cobranza.domain.charges import (
        ChargeOutcome,
        ChargeRequest,
        PaymentMethodAdded,
        PaymentSettled,
    )
    from cobranza.domain.invoice import Channel, PaymentReceived, TimelineKind, local_instant
    from cobranza.domain.lifecycle import Lifecycle, PaymentOutcome
    from cobranza.domain.views import CollectionInput
    from cobranza.workflows.contact import ContactDesk

CHARGE_TIMEOUT = timedelta(seconds=60)
# Gateway faults (5xx, timeouts) are retried with the same idempotency key, so a retry never
# charges twice; a refused request (reused key with other parameters) is not retried.
CHARGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=20,
    non_retryable_error_types=["PermanentIntegrationError", "IdempotencyConflict"],
)
# The message with the payment link: there is no method on file, or the one on file was
# declined for good (a hard decline, or one only the customer can fix).
METHOD_NEEDED_TEMPLATE = "payment_method_needed"
METHOD_DECLINED_TEMPLATE = "payment_method_declined"
# A payment_method_added taken already (a redelivered webhook) changes nothing from here on.
METHOD_DEDUPE_PATCH = "autopay-method-dedupe"
# An amount no card can be charged exactly (12.345 KWD) stops autopay before any charge.
INEXACT_AMOUNT_PATCH = "autopay-inexact-amount"


class AutopayDesk:
    """Charges one invoice on autopay; the workflow calls it from its main loop and handlers."""

    def __init__(
        self,
        input: CollectionInput,
        setup: AutopaySetup,
        life: Lifecycle,
        desk: ContactDesk,
        now: Callable[[], datetime],
        event_time: Callable[[datetime], datetime],
        post_payment: Callable[[PaymentReceived], None],
    ) -> None:
        self._input = input
        self._life = life
        self._desk = desk
        self._now = now
        self._event_time = event_time
        self._post_payment = post_payment
        tz = input.invoice.customer.timezone
        state = life.state.autopay
        if state is None:
            book = AutopayBook.opened(setup, self.first_charge_at(), tz)
            life.state.autopay = book.state
        else:
            book = AutopayBook(setup, state, tz)
        self.book = book

    def first_charge_at(self) -> datetime:
        """The due instant: the due date at the policy's send time, customer's zone."""
        inv = self._input.invoice
        return local_instant(inv.due_on, self._input.policy.send_time, inv.customer.timezone)

    def due_at(self) -> datetime | None:
        """When autopay must act next: now if a message asking for a method is owed."""
        if self.book.state.ask_pending:
            return self._now()
        return self.book.due_at()

    @property
    def processing(self) -> str | None:
        return self.book.state.processing

    def summary(self) -> str:
        return self.book.describe()

    async def act(self) -> bool:
        """Do what is due: ask for a method, or charge. False when woken before a message went."""
        if self.book.state.ask_pending:
            return await self._ask_for_method()
        refused = self.book.cannot_charge(self._life.outstanding)
        # Lifecycles from before the patch charged such amounts (the gateway refused each one,
        # a soft gateway error retried): their charges must replay.
        if refused is not None and workflow.patched(INEXACT_AMOUNT_PATCH):
            self._refuse(refused)
            return True
        if self.book.state.method is None:
            self._apply(self.book.no_method(), self._now())
            return True
        due = self.book.due_at()
        assert due is not None
        # Due a moment ago (a signal woke us): the charge keeps its own instant.
        await self._charge(self._event_time(due))
        return True

    async def _charge(self, at: datetime) -> None:
        inv, life = self._input.invoice, self._life
        record = self.book.begin(at, life.outstanding.minor)
        req = ChargeRequest(
            workflow_id=inv.workflow_id,
            tenant=inv.tenant,
            invoice_id=inv.invoice_id,
            customer_id=inv.customer.customer_id,
            attempt=record.number,
            amount=life.outstanding,
            method=record.method,
        )
        try:
            outcome = await workflow.execute_activity(
                names.CHARGE_INVOICE,
                req,
                result_type=ChargeOutcome,
                start_to_close_timeout=CHARGE_TIMEOUT,
                retry_policy=CHARGE_RETRY,
                summary=self._charge_summary(record.number, req),
            )
        except ActivityError as exc:
            reason = str(exc.cause) if exc.cause is not None else str(exc)
            now = self._now()
            self._apply(self.book.unanswered(record, f"no answer: {reason}", now), now)
            return
        answered = self._event_time(at)
        self._apply(self.book.answered(record, outcome, answered), answered)

    def _refuse(self, reason: str) -> None:
        """Autopay stops with no charge and no message; the reminders carry the payment link."""
        life, now = self._life, self._now()
        self.book.refuse(reason)
        life.add(
            TimelineKind.CHARGE_ATTEMPT,
            now,
            event="charge_refused",
            amount=str(life.outstanding.to_decimal()),
            currency=life.currency,
            reason=reason,
        )
        workflow.set_current_details(f"autopay: {self.book.describe()}")

    def _charge_summary(self, number: int, req: ChargeRequest) -> str:
        """What the Web UI shows on the activity: which charge, and how the last one ended."""
        method = req.method
        on = f"{method.network.value} {method.method_id}" if method else "default method"
        head = f"charge {number}: {req.amount} on {on}"
        prev = self.book.state.charges[-2] if len(self.book.state.charges) > 1 else None
        if prev is not None and prev.category is not None:
            head += f" (after charge {prev.number}: {_codes(prev)}, {prev.category.value})"
        return head

    def _apply(self, verdict: Verdict, now: datetime) -> None:
        life = self._life
        life.record_charge(verdict, now)
        charge = verdict.charge
        if verdict.move is Move.CLOSE:
            assert charge is not None and charge.payment_id is not None
            payment = PaymentReceived(
                payment_id=charge.payment_id,
                amount=life.money(charge.amount_minor),
                received_at=now,
                method=charge.method.kind,
                reference=f"autopay charge {charge.number}",
            )
            outcome = life.apply_payment(payment, now)
            if outcome not in (PaymentOutcome.DUPLICATE, PaymentOutcome.IGNORED_CLOSED):
                self._post_payment(payment)
        elif verdict.move is Move.WAIT_FOR_SETTLEMENT:
            assert charge is not None and charge.payment_id is not None
            life.start_processing(now, charge.payment_id)
        workflow.set_current_details(f"autopay: {self.book.describe()}")

    async def _ask_for_method(self) -> bool:
        """The message with the payment link asking for a (new) method; the invoice stays in
        dunning meanwhile."""
        key = f"autopay-method-{self.book.state.asks_sent + 1}"
        # Asked after a charge: the method was declined for good (and is no longer on file).
        declined = self.book.state.charges_made > 0
        template = METHOD_DECLINED_TEMPLATE if declined else METHOD_NEEDED_TEMPLATE
        if not await self._desk.deliver(Channel.EMAIL, template, key):
            return False
        self.book.state.ask_pending = False
        self.book.state.asks_sent += 1
        return True

    # ---- events from the gateway ---------------------------------------------------------

    def settled(self, event: PaymentSettled) -> bool:
        """A processing charge settled; True when it changed something (wake the loop)."""
        life = self._life
        if life.is_closed:
            return False
        now = self._event_time(event.settled_at)
        verdict = self.book.settled(event, now)
        if verdict.move is Move.IGNORE:
            life.add(
                TimelineKind.CHARGE_ATTEMPT,
                now,
                event="ignored",
                payment_id=event.payment_id,
                reason=verdict.reason,
            )
            return False
        if verdict.move is not Move.CLOSE:
            life.end_processing(now, f"charge {event.payment_id} failed: {verdict.reason}")
        self._apply(verdict, now)
        return True

    def method_added(self, event: PaymentMethodAdded) -> bool:
        life = self._life
        if life.is_closed:
            return False
        now = self._event_time(event.added_at)
        refused: str | None
        # A lifecycle that charged on a repeated event before the patch must replay that charge.
        if self.book.repeated(event) and workflow.patched(METHOD_DEDUPE_PATCH):
            refused = DUPLICATE_METHOD
        else:
            refused = self.book.method_added(event, now, self.first_charge_at())
        if refused is None:
            what = "method_added"
        else:
            what = "method_duplicate" if refused == DUPLICATE_METHOD else "method_refused"
        life.add(
            TimelineKind.CHARGE_ATTEMPT,
            now,
            event=what,
            method=event.method.method_id,
            network=event.method.network.value,
            **({"reason": refused} if refused else {}),
        )
        return refused is None


def _codes(charge: ChargeRecord) -> str:
    decline = charge.decline
    if decline is None:
        return charge.status.value if charge.status else "no answer"
    codes = [decline.code, decline.network_code, decline.advice_code]
    return "/".join(c for c in codes if c) or "declined"
