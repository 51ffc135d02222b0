"""Stripe events to GatewayEvents: one handler per event type in a table others can extend.

To act on a new event type, write `def _my_event(event, obj) -> GatewayEvent` and add it to
STRIPE_HANDLERS. An event type not in the table is acknowledged and ignored, as Stripe
recommends; payment_intent.processing is one on purpose: the charge activity already told the
workflow the charge is processing (L-05), so the webhook adds nothing.

A payment intent our own charge activity created (its metadata carries `attempt`, see
cobranza/integrations/gateway.py) settles the workflow's autopay charge (payment_settled with
the intent's own id, as the workflow holds it); any other intent is money in or a failed
attempt as before. payment_method.attached names a customer, not an invoice: the ingress signals
payment_method_added to that customer's open autopay invoices (L-06). `metadata.customer_id`
names whose money it is, for the exceptions queue to hold when the invoice is unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cobranza.api.events import EventAction, GatewayEvent, InvoiceRef
from cobranza.domain.charges import PaymentMethod
from cobranza.domain.declines import Decline
from cobranza.domain.money import Money, currency_exponent, normalise_currency
from cobranza.integrations.gateway import _decline as gateway_decline
from cobranza.integrations.gateway import _method as gateway_method

PROVIDER = "stripe"
StripeObject = dict[str, Any]
Handler = Callable[[StripeObject, StripeObject], GatewayEvent]

# Stripe's own minor units where they differ from ISO 4217 (stripe.com/docs/currencies):
# these are zero-decimal at Stripe; ISK is sent with two decimals that must be zero.
STRIPE_ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
STRIPE_EXPONENT_OVERRIDES = {"ISK": 2}


class StripeEventError(ValueError):
    """A Stripe event that is signed but cannot be read: names the field and the reason."""


def stripe_money(amount: object, currency: object, field: str) -> Money:
    """Money from a Stripe amount in Stripe's minor units of a currency."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise StripeEventError(f"{field}: expected an integer amount, got {amount!r}")
    if not isinstance(currency, str):
        raise StripeEventError(f"currency: expected a currency code, got {currency!r}")
    try:
        code = normalise_currency(currency)
    except ValueError as exc:
        raise StripeEventError(f"currency: {exc}") from None
    iso = currency_exponent(code)
    theirs = 0 if code in STRIPE_ZERO_DECIMAL else STRIPE_EXPONENT_OVERRIDES.get(code, iso)
    if theirs <= iso:
        return Money(minor=amount * 10 ** (iso - theirs), currency=code)
    factor = 10 ** (theirs - iso)
    if amount % factor:
        raise StripeEventError(f"{field}: {amount} {code} is not a whole {code} amount")
    return Money(minor=amount // factor, currency=code)


def parse_stripe_event(event: StripeObject) -> GatewayEvent:
    """The GatewayEvent of a verified Stripe event body."""
    event_type = event.get("type")
    event_id = event.get("id")
    if not isinstance(event_type, str) or not isinstance(event_id, str) or not event_id:
        raise StripeEventError("id and type: a Stripe event has both as strings")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise StripeEventError(f"{event_id}: data.object is missing")
    handler = STRIPE_HANDLERS.get(event_type, _ignored)
    return handler(event, obj)


def _base(event: StripeObject, obj: StripeObject, action: EventAction) -> dict[str, Any]:
    created = event.get("created")
    if not isinstance(created, int):
        raise StripeEventError(f"{event['id']}: created must be a Unix timestamp")
    return {
        "provider": PROVIDER,
        "event_id": event["id"],
        "event_type": event["type"],
        "action": action,
        "invoice": _invoice_ref(obj),
        "customer_id": _payer(obj),
        "happened_at": datetime.fromtimestamp(created, UTC),
        "refs": _refs(obj),
    }


def _invoice_ref(obj: StripeObject) -> InvoiceRef:
    meta = obj.get("metadata") or {}
    if not isinstance(meta, dict):
        raise StripeEventError("metadata: expected an object")
    return InvoiceRef(
        workflow_id=meta.get("workflow_id") or None,
        tenant=meta.get("tenant") or None,
        invoice_id=meta.get("invoice_id") or None,
    )


def _payer(obj: StripeObject) -> str | None:
    """Our customer id when the metadata names it: whose money, if its invoice is unknown."""
    value = (obj.get("metadata") or {}).get("customer_id")
    return value if isinstance(value, str) and value else None


def _id_of(value: object) -> str | None:
    """A reference field is an id, or the object itself when Stripe expanded it."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _refs(obj: StripeObject) -> list[str]:
    found = [obj.get("id")]
    for name in ("payment_intent", "charge", "latest_charge", "invoice"):
        found.append(_id_of(obj.get(name)))
    charges = obj.get("charges")
    if isinstance(charges, dict):
        found.extend(_id_of(c) for c in charges.get("data") or [])
    return [ref for ref in dict.fromkeys(found) if isinstance(ref, str) and ref]


def _payment_id(obj: StripeObject) -> str:
    """One id per payment across its sibling events: the payment intent's, else the charge's."""
    own = obj.get("id")
    kind = obj.get("object")
    intent = own if kind == "payment_intent" else _id_of(obj.get("payment_intent"))
    charge = own if kind == "charge" else _id_of(obj.get("charge"))
    chosen = intent or charge or own
    if not isinstance(chosen, str) or not chosen:
        raise StripeEventError("data.object.id is missing")
    return f"{PROVIDER}:{chosen}"


def _our_charge(obj: StripeObject) -> bool:
    """A payment intent the charge activity created: its metadata names the attempt."""
    meta = obj.get("metadata")
    return obj.get("object") == "payment_intent" and isinstance(meta, dict) and "attempt" in meta


def _payment_intent_succeeded(event: StripeObject, obj: StripeObject) -> GatewayEvent:
    amount = obj.get("amount_received", obj.get("amount"))
    if _our_charge(obj):
        return GatewayEvent(
            **_base(event, obj, EventAction.PAYMENT_SETTLED),
            payment_id=_payment_id(obj),
            amount=stripe_money(amount, obj.get("currency"), "data.object.amount_received"),
            succeeded=True,
        )
    return GatewayEvent(
        **_base(event, obj, EventAction.PAYMENT_RECEIVED),
        payment_id=_payment_id(obj),
        amount=stripe_money(amount, obj.get("currency"), "data.object.amount_received"),
    )


def _charge_succeeded(event: StripeObject, obj: StripeObject) -> GatewayEvent:
    amount = obj.get("amount_captured") or obj.get("amount")
    return GatewayEvent(
        **_base(event, obj, EventAction.PAYMENT_RECEIVED),
        payment_id=_payment_id(obj),
        amount=stripe_money(amount, obj.get("currency"), "data.object.amount_captured"),
    )


def _invoice_paid(event: StripeObject, obj: StripeObject) -> GatewayEvent:
    return GatewayEvent(
        **_base(event, obj, EventAction.PAYMENT_RECEIVED),
        payment_id=_payment_id(obj),
        amount=stripe_money(obj.get("amount_paid"), obj.get("currency"), "data.object.amount_paid"),
    )


def _failed(event: StripeObject, obj: StripeObject) -> GatewayEvent:
    if _our_charge(obj):
        return GatewayEvent(
            **_base(event, obj, EventAction.PAYMENT_SETTLED),
            payment_id=_payment_id(obj),
            amount=_attempted(obj),
            reason=_failure_reason(obj),
            succeeded=False,
            decline=_settled_decline(obj),
        )
    return GatewayEvent(
        **_base(event, obj, EventAction.PAYMENT_FAILED),
        payment_id=_payment_id(obj),
        amount=_attempted(obj),
        reason=_failure_reason(obj),
    )


def _attempted(obj: StripeObject) -> Money | None:
    """What a failed attempt tried to collect: an invoice's amount due, else the amount."""
    name = "amount_due" if obj.get("object") == "invoice" else "amount"
    if obj.get(name) is None:
        return None
    return stripe_money(obj.get(name), obj.get("currency"), f"data.object.{name}")


def _failure_reason(obj: StripeObject) -> str:
    error = obj.get("last_payment_error")
    if isinstance(error, dict):
        code = error.get("decline_code") or error.get("code") or ""
        return f"{code}: {error.get('message') or ''}".strip(": ")
    code = obj.get("failure_code") or ""
    message = obj.get("failure_message") or ""
    if code or message:
        return f"{code}: {message}".strip(": ")
    return f"{obj.get('object', 'payment')} failed"


def _settled_decline(obj: StripeObject) -> Decline:
    """The decline of a failed intent, read as the gateway adapter reads a declined charge."""
    error = obj.get("last_payment_error")
    error = error if isinstance(error, dict) else {}
    expanded = error.get("payment_method") or obj.get("payment_method")
    if isinstance(expanded, dict):
        method = _attached_method(expanded)
    else:
        method_id = _id_of(expanded) or str(obj.get("id"))
        method = PaymentMethod(method_id=method_id, fingerprint=method_id)
    return gateway_decline(error, method)


def _attached_method(obj: StripeObject) -> PaymentMethod:
    try:
        return gateway_method(obj)
    except (KeyError, ValueError) as exc:
        raise StripeEventError(f"data.object: not a readable payment method ({exc})") from None


def _payment_method_attached(event: StripeObject, obj: StripeObject) -> GatewayEvent:
    customer = _id_of(obj.get("customer"))
    if not customer:
        raise StripeEventError(f"{event['id']}: data.object.customer is missing")
    return GatewayEvent(
        **(_base(event, obj, EventAction.METHOD_ADDED) | {"customer_id": customer}),
        payment_method=_attached_method(obj),
        method=str(obj.get("type") or "card"),
    )


def _dispute_created(event: StripeObject, obj: StripeObject) -> GatewayEvent:
    reason = obj.get("reason") or "unspecified"
    amount = stripe_money(obj.get("amount"), obj.get("currency"), "data.object.amount")
    return GatewayEvent(
        **_base(event, obj, EventAction.DISPUTE),
        payment_id=_payment_id(obj),
        amount=amount,
        reason=f"card dispute {obj.get('id')} ({reason}) for {amount}",
    )


def _charge_refunded(event: StripeObject, obj: StripeObject) -> GatewayEvent:
    amount = stripe_money(obj.get("amount_refunded"), obj.get("currency"), "amount_refunded")
    return GatewayEvent(
        **_base(event, obj, EventAction.REFUND),
        payment_id=_payment_id(obj),
        amount=amount,
        reason=f"charge {obj.get('id')} refunded {amount}",
    )


def _ignored(event: StripeObject, obj: StripeObject) -> GatewayEvent:
    return GatewayEvent(**_base(event, obj, EventAction.IGNORE))


STRIPE_HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": _payment_intent_succeeded,
    "charge.succeeded": _charge_succeeded,
    "invoice.paid": _invoice_paid,
    "payment_intent.payment_failed": _failed,
    "charge.failed": _failed,
    "invoice.payment_failed": _failed,
    "charge.dispute.created": _dispute_created,
    "charge.refunded": _charge_refunded,
    "payment_method.attached": _payment_method_attached,
}
