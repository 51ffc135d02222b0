"""Autopay of one invoice: the method on file, every charge made, and what follows each answer.

Pure and free of Temporal: the collection workflow asks `AutopayBook` when to charge, tells it
each gateway answer, and does what the returned `Verdict` says. The retry rules themselves are
`card_retries.next_attempt`; this book feeds it the invoice's whole charge history, so network
limits and the global maximum hold across cards, retries and methods added later.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cobranza.domain.card_retries import Attempt, AttemptResult, StopAction, next_attempt
from cobranza.domain.charges import (
    ChargeOutcome,
    ChargeStatus,
    PaymentMethod,
    PaymentMethodAdded,
    PaymentSettled,
)
from cobranza.domain.declines import Decline, DeclineCategory, RetryRules, classify
from cobranza.domain.money import Money, chargeable_exactly, inexact_charge_reason

# How many method_added events an invoice remembers to know a redelivery: far more than any
# invoice gets, and a bound on what continue-as-new carries.
METHODS_REMEMBERED = 32

# Stands for a charge that never got an answer (the activity failed for good): the gateway may
# not have seen it, which is what a gateway error means in the decline file.
NO_ANSWER_CODE = "processing_error"


class AutopaySetup(BaseModel):
    """Whether an invoice is on autopay, the method on file, and the retry rules pinned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: PaymentMethod | None = Field(
        default=None, description="the method on file when the lifecycle starts; None: none"
    )
    rules: RetryRules = Field(description="decline taxonomy and retry rules, pinned at start")


class ChargeRecord(BaseModel):
    """One charge made (or found impossible), as the invoice remembers it."""

    number: int = Field(ge=1)
    at: AwareDatetime
    amount_minor: int
    method: PaymentMethod
    status: ChargeStatus | None = Field(default=None, description="None: no answer yet")
    payment_id: str | None = None
    decline: Decline | None = None
    category: DeclineCategory | None = None
    reason: str = ""
    retry_at: AwareDatetime | None = None
    by_method_added: bool = False


class AutopayState(BaseModel):
    """Everything autopay must remember; part of CollectionState, carried across continue-as-new."""

    method: PaymentMethod | None = None
    next_charge_at: AwareDatetime | None = None
    charges: list[ChargeRecord] = Field(default_factory=list)
    history: list[Attempt] = Field(default_factory=list, description="for next_attempt")
    processing: str | None = Field(default=None, description="payment id awaiting settlement")
    never_again: list[str] = Field(default_factory=list, description="card fingerprints")
    ask_pending: bool = False
    asks_sent: int = 0
    stopped: str | None = Field(default=None, description="why no charge is planned")
    next_by_method_added: bool = False
    methods_added: list[str] = Field(
        default_factory=list,
        description="the method_added events taken (method id @ instant), the latest "
        f"{METHODS_REMEMBERED}: another delivery of one of them changes nothing",
    )

    @property
    def charges_made(self) -> int:
        return len(self.charges)


# The answer to another delivery of a method_added taken already (a redelivered webhook, a
# signal sent twice), even after other methods: the charges keep their schedule.
DUPLICATE_METHOD = "duplicate: this method was added already at that instant"


def method_key(event: PaymentMethodAdded) -> str:
    """What tells one method_added from another: the method and the instant it was added."""
    return f"{event.method.method_id}@{event.added_at.isoformat()}"


class Move(StrEnum):
    """What the workflow does after an answer from the gateway."""

    CLOSE = "close"  # the money is in: record the payment
    WAIT_FOR_SETTLEMENT = "wait_for_settlement"
    RETRY = "retry"
    ASK_FOR_METHOD = "ask_for_method"
    STOP = "stop"  # no further charge unless a new method arrives; dunning goes on
    IGNORE = "ignore"  # a stale or repeated event


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    move: Move
    reason: str
    category: DeclineCategory | None = None
    retry_at: AwareDatetime | None = None
    charge: ChargeRecord | None = None


class AutopayBook:
    """Applies charges, answers, settlements and new methods to an AutopayState."""

    def __init__(self, setup: AutopaySetup, state: AutopayState, timezone: str) -> None:
        self.rules = setup.rules
        self.state = state
        self.zone = ZoneInfo(timezone)

    @classmethod
    def opened(cls, setup: AutopaySetup, first_charge_at: datetime, timezone: str) -> AutopayBook:
        """A new book: the first charge at the due instant with the method on file, if any."""
        state = AutopayState(method=setup.method, next_charge_at=first_charge_at)
        return cls(setup, state, timezone)

    # ---- reading -------------------------------------------------------------------------

    def due_at(self) -> datetime | None:
        """When autopay must act next (charge, or say there is no method); None: nothing planned."""
        s = self.state
        if s.processing is not None:
            return None
        return s.next_charge_at

    def cannot_charge(self, amount: Money) -> str | None:
        """Why no card can be charged `amount` (12.345 KWD: gateways take tens of fils), or None.

        No retry, card or network fixes that, so it is no decline: asked before every charge.
        """
        return None if chargeable_exactly(amount) else inexact_charge_reason(amount)

    def last(self) -> ChargeRecord | None:
        return self.state.charges[-1] if self.state.charges else None

    def describe(self) -> str:
        """One line for ops: the latest charge, what came of it and what is next."""
        s, last = self.state, self.last()
        if s.processing is not None and last is not None:
            return f"charge {last.number} processing ({s.processing}): waiting for it to settle"
        head = ""
        if last is not None:
            code = _code(last.decline) if last.decline else (last.status or "no answer")
            head = f"charge {last.number}: {code}"
        if s.next_charge_at is not None:
            nxt = f"retry on {s.next_charge_at:%Y-%m-%d %H:%M %Z}" if last else "first charge"
            return f"{head}, {nxt}" if head else f"{nxt} at {s.next_charge_at:%Y-%m-%d %H:%M %Z}"
        tail = s.stopped or ("no payment method on file" if s.method is None else "no charge")
        return f"{head}, {tail}" if head else tail

    # ---- writing -------------------------------------------------------------------------

    def no_method(self) -> Verdict:
        """Due to charge with nothing on file: ask for a method, record no decline (L-06)."""
        s = self.state
        s.next_charge_at = None
        s.next_by_method_added = False
        s.ask_pending = True
        s.stopped = "no payment method on file"
        return Verdict(
            move=Move.ASK_FOR_METHOD,
            category=DeclineCategory.NO_PAYMENT_METHOD,
            reason="no payment method on file",
        )

    def refuse(self, reason: str) -> Verdict:
        """No charge now nor later (`cannot_charge`): nothing is spent of the card networks'
        retry budget, and dunning goes on. A method added plans a charge again, which is
        refused again unless a payment changed the amount meanwhile."""
        s = self.state
        s.next_charge_at = None
        s.next_by_method_added = False
        s.stopped = f"no more charges: {reason}"
        return Verdict(move=Move.STOP, reason=reason)

    def begin(self, at: datetime, amount_minor: int) -> ChargeRecord:
        """Number the next charge before it goes out: replays and restarts reuse the number."""
        s = self.state
        assert s.method is not None, "begin() needs a method on file"
        record = ChargeRecord(
            number=s.charges_made + 1,
            at=at,
            amount_minor=amount_minor,
            method=s.method,
            by_method_added=s.next_by_method_added,
        )
        s.charges.append(record)
        s.next_charge_at = None
        s.next_by_method_added = False
        return record

    def answered(self, record: ChargeRecord, outcome: ChargeOutcome, at: datetime) -> Verdict:
        """The gateway's answer to `record`; `at` is the business instant it arrived."""
        record.status = outcome.status
        record.payment_id = outcome.payment_id
        method = record.method
        if outcome.status is ChargeStatus.SUCCEEDED:
            self._attempt(record, at, AttemptResult.SUCCEEDED, None)
            return Verdict(
                move=Move.CLOSE, reason=f"charge {record.number} succeeded", charge=record
            )
        if outcome.status is ChargeStatus.PROCESSING:
            assert outcome.payment_id is not None
            self._attempt(record, at, AttemptResult.PROCESSING, None)
            self.state.processing = outcome.payment_id
            record.category = DeclineCategory.PROCESSING
            record.reason = "processing: no retry until it settles"
            return Verdict(
                move=Move.WAIT_FOR_SETTLEMENT,
                category=DeclineCategory.PROCESSING,
                reason=record.reason,
                charge=record,
            )
        if outcome.status is ChargeStatus.NO_PAYMENT_METHOD:
            # Nothing on file at the gateway after all: no decline, just ask (L-06).
            record.category = DeclineCategory.NO_PAYMENT_METHOD
            record.reason = "the gateway has no payment method on file"
            self.state.method = None
            verdict = self.no_method()
            return verdict.model_copy(update={"charge": record, "reason": record.reason})
        assert outcome.decline is not None
        return self._declined(record, _on(outcome.decline, method), at, AttemptResult.DECLINED)

    def unanswered(self, record: ChargeRecord, reason: str, at: datetime) -> Verdict:
        """The charge activity failed for good: treated as a gateway error on that card."""
        record.reason = reason
        decline = _on(Decline(code=NO_ANSWER_CODE), record.method)
        return self._declined(record, decline, at, AttemptResult.ERROR)

    def settled(self, event: PaymentSettled, at: datetime) -> Verdict:
        """A processing charge settled; anything else about it is stale (L-07)."""
        s = self.state
        record = next((c for c in s.charges if c.payment_id == event.payment_id), None)
        if record is None or s.processing != event.payment_id:
            why = "no charge of ours" if record is None else "not processing (already settled)"
            return Verdict(move=Move.IGNORE, reason=f"{event.payment_id}: {why}", charge=record)
        s.processing = None
        if event.succeeded:
            record.status = ChargeStatus.SUCCEEDED
            self._replace_attempt(record, AttemptResult.SUCCEEDED, None)
            return Verdict(move=Move.CLOSE, reason=f"charge {record.number} settled", charge=record)
        decline = _on(event.decline or Decline(code="generic_decline"), record.method)
        record.status = ChargeStatus.DECLINED
        self._history_pop(record)
        return self._declined(record, decline, at, AttemptResult.DECLINED, record.at)

    def repeated(self, event: PaymentMethodAdded) -> bool:
        """Whether `event` was taken already: its redelivery should change nothing."""
        return method_key(event) in self.state.methods_added

    def method_added(
        self, event: PaymentMethodAdded, at: datetime, first_charge_at: datetime
    ) -> str | None:
        """Put a new method on file and charge at once (never before the due instant).

        Returns why the method cannot be charged, or None when a charge is planned. A repeated
        event is taken again here: the caller asks `repeated` first (lifecycles from before
        the redelivery rule still charge on it when they replay).
        """
        s, method = self.state, event.method
        if method.fingerprint in s.never_again:
            return f"card {method.fingerprint} was declined for good earlier: never again"
        self._remember(method_key(event))
        s.method = method
        s.stopped = None
        s.ask_pending = False
        if s.processing is not None:
            return None  # charged when the processing one settles as failed
        s.next_charge_at = self._earliest_on(method, max(at, first_charge_at))
        s.next_by_method_added = True
        return None

    def _earliest_on(self, method: PaymentMethod, at: datetime) -> datetime:
        """A card put on file again keeps its network's rules: the wait a Mastercard advice
        code set, and the reattempt limits in their sliding windows."""
        on_card = [a for a in self.state.history if a.card_id == method.fingerprint]
        if not on_card:
            return at
        last = on_card[-1]
        if last.decline is not None:
            wait = classify(last.decline, self.rules).earliest_retry
            if wait is not None:
                at = max(at, last.at + wait)
        reattempts = sorted(a.at for a in on_card[1:])
        for limit in self.rules.limits_for(method.network):
            if limit.max_reattempts == 0:
                continue
            in_window = [t for t in reattempts if t > at - limit.window]
            if len(in_window) + 1 > limit.max_reattempts:
                # Wait until enough of them leave the window for one more.
                at = in_window[len(in_window) - limit.max_reattempts] + limit.window
        return at

    # ---- internals -----------------------------------------------------------------------

    def _remember(self, key: str) -> None:
        seen = [k for k in self.state.methods_added if k != key] + [key]
        self.state.methods_added = seen[-METHODS_REMEMBERED:]

    def _declined(
        self,
        record: ChargeRecord,
        decline: Decline,
        at: datetime,
        result: AttemptResult,
        attempt_at: datetime | None = None,
    ) -> Verdict:
        s = self.state
        record.decline = decline
        self.state.history.append(
            Attempt(
                at=attempt_at or at,
                card_id=record.method.fingerprint,
                network=record.method.network,
                result=result,
                decline=decline,
            )
        )
        decision = next_attempt(list(s.history), decline, self.rules, at.astimezone(self.zone))
        record.category = decision.category
        record.reason = decision.reason
        record.retry_at = decision.retry_at
        if decision.retry_at is not None:
            s.next_charge_at = decision.retry_at
            return Verdict(
                move=Move.RETRY,
                category=decision.category,
                reason=decision.reason,
                retry_at=decision.retry_at,
                charge=record,
            )
        if decision.stop is StopAction.ASK_FOR_NEW_METHOD:
            if classify(decline, self.rules).never_again_on_card:
                s.never_again.append(record.method.fingerprint)
            s.method = None
            s.ask_pending = True
            s.stopped = f"waiting for a new payment method: {decision.reason}"
            move = Move.ASK_FOR_METHOD
        else:
            s.stopped = f"no more charges: {decision.reason}"
            move = Move.STOP
        return Verdict(move=move, category=decision.category, reason=decision.reason, charge=record)

    def _attempt(
        self, record: ChargeRecord, at: datetime, result: AttemptResult, decline: Decline | None
    ) -> None:
        self.state.history.append(
            Attempt(
                at=at,
                card_id=record.method.fingerprint,
                network=record.method.network,
                result=result,
                decline=decline,
            )
        )

    def _history_pop(self, record: ChargeRecord) -> None:
        """Drop the PROCESSING attempt of `record`; its settlement replaces it."""
        h = self.state.history
        for i in range(len(h) - 1, -1, -1):
            if (
                h[i].card_id == record.method.fingerprint
                and h[i].result is AttemptResult.PROCESSING
            ):
                del h[i]
                return

    def _replace_attempt(
        self, record: ChargeRecord, result: AttemptResult, decline: Decline | None
    ) -> None:
        h = self.state.history
        for i in range(len(h) - 1, -1, -1):
            if (
                h[i].card_id == record.method.fingerprint
                and h[i].result is AttemptResult.PROCESSING
            ):
                h[i] = h[i].model_copy(update={"result": result, "decline": decline})
                return


def _on(decline: Decline, method: PaymentMethod) -> Decline:
    """The decline as seen on the charged method: gateways often leave the card out."""
    return decline.model_copy(update={"card_id": method.fingerprint, "network": method.network})


def _code(decline: Decline) -> str:
    codes = [decline.code, decline.network_code, decline.advice_code]
    return "/".join(c for c in codes if c) or "declined"
