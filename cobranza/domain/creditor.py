"""Who is owed: the name and tax identifications every message must be able to print."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cobranza.domain.local_methods import CollectionAccounts


class Creditor(BaseModel):
    """The creditor a tenant collects for, as the law of each country asks it to be named."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    tax_ids: dict[str, str] = Field(
        default_factory=dict,
        description="country code -> the identification as printed, e.g. "
        "{'BR': 'CNPJ 11.222.333/0001-81'}",
    )

    @field_validator("tax_ids")
    @classmethod
    def _country_codes(cls, value: dict[str, str]) -> dict[str, str]:
        for country, printed in value.items():
            if len(country) != 2 or not country.isalpha():
                raise ValueError(f"tax_ids: {country!r} is not a two-letter country code")
            if not printed.strip():
                raise ValueError(f"tax_ids.{country}: empty identification")
        return {country.upper(): printed.strip() for country, printed in value.items()}

    accounts: CollectionAccounts | None = Field(
        default=None, description="accounts for bank-transfer references (CLABE, PIX, PSE)"
    )

    def tax_id_for(self, country: str) -> str | None:
        return self.tax_ids.get(country.upper())


# The fictitious creditor of the demo and the tests. Its CNPJ is the textbook example number
# (valid check digits, registered to nobody), so Brazilian messages can name it as the law asks.
# Its collection accounts are made up too: a CLABE bank code from the catalogue, a PIX key
# on a reserved example domain, a PSE biller code.
DEMO_CREDITOR = Creditor(
    name="cobranza demo creditor",
    tax_ids={"BR": "CNPJ 11.222.333/0001-81"},
    accounts=CollectionAccounts(
        beneficiary="cobranza demo creditor",
        spei_bank="002",
        pix_key="cobranca@creditor.example.com",
        pse_biller_code="12345",
    ),
)
