"""The gateway emulator's memory: test tokens and what they do, methods, charges, held answers."""

from __future__ import annotations

import hashlib
import hmac
import threading
import weakref
from typing import Any, Literal

from pydantic import BaseModel, Field

from cobranza.integrations.sandbox.state import SandboxState

SANDBOX_API_KEY = "sk_test_cobranza_sandbox"
SANDBOX_WEBHOOK_SECRET = "whsec_cobranza_sandbox"
SIGNATURE_HEADER = "Stripe-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
DEFAULT_HOLD_S = 30.0

# Stripe decline code behind a Visa response code, and the other way round.
_VISA_TO_DECLINE = {
    "04": "pickup_card",
    "05": "do_not_honor",
    "14": "incorrect_number",
    "41": "lost_card",
    "43": "stolen_card",
    "46": "invalid_account",
    "51": "insufficient_funds",
    "54": "expired_card",
    "57": "transaction_not_allowed",
    "61": "card_velocity_exceeded",
    "91": "issuer_not_available",
    "N7": "incorrect_cvc",
    "R0": "stop_payment_order",
    "R1": "revocation_of_authorization",
}
_DECLINE_TO_VISA = {code: visa for visa, code in _VISA_TO_DECLINE.items()}
_MC_ADVICE_TO_DECLINE = {
    "01": "new_account_information_available",
    "02": "try_again_later",
    "03": "do_not_honor",
    "21": "revocation_of_authorization",
}
_BRANDS = {"visa": "4242", "mastercard": "4444", "amex": "8431"}


Outcome = Literal["succeeded", "declined", "processing", "timeout"]


class TokenBehaviour(BaseModel):
    """What a test token does when charged."""

    outcome: Outcome
    brand: str = "visa"
    kind: Literal["card", "us_bank_account"] = "card"
    decline_code: str | None = None
    network_decline_code: str | None = None
    network_advice_code: str | None = None


def token_behaviour(token: str) -> TokenBehaviour | None:
    """The behaviour of a test token, or None when the token is not one."""
    if token.startswith("pm_card_") and token.removeprefix("pm_card_") in _BRANDS:
        return TokenBehaviour(outcome="succeeded", brand=token.removeprefix("pm_card_"))
    if token == "pm_processing":
        return TokenBehaviour(outcome="processing", brand="bank", kind="us_bank_account")
    if token == "pm_timeout":
        return TokenBehaviour(outcome="timeout")
    if token.startswith("pm_decline_visa_"):
        code = token.removeprefix("pm_decline_visa_").upper()
        return TokenBehaviour(
            outcome="declined",
            decline_code=_VISA_TO_DECLINE.get(code, "generic_decline"),
            network_decline_code=code,
        )
    if token.startswith("pm_decline_mc_advice_"):
        advice = token.removeprefix("pm_decline_mc_advice_")
        return TokenBehaviour(
            outcome="declined",
            brand="mastercard",
            decline_code=_MC_ADVICE_TO_DECLINE.get(advice, "try_again_later"),
            network_advice_code=advice,
        )
    if token.startswith("pm_decline_") and len(token) > len("pm_decline_"):
        code = token.removeprefix("pm_decline_")
        return TokenBehaviour(
            outcome="declined", decline_code=code, network_decline_code=_DECLINE_TO_VISA.get(code)
        )
    return None


class PaymentMethodRecord(BaseModel):
    id: str
    token: str
    customer: str | None
    behaviour: TokenBehaviour
    fingerprint: str
    created: int

    def to_stripe(self) -> dict[str, Any]:
        b = self.behaviour
        detail: dict[str, Any] = {"fingerprint": self.fingerprint, "last4": self._last4()}
        if b.kind == "card":
            detail |= {"brand": b.brand, "exp_month": 12, "exp_year": 2034, "funding": "credit"}
        else:
            detail |= {"bank_name": "SANDBOX BANK", "account_type": "checking"}
        return {
            "id": self.id,
            "object": "payment_method",
            "type": b.kind,
            "customer": self.customer,
            "created": self.created,
            "livemode": False,
            b.kind: detail,
        }

    def _last4(self) -> str:
        return _BRANDS.get(self.behaviour.brand, self.fingerprint[-4:])


class ChargeRecord(BaseModel):
    """One charge the gateway made: every confirmation of an intent makes exactly one."""

    id: str
    payment_intent: str
    amount: int
    currency: str
    customer: str | None
    payment_method: str
    status: Literal["succeeded", "failed", "pending"]
    idempotency_key: str | None
    created: int


class WebhookDelivery(BaseModel):
    event_id: str
    type: str
    payment_intent: str
    url: str
    status_code: int | None = None
    error: str | None = None


class WebhookEndpoint(BaseModel):
    url: str = Field(min_length=1)
    secret: str = Field(default=SANDBOX_WEBHOOK_SECRET, min_length=1)


class GatewayBook:
    """The emulator's memory: methods, intents, charges, webhooks and held answers."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.methods: dict[str, PaymentMethodRecord] = {}
            self.intents: dict[str, dict[str, Any]] = {}
            self.charge_list: list[ChargeRecord] = []
            self.deliveries: list[WebhookDelivery] = []
            self.endpoint: WebhookEndpoint | None = None
            self._holds_left = 0
            self._hold_s = DEFAULT_HOLD_S
            self._release_generation = getattr(self, "_release_generation", 0) + 1
            self._lock.notify_all()

    # -- read-outs for tests --------------------------------------------------------------

    def charges(self, idempotency_key: str | None = None) -> list[ChargeRecord]:
        with self._lock:
            return [
                c
                for c in self.charge_list
                if idempotency_key is None or c.idempotency_key == idempotency_key
            ]

    def wait_for_charges(self, count: int, timeout: float = 10.0) -> list[ChargeRecord]:
        """Block until at least `count` charges were made; TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.charge_list) >= count, timeout):
                raise TimeoutError(f"{len(self.charge_list)} charges after {timeout}s, not {count}")
            return list(self.charge_list)

    # -- holding answers ------------------------------------------------------------------

    def hold(self, count: int, seconds: float = DEFAULT_HOLD_S) -> None:
        """Hold the answer of the next `count` new charges until `release()` (or `seconds`)."""
        with self._lock:
            self._holds_left, self._hold_s = count, seconds

    def release(self) -> None:
        with self._lock:
            self._holds_left = 0
            self._release_generation += 1
            self._lock.notify_all()

    def take_hold(self, forced: bool) -> tuple[int, float] | None:
        with self._lock:
            if forced:
                return self._release_generation, DEFAULT_HOLD_S
            if self._holds_left > 0:
                self._holds_left -= 1
                return self._release_generation, self._hold_s
            return None

    def wait_released(self, generation: int, seconds: float) -> None:
        with self._lock:
            self._lock.wait_for(lambda: self._release_generation != generation, seconds)

    # -- records ---------------------------------------------------------------------------

    def set_charge_status(self, charge_id: str, status: Literal["succeeded", "failed"]) -> None:
        with self._lock:
            for i, charge in enumerate(self.charge_list):
                if charge.id == charge_id:
                    self.charge_list[i] = charge.model_copy(update={"status": status})

    def add_charge(self, charge: ChargeRecord) -> None:
        with self._lock:
            self.charge_list.append(charge)
            self._lock.notify_all()


_books: weakref.WeakKeyDictionary[SandboxState, GatewayBook] = weakref.WeakKeyDictionary()
_books_lock = threading.Lock()


def gateway_book(state: SandboxState) -> GatewayBook:
    """The gateway emulator's memory inside a sandbox (one per `SandboxState`)."""
    with _books_lock:
        book = _books.get(state)
        if book is None:
            book = _books[state] = GatewayBook()
        return book


def sign_payload(secret: str, payload: str, timestamp: int) -> str:
    """Stripe's signature header: `t=<unix time>,v1=<hex HMAC-SHA256 of "t.payload">`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def lookup_method(book: GatewayBook, method_id: str) -> PaymentMethodRecord | None:
    """An attached method, or a test token used directly (as Stripe's test mode allows)."""
    record = book.methods.get(method_id)
    if record is not None:
        return record
    behaviour = token_behaviour(method_id)
    if behaviour is None:
        return None
    return PaymentMethodRecord(
        id=method_id,
        token=method_id,
        customer=None,
        behaviour=behaviour,
        fingerprint=fingerprint(method_id),
        created=0,
    )


def fingerprint(token: str) -> str:
    """Stable per test card, like Stripe's per card number."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]
