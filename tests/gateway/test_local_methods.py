"""Local payment references: CLABE, PIX copy-paste and PSE, generated, validated and mutated."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobranza.domain.invoice import Customer, Invoice
from cobranza.domain.local_methods import (
    CollectionAccounts,
    InvalidReference,
    LocalMethod,
    check_clabe,
    check_pix,
    customer_clabe,
    is_valid_clabe,
    is_valid_pix,
    is_valid_pse_reference,
    local_reference,
    make_clabe,
    pix_copy_paste,
    pix_crc,
    pse_reference,
)
from cobranza.domain.money import Money

ACCOUNTS = CollectionAccounts(
    beneficiary="Cobranza Demo SA",
    spei_bank="646",
    pix_key="123e4567-e12b-12d1-a456-426655440000",
    pix_city="São Paulo",
    pse_biller_code="12345",
)
# The example of the Banco Central do Brasil's BR Code manual (static, no amount).
BCB_EXAMPLE = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)
ids = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/", min_size=1, max_size=40)


def invoice(country: str, currency: str, minor: int = 150_050, invoice_id: str = "F-1") -> Invoice:
    zones = {"MX": "America/Mexico_City", "BR": "America/Sao_Paulo", "CO": "America/Bogota"}
    return Invoice(
        invoice_id=invoice_id,
        customer=Customer(
            customer_id="C-42", country=country, timezone=zones.get(country, "UTC"), tenant="t1"
        ),
        amount=Money(minor=minor, currency=currency),
        issued_on=date(2026, 3, 1),
        due_on=date(2026, 3, 31),
    )


def one_digit_changed(value: str, position: int, delta: int) -> str:
    """`value` with the digit at `position` replaced by another digit (delta 1-9 mod 10)."""
    digit = (int(value[position]) + delta) % 10
    return value[:position] + str(digit) + value[position + 1 :]


def test_known_clabe_validates_and_its_check_digit_is_recomputed() -> None:
    # Banamex's example account from the `clabe` package's documentation.
    assert check_clabe("002010077777777771") == "002010077777777771"
    assert make_clabe("002", "010", "07777777777") == "002010077777777771"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("00201007777777777", "18 digits"),
        ("00201007777777777a", "18 digits"),
        ("999010077777777771", "bank code 999"),
        ("002010077777777772", "check digit is 2, expected 1"),
    ],
)
def test_bad_clabe_says_why(value: str, reason: str) -> None:
    with pytest.raises(InvalidReference, match=reason):
        check_clabe(value)


@settings(max_examples=200, derandomize=True)
@given(tenant=ids, customer=ids, position=st.integers(0, 17), delta=st.integers(1, 9))
def test_generated_clabes_validate_and_any_one_digit_change_fails(
    tenant: str, customer: str, position: int, delta: int
) -> None:
    value = customer_clabe(ACCOUNTS, tenant, customer)
    assert is_valid_clabe(value)
    assert value.startswith("646180")
    assert not is_valid_clabe(one_digit_changed(value, position, delta))


def test_clabe_is_stable_per_customer_and_differs_between_customers() -> None:
    first = customer_clabe(ACCOUNTS, "t1", "C-42")
    assert customer_clabe(ACCOUNTS, "t1", "C-42") == first
    assert customer_clabe(ACCOUNTS, "t1", "C-43") != first
    # A numeric customer id that fits is the account number itself, readable by people.
    assert customer_clabe(ACCOUNTS, "t1", "12345")[6:17] == "00000012345"


def test_bcb_manual_example_validates() -> None:
    assert pix_crc(BCB_EXAMPLE[:-4]) == "1D3D"
    fields = check_pix(BCB_EXAMPLE)
    assert fields["59"] == "Fulano de Tal"


def test_pix_code_carries_amount_key_name_city_and_txid() -> None:
    code = pix_copy_paste(
        ACCOUNTS.pix_key or "",
        "José da Silva Ltda",
        "São Paulo",
        Money(minor=15050, currency="BRL"),
        "INV/2026-001",
    )
    fields = check_pix(code)
    assert fields["54"] == "150.50"
    assert fields["53"] == "986"
    assert fields["59"] == "JOSE DA SILVA LTDA"
    assert fields["60"] == "SAO PAULO"
    assert fields["62"] == "0510INV2026001"
    assert ACCOUNTS.pix_key in fields["26"]


def test_pix_refuses_other_currencies() -> None:
    with pytest.raises(InvalidReference, match="BRL"):
        pix_copy_paste("key", "n", "c", Money(minor=100, currency="MXN"), "t")


@settings(max_examples=200, derandomize=True)
@given(
    minor=st.integers(1, 10**11),
    txid=ids,
    name=st.text(min_size=1, max_size=40),
    position=st.integers(0, 300),
    replacement=st.sampled_from("0123456789ABCDEFXYZ*. "),
)
def test_generated_pix_codes_validate_and_any_one_character_change_fails(
    minor: int, txid: str, name: str, position: int, replacement: str
) -> None:
    code = pix_copy_paste(
        ACCOUNTS.pix_key or "", name, "Rio de Janeiro", Money(minor=minor, currency="BRL"), txid
    )
    assert is_valid_pix(code)
    position %= len(code)
    if code[position] == replacement:
        return
    changed = code[:position] + replacement + code[position + 1 :]
    assert not is_valid_pix(changed)


@settings(max_examples=200, derandomize=True)
@given(tenant=ids, invoice_id=ids, position=st.integers(0, 12), delta=st.integers(1, 9))
def test_generated_pse_references_validate_and_any_one_digit_change_fails(
    tenant: str, invoice_id: str, position: int, delta: int
) -> None:
    value = pse_reference(tenant, invoice_id)
    assert len(value) == 13
    assert is_valid_pse_reference(value)
    assert not is_valid_pse_reference(one_digit_changed(value, position, delta))


def test_reference_per_country() -> None:
    mx = local_reference(invoice("MX", "MXN"), ACCOUNTS)
    assert mx is not None and mx.method is LocalMethod.SPEI and is_valid_clabe(mx.value)
    assert mx.concept == "F-1" and mx.amount == Money(minor=150_050, currency="MXN")
    assert mx.display.replace(" ", "") == mx.value
    br = local_reference(invoice("BR", "BRL"), ACCOUNTS)
    assert br is not None and br.method is LocalMethod.PIX
    assert check_pix(br.value)["54"] == "1500.50"
    co = local_reference(invoice("CO", "COP"), ACCOUNTS)
    assert co is not None and co.method is LocalMethod.PSE and is_valid_pse_reference(co.value)
    assert "12345" in co.label
    assert local_reference(invoice("US", "USD"), ACCOUNTS) is None
    # No account configured for the country: no reference rather than a made-up one.
    assert local_reference(invoice("MX", "MXN"), CollectionAccounts(beneficiary="x")) is None


def test_accounts_refuse_an_unknown_spei_bank() -> None:
    with pytest.raises(ValueError, match="spei_bank '999'"):
        CollectionAccounts(beneficiary="x", spei_bank="999")
