"""Bank-transfer references for Latin American customers: SPEI CLABE, PIX copy-paste and PSE.

Pure: each reference is built from the invoice and the creditor's collection accounts, and
each has a validator, so a reference that went through a message and back can be checked.
CLABE check digits come from the `clabe` package, the PSE reference's Luhn digit from
`python-stdnum`, and the PIX CRC (CRC-16/CCITT-FALSE) from `binascii.crc_hqx`.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import unicodedata
from enum import StrEnum

import clabe
from pydantic import BaseModel, ConfigDict, Field, field_validator
from stdnum import luhn

from cobranza.domain.invoice import Customer, Invoice
from cobranza.domain.money import Money

CLABE_LENGTH = 18
CLABE_ACCOUNT_DIGITS = 11
PSE_BODY_DIGITS = 12
PIX_GUI = "br.gov.bcb.pix"
PIX_CURRENCY = "986"  # ISO 4217 numeric code of BRL
PIX_NAME_MAX = 25
PIX_CITY_MAX = 15
PIX_TXID_MAX = 25


class InvalidReference(ValueError):
    """A reference, or a part to build one, that fails its format; names the field and why."""

    def __init__(self, field: str, value: str, reason: str) -> None:
        super().__init__(f"{field} {value!r}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


class LocalMethod(StrEnum):
    SPEI = "spei"  # Mexico: transfer to a CLABE
    PIX = "pix"  # Brazil: BR Code "copia e cola"
    PSE = "pse"  # Colombia: bank payment with a biller reference


class PaymentReference(BaseModel):
    """What a message shows so the customer can pay by bank transfer instead of by card."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: LocalMethod
    country: str = Field(min_length=2, max_length=2)
    label: str = Field(description="what the reference is called where the customer lives")
    value: str = Field(min_length=1, description="the text the customer copies")
    display: str = Field(description="the value grouped for reading aloud or on paper")
    amount: Money
    beneficiary: str
    concept: str = Field(description="the invoice the payment is for")


class CollectionAccounts(BaseModel):
    """The creditor's accounts for local methods; a country without one gets no reference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    beneficiary: str = Field(min_length=1)
    spei_bank: str | None = Field(default=None, description="3-digit bank code of the CLABEs")
    spei_plaza: str = Field(default="180", pattern=r"^\d{3}$")
    pix_key: str | None = Field(default=None, max_length=77)
    pix_city: str = "SAO PAULO"
    pse_biller_code: str | None = Field(default=None, pattern=r"^\d{1,10}$")

    @field_validator("spei_bank")
    @classmethod
    def _known_bank(cls, value: str | None) -> str | None:
        if value is not None and value not in clabe.BANKS:
            raise ValueError(f"spei_bank {value!r} is not a bank code of the CLABE catalogue")
        return value


# -- CLABE (SPEI, Mexico) ---------------------------------------------------------------------


def clabe_check_digit(first17: str) -> str:
    """The 18th digit: weights 3, 7, 1 over the first 17 digits, each product mod 10."""
    if not (first17.isdigit() and len(first17) == CLABE_LENGTH - 1):
        raise InvalidReference("clabe", first17, "the check digit needs exactly 17 digits")
    return clabe.compute_control_digit(first17)


def make_clabe(bank: str, plaza: str, account: str) -> str:
    """bank (3) + plaza (3) + account (11) + check digit."""
    for field, value, size in (("bank", bank, 3), ("plaza", plaza, 3), ("account", account, 11)):
        if not (value.isdigit() and len(value) == size):
            raise InvalidReference(field, value, f"a CLABE {field} is {size} digits")
    if bank not in clabe.BANKS:
        raise InvalidReference("bank", bank, "not a bank code of the CLABE catalogue")
    first17 = bank + plaza + account
    return first17 + clabe_check_digit(first17)


def check_clabe(value: str) -> str:
    """The CLABE itself when valid; else `InvalidReference` saying what is wrong."""
    if not (value.isdigit() and len(value) == CLABE_LENGTH):
        raise InvalidReference("clabe", value, "a CLABE is 18 digits")
    if value[:3] not in clabe.BANKS:
        raise InvalidReference("clabe", value, f"bank code {value[:3]} is not in the catalogue")
    expected = clabe_check_digit(value[:-1])
    if value[-1] != expected:
        raise InvalidReference("clabe", value, f"check digit is {value[-1]}, expected {expected}")
    return value


def is_valid_clabe(value: str) -> bool:
    try:
        check_clabe(value)
    except InvalidReference:
        return False
    return True


def customer_clabe(accounts: CollectionAccounts, tenant: str, customer_id: str) -> str:
    """One virtual CLABE per customer, so an incoming SPEI transfer names its payer."""
    if accounts.spei_bank is None:
        raise InvalidReference("spei_bank", "", "no SPEI bank configured")
    account = _digits(f"{tenant}:{customer_id}", customer_id, CLABE_ACCOUNT_DIGITS)
    return make_clabe(accounts.spei_bank, accounts.spei_plaza, account)


# -- PIX BR Code (Brazil) ---------------------------------------------------------------------


def pix_crc(payload: str) -> str:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF) as 4 upper-case hex digits."""
    return f"{binascii.crc_hqx(payload.encode('utf-8'), 0xFFFF):04X}"


def pix_copy_paste(key: str, name: str, city: str, amount: Money, txid: str) -> str:
    """The EMV BR Code payload of a PIX charge, the text of a "PIX copia e cola"."""
    if amount.currency != "BRL":
        raise InvalidReference("amount", str(amount), "a PIX charge is in BRL")
    if not amount.is_positive():
        raise InvalidReference("amount", str(amount), "a PIX charge is positive")
    if not key:
        raise InvalidReference("pix_key", key, "a PIX key is needed")
    account = _tlv("00", PIX_GUI) + _tlv("01", key)
    payload = (
        _tlv("00", "01")
        + _tlv("01", "12")  # one use: the code carries this invoice's amount
        + _tlv("26", account)
        + _tlv("52", "0000")
        + _tlv("53", PIX_CURRENCY)
        + _tlv("54", str(amount.to_decimal()))
        + _tlv("58", "BR")
        + _tlv("59", _plain(name, PIX_NAME_MAX) or "N/A")
        + _tlv("60", _plain(city, PIX_CITY_MAX) or "N/A")
        + _tlv("62", _tlv("05", _txid(txid)))
        + "6304"
    )
    return payload + pix_crc(payload)


def parse_brcode(code: str) -> dict[str, str]:
    """The top-level fields of a BR Code, by tag; `InvalidReference` when the TLV is broken."""
    fields: dict[str, str] = {}
    i = 0
    while i < len(code):
        tag, size = code[i : i + 2], code[i + 2 : i + 4]
        if len(tag) < 2 or not tag.isdigit() or not size.isdigit():
            raise InvalidReference("pix", code, f"field at position {i} has no tag and length")
        value = code[i + 4 : i + 4 + int(size)]
        if len(value) != int(size):
            raise InvalidReference("pix", code, f"field {tag} is shorter than its length {size}")
        fields[tag] = value
        i += 4 + int(size)
    return fields


def check_pix(code: str) -> dict[str, str]:
    """The fields of a valid PIX copy-paste code; else `InvalidReference` saying what is wrong."""
    fields = parse_brcode(code)
    if not code.endswith(f"6304{fields.get('63', '')}") or len(fields.get("63", "")) != 4:
        raise InvalidReference("pix", code, "the last field must be the CRC, 63 with 4 digits")
    expected = pix_crc(code[:-4])
    if fields["63"] != expected:
        raise InvalidReference("pix", code, f"CRC is {fields['63']}, expected {expected}")
    wanted = {"00": "01", "53": PIX_CURRENCY, "58": "BR"}
    for tag, value in wanted.items():
        if fields.get(tag) != value:
            raise InvalidReference("pix", code, f"field {tag} must be {value!r}")
    account = parse_brcode(fields.get("26", ""))
    if account.get("00", "").lower() != PIX_GUI or not account.get("01"):
        raise InvalidReference("pix", code, f"field 26 must carry GUI {PIX_GUI} and a key")
    return fields


def is_valid_pix(code: str) -> bool:
    try:
        check_pix(code)
    except InvalidReference:
        return False
    return True


# -- PSE reference (Colombia) -----------------------------------------------------------------


def pse_reference(tenant: str, invoice_id: str) -> str:
    """12 invoice-derived digits and a Luhn check digit, the reference a PSE payment carries."""
    body = _digits(f"{tenant}:{invoice_id}", invoice_id, PSE_BODY_DIGITS)
    return body + str(luhn.calc_check_digit(body))


def check_pse_reference(value: str) -> str:
    if not (value.isdigit() and len(value) == PSE_BODY_DIGITS + 1):
        raise InvalidReference("pse_reference", value, "a PSE reference is 13 digits")
    if not luhn.is_valid(value):
        raise InvalidReference("pse_reference", value, "the Luhn check digit does not match")
    return value


def is_valid_pse_reference(value: str) -> bool:
    try:
        check_pse_reference(value)
    except InvalidReference:
        return False
    return True


# -- one entry point ----------------------------------------------------------------------------


def local_reference(invoice: Invoice, accounts: CollectionAccounts) -> PaymentReference | None:
    """The bank-transfer reference for the invoice's country, or None where we have none."""
    return reference_for(invoice.customer, invoice.invoice_id, invoice.amount, accounts)


def reference_for(
    customer: Customer, invoice_id: str, amount: Money, accounts: CollectionAccounts
) -> PaymentReference | None:
    """The reference for paying `amount` of one invoice (a reminder asks for what is still
    outstanding, not the invoice's original amount)."""
    country = customer.country.upper()
    common = {"amount": amount, "beneficiary": accounts.beneficiary}
    if country == "MX" and accounts.spei_bank is not None:
        value = customer_clabe(accounts, customer.tenant, customer.customer_id)
        return PaymentReference(
            method=LocalMethod.SPEI,
            country=country,
            label="CLABE (SPEI)",
            value=value,
            display=f"{value[:3]} {value[3:6]} {value[6:17]} {value[17]}",
            concept=invoice_id,
            **common,
        )
    if country == "BR" and accounts.pix_key is not None and amount.currency == "BRL":
        code = pix_copy_paste(
            accounts.pix_key,
            accounts.beneficiary,
            accounts.pix_city,
            amount,
            invoice_id,
        )
        return PaymentReference(
            method=LocalMethod.PIX,
            country=country,
            label="PIX copia e cola",
            value=code,
            display=code,
            concept=invoice_id,
            **common,
        )
    if country == "CO" and accounts.pse_biller_code is not None:
        value = pse_reference(customer.tenant, invoice_id)
        return PaymentReference(
            method=LocalMethod.PSE,
            country=country,
            label=f"Referencia PSE (convenio {accounts.pse_biller_code})",
            value=value,
            display=" ".join(value[i : i + 4] for i in range(0, len(value), 4)),
            concept=invoice_id,
            **common,
        )
    return None


def _digits(seed: str, natural: str, size: int) -> str:
    """`natural` itself when it is all digits and fits; else `size` digits hashed from `seed`.

    Hashed digits can collide (one in 10**size per pair); the creditor's bank rejects a
    duplicate virtual account when it is registered, so a collision is caught there.
    """
    if natural.isdigit() and len(natural) <= size:
        return natural.zfill(size)
    number = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:8], "big")
    return str(number % 10**size).zfill(size)


def _tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise InvalidReference(f"pix field {tag}", value, "longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def _plain(text: str, limit: int) -> str:
    """Upper-case ASCII without accents, as BR Code readers expect, cut to `limit`."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"\s+", " ", folded).strip().upper()[:limit]


def _txid(text: str) -> str:
    """Letters and digits only, at most 25; '***' when nothing is left, as the spec says."""
    cleaned = re.sub(r"[^A-Za-z0-9]", "", text)[:PIX_TXID_MAX]
    return cleaned or "***"
