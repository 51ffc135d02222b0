"""Where a customer can be reached on each channel: valid, normalised, consented addresses.

An address is reachable on a channel when the customer has one, it is valid (phones in E.164
through `phonenumbers`, emails through `email-validator` without DNS), a phone can take text
messages, and the customer has not opted that address out. `reachable_channels` applies this
to a policy step's channel and its fallbacks, so the workflow contacts the first one that works
and shows "no reachable channel" when none does.
"""

from __future__ import annotations

from collections.abc import Sequence

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from cobranza.domain.errors import DomainError
from cobranza.domain.invoice import Channel, Customer

# Text channels are addressed by phone number; email by mailbox.
PHONE_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP})
# A fixed line cannot receive a text; the other types can or may (US numbers are ambiguous).
_NOT_TEXTABLE = frozenset({PhoneNumberType.FIXED_LINE})


class UnreachableAddress(DomainError):
    """The customer's address for a channel is missing, invalid or opted out.

    `field` is the Customer field ("email" or "phone"), `value` what it holds (None when
    missing), `reason` why it cannot be used.
    """

    def __init__(
        self, customer_id: str, channel: Channel, field: str, value: str | None, reason: str
    ) -> None:
        shown = "missing" if value is None else repr(value)
        super().__init__(
            f"customer {customer_id} cannot be reached by {channel.value}: "
            f"{field} {shown}: {reason}"
        )
        self.customer_id = customer_id
        self.channel = channel
        self.field = field
        self.value = value
        self.reason = reason


class InvalidContactPoint(DomainError):
    """A phone number or email address that does not parse as one; names the value and why."""

    def __init__(self, field: str, value: str, reason: str) -> None:
        super().__init__(f"{field} {value!r} is not valid: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


def normalize_phone(value: str, country: str) -> str:
    """The number in E.164 (`+525512345678`); national numbers are read in `country` (ISO 3166).

    Raises `InvalidContactPoint` when the text is not a number that can exist in that plan.
    """
    region = country.upper()
    try:
        number = phonenumbers.parse(value, region)
    except NumberParseException as exc:
        raise InvalidContactPoint("phone", value, f"{exc} (read as a {region} number)") from exc
    number = _without_legacy_mexican_mobile_prefix(number)
    if not phonenumbers.is_valid_number(number):
        raise InvalidContactPoint(
            "phone",
            value,
            f"no such number in the numbering plan of "
            f"{phonenumbers.region_code_for_number(number) or region}",
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _without_legacy_mexican_mobile_prefix(
    number: phonenumbers.PhoneNumber,
) -> phonenumbers.PhoneNumber:
    # Mexico dropped the "1" after +52 for mobiles in 2020, yet customer records still carry
    # +52 1 55...; the carriers route the 10-digit form only.
    national = str(number.national_number)
    if number.country_code == 52 and len(national) == 11 and national.startswith("1"):
        return phonenumbers.PhoneNumber(country_code=52, national_number=int(national[1:]))
    return number


def is_textable(e164: str) -> bool:
    """False for a number known to be a fixed line, which cannot receive SMS or WhatsApp."""
    return phonenumbers.number_type(phonenumbers.parse(e164)) not in _NOT_TEXTABLE


def normalize_email(value: str) -> str:
    """The address with its domain in canonical form; syntax only, no DNS lookup.

    Reserved test domains (example.com, *.test) are accepted so sandboxes and tests work;
    raises `InvalidContactPoint` otherwise.
    """
    try:
        checked = validate_email(value.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise InvalidContactPoint("email", value, str(exc)) from exc
    return checked.normalized


def address_field(channel: Channel) -> str:
    """The `Customer` field that holds the address for a channel."""
    return "phone" if channel in PHONE_CHANNELS else "email"


def contact_address(customer: Customer, channel: Channel) -> str:
    """The normalised address to send to on `channel`, or `UnreachableAddress` saying why not.

    Phones come back in E.164 for both SMS and WhatsApp (the provider adapter adds its
    `whatsapp:` scheme).
    """
    field = address_field(channel)
    raw = customer.phone if field == "phone" else customer.email
    if raw is None or not raw.strip():
        raise UnreachableAddress(customer.customer_id, channel, field, None, "no address on file")
    try:
        if field == "phone":
            address = normalize_phone(raw, customer.country)
        else:
            address = normalize_email(raw)
    except InvalidContactPoint as exc:
        raise UnreachableAddress(customer.customer_id, channel, field, raw, exc.reason) from exc
    if field == "phone" and not is_textable(address):
        raise UnreachableAddress(
            customer.customer_id, channel, field, raw, f"{address} is a fixed line"
        )
    if _opted_out(customer, channel, address):
        raise UnreachableAddress(
            customer.customer_id, channel, field, raw, f"{address} opted out of {channel.value}"
        )
    return address


def unreachable_reason(customer: Customer, channel: Channel) -> str | None:
    """Why `channel` cannot reach the customer, in words for a CRM task; None when it can."""
    try:
        contact_address(customer, channel)
    except UnreachableAddress as exc:
        return str(exc)
    return None


def reachable_channels(
    customer: Customer, preferred: Channel, fallback: Sequence[Channel] = ()
) -> list[Channel]:
    """The channels of a step, in the order to try them, that can reach this customer.

    `preferred` comes first, then `fallback` in its order (duplicates ignored); a channel
    is kept when `contact_address` would give an address for it, so a missing or invalid
    address, a fixed line for text, or an opted-out address skips that channel only. An
    empty list means no reachable channel: the caller opens a CRM task instead of sending,
    with `unreachable_reason` for each channel as the explanation.

    Example: a step `channel: whatsapp, fallback: [sms, email]` for a customer whose phone
    opted out of WhatsApp gives `[Channel.SMS, Channel.EMAIL]`.
    """
    ordered = list(dict.fromkeys((preferred, *fallback)))
    return [c for c in ordered if unreachable_reason(customer, c) is None]


def _opted_out(customer: Customer, channel: Channel, address: str) -> bool:
    """Whether an entry of `customer.opted_out` blocks this address on this channel.

    An entry is an address (blocking it on every channel that uses it) or a channel-scoped
    address such as `whatsapp:+525512345678` or `sms:+525512345678` (blocking that pair only).
    Entries are compared after the same normalisation; one that does not parse is compared as
    written, so it can never block a different address.
    """
    for entry in customer.opted_out:
        scope, _, rest = entry.partition(":")
        scoped = scope.lower() in {c.value for c in PHONE_CHANNELS} and bool(rest)
        if scoped and scope.lower() != channel.value:
            continue
        if _same_address(customer, channel, rest if scoped else entry, address):
            return True
    return False


def _same_address(customer: Customer, channel: Channel, entry: str, address: str) -> bool:
    try:
        normalised = (
            normalize_phone(entry, customer.country)
            if channel in PHONE_CHANNELS
            else normalize_email(entry)
        )
    except InvalidContactPoint:
        normalised = entry.strip()
    return normalised.casefold() == address.casefold()
