"""Contact points: phones to E.164, emails checked, and which channels of a step can reach."""

from __future__ import annotations

import pytest

from cobranza.domain.contact_points import (
    InvalidContactPoint,
    UnreachableAddress,
    contact_address,
    normalize_email,
    normalize_phone,
    reachable_channels,
    unreachable_reason,
)
from cobranza.domain.invoice import Channel, Customer

EMAIL, SMS, WHATSAPP = Channel.EMAIL, Channel.SMS, Channel.WHATSAPP
ALL = [WHATSAPP, SMS, EMAIL]


def customer(
    country: str = "MX",
    phone: str | None = "+52 55 1234 5678",
    email: str | None = "ana@customers.example.com",
    opted_out: frozenset[str] = frozenset(),
) -> Customer:
    return Customer(
        customer_id="C-1",
        country=country,
        timezone="America/Mexico_City",
        phone=phone,
        email=email,
        opted_out=opted_out,
    )


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [
        ("+52 55 1234 5678", "MX", "+525512345678"),
        ("55 1234 5678", "MX", "+525512345678"),
        ("(55) 1234-5678", "mx", "+525512345678"),
        # The mobile "1" Mexico dropped in 2020 still lingers in customer records.
        ("+52 1 55 1234 5678", "MX", "+525512345678"),
        ("300 123 4567", "CO", "+573001234567"),
        ("+57 (300) 123-4567", "CO", "+573001234567"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("tel:+1-415-555-2671", "US", "+14155552671"),
        # An international number is read as such whatever the customer's country.
        ("+57 300 123 4567", "MX", "+573001234567"),
    ],
)
def test_valid_phones_become_e164(raw: str, country: str, e164: str) -> None:
    assert normalize_phone(raw, country) == e164


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        ("", "MX"),
        ("not a number", "US"),
        ("555-1234", "US"),  # seven digits: no area code
        ("+57 300 123 45", "CO"),  # too short for Colombia
        ("044 55 1234 5678", "MX"),  # the old mobile trunk prefix
        ("+1 415 555 26711", "US"),  # too long
        ("12345", "CO"),
    ],
)
def test_invalid_phones_are_rejected_naming_the_value(raw: str, country: str) -> None:
    with pytest.raises(InvalidContactPoint) as caught:
        normalize_phone(raw, country)
    assert caught.value.field == "phone" and caught.value.value == raw
    assert repr(raw) in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("ana@customers.example.com", "ana@customers.example.com"),
        ("Ana@Example.COM", "Ana@example.com"),
        ("  ana@example.com ", "ana@example.com"),
        ("ops+ar@creditor.example.org", "ops+ar@creditor.example.org"),
        ("cliente@empresa.test", "cliente@empresa.test"),
        ("joão@exemplo.com.br", "joão@exemplo.com.br"),
    ],
)
def test_valid_emails_are_accepted_without_dns(raw: str, normalised: str) -> None:
    assert normalize_email(raw) == normalised


@pytest.mark.parametrize(
    "raw", ["ana", "ana@", "@example.com", "ana at example.com", "a..b@example.com", "x@y"]
)
def test_invalid_emails_are_rejected_naming_the_value(raw: str) -> None:
    with pytest.raises(InvalidContactPoint) as caught:
        normalize_email(raw)
    assert caught.value.field == "email" and caught.value.value == raw


def test_contact_address_is_normalised_per_channel() -> None:
    c = customer(phone="55 1234 5678", email="Ana@Customers.Example.com")
    assert contact_address(c, SMS) == contact_address(c, WHATSAPP) == "+525512345678"
    assert contact_address(c, EMAIL) == "Ana@customers.example.com"


def test_unreachable_address_names_field_value_and_reason() -> None:
    with pytest.raises(UnreachableAddress) as caught:
        contact_address(customer(phone="555-1234", country="US"), SMS)
    error = caught.value
    assert (error.channel, error.field, error.value) == (SMS, "phone", "555-1234")
    assert "customer C-1 cannot be reached by sms: phone '555-1234'" in str(error)

    with pytest.raises(UnreachableAddress, match="email missing: no address on file"):
        contact_address(customer(email=None), EMAIL)


def test_a_landline_cannot_take_text_messages() -> None:
    bogota_landline = customer(country="CO", phone="(601) 234 5678")
    assert reachable_channels(bogota_landline, WHATSAPP, (SMS, EMAIL)) == [EMAIL]
    assert "fixed line" in (unreachable_reason(bogota_landline, SMS) or "")


@pytest.mark.parametrize(
    ("phone", "email", "opted_out", "expected"),
    [
        ("55 1234 5678", "ana@example.com", set(), ALL),
        (None, "ana@example.com", set(), [EMAIL]),
        ("55 1234", "ana@example.com", set(), [EMAIL]),
        ("55 1234 5678", None, set(), [WHATSAPP, SMS]),
        ("55 1234 5678", "not-an-email", set(), [WHATSAPP, SMS]),
        (None, None, set(), []),
        # A number opted out, written any way, blocks it on both text channels.
        ("55 1234 5678", "ana@example.com", {"+52 55 1234 5678"}, [EMAIL]),
        # Scoped to one channel, it blocks that pair only.
        ("55 1234 5678", "ana@example.com", {"whatsapp:+525512345678"}, [SMS, EMAIL]),
        ("55 1234 5678", "ana@example.com", {"sms:5512345678"}, [WHATSAPP, EMAIL]),
        ("55 1234 5678", "ana@example.com", {"ANA@example.com"}, [WHATSAPP, SMS]),
        # Someone else's opt-out, or an unreadable entry, blocks nothing of this customer.
        ("55 1234 5678", "ana@example.com", {"+525599999999", "otra@example.com"}, ALL),
        ("55 1234 5678", "ana@example.com", {"garbage", "whatsapp:"}, ALL),
        ("55 1234 5678", "ana@example.com", {"+525512345678", "ana@example.com"}, []),
    ],
)
def test_reachable_channels_keep_the_step_order(
    phone: str | None, email: str | None, opted_out: set[str], expected: list[Channel]
) -> None:
    c = customer(phone=phone, email=email, opted_out=frozenset(opted_out))
    assert reachable_channels(c, WHATSAPP, (SMS, EMAIL)) == expected


def test_fallback_order_is_the_policy_order_not_a_fixed_one() -> None:
    c = customer()
    assert reachable_channels(c, EMAIL, (WHATSAPP, SMS)) == [EMAIL, WHATSAPP, SMS]
    assert reachable_channels(c, SMS) == [SMS]
    assert reachable_channels(c, SMS, (SMS, EMAIL, EMAIL)) == [SMS, EMAIL]


def test_a_customer_without_opt_outs_still_loads_from_old_inputs() -> None:
    old = {"customer_id": "C-9", "country": "CO", "timezone": "America/Bogota"}
    assert Customer.model_validate(old).opted_out == frozenset()
    c = customer(opted_out=frozenset({"+525512345678"}))
    assert Customer.model_validate_json(c.model_dump_json()) == c
