"""Loads the IBM accounts-receivable sample CSV as invoices with their settlements and disputes.

The CSV (examples/ibm_accounts_receivable_late_payments.csv) has one row per invoice:
countryCode, customerID, PaperlessDate, invoiceNumber, InvoiceDate, DueDate, InvoiceAmount,
Disputed, SettledDate, PaperlessBill, DaysToSettle, DaysLate; dates are M/D/YYYY.

What each row becomes:
- an Invoice of tenant "ibm"; the invoice id is invoiceNumber as text, leading zeros kept;
- the customer's country, time zone, locale and currency come from a country map
  (examples/ibm_countries.yaml: the dataset never names the countries, so that map is an
  assumption); the customer's address is `<customerID lowercased>@customers.example.com`,
  a reserved domain, so no message can reach a real person;
- SettledDate -> a payment of the full amount at 12:00 local time that day;
- Disputed=Yes -> a dispute on the due date at 09:00 local time.
PaperlessDate, PaperlessBill, DaysToSettle and DaysLate are not used: the last two follow
from the dates.

A bad row is skipped with one InputError naming the file, its line (header = line 1) and the
column; the other rows still load. A row repeated exactly is ignored, so importing the same
file twice, or a file that overlaps an earlier one, changes nothing.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from cobranza.domain.invoice import (
    Customer,
    DisputeRequest,
    Invoice,
    PaymentReceived,
    local_instant,
)
from cobranza.domain.money import Money, normalise_currency
from cobranza.starter.input_errors import InputError
from cobranza.starter.simulation_input import EventKind, ScheduledEvent, SimulationInput
from cobranza.starter.yaml_source import YamlSource

TENANT = "ibm"
EMAIL_DOMAIN = "customers.example.com"
SETTLED_AT = time(12, 0)
DISPUTED_AT = time(9, 0)
COLUMNS = (
    "countryCode",
    "customerID",
    "PaperlessDate",
    "invoiceNumber",
    "InvoiceDate",
    "DueDate",
    "InvoiceAmount",
    "Disputed",
    "SettledDate",
    "PaperlessBill",
    "DaysToSettle",
    "DaysLate",
)
COUNTRY_MAP_NAME = "ibm_countries.yaml"


class CountryProfile(BaseModel):
    """Where the customers of one countryCode live and what they pay in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str
    timezone: str
    locale: str
    currency: str

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}: expected an IANA name") from exc
        return value

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        return normalise_currency(value)


def load_country_map(path: Path) -> tuple[dict[str, CountryProfile], list[InputError]]:
    """Profiles by countryCode; an entry with a fault is left out and reported."""
    if not path.is_file():
        message = f"country map not found; pass country_map_path or put {COUNTRY_MAP_NAME} there"
        return {}, [InputError(str(path), 1, "(file)", message)]
    source = YamlSource.read(path)
    if isinstance(source, InputError):
        return {}, [source]
    entries = source.data.get("countries") if isinstance(source.data, dict) else None
    if not isinstance(entries, dict):
        return {}, [source.error(("countries",), "expected a mapping of countryCode to profile")]
    profiles: dict[str, CountryProfile] = {}
    errors: list[InputError] = []
    for code, entry in entries.items():
        try:
            profiles[str(code)] = CountryProfile.model_validate(entry)
        except ValidationError as exc:
            errors.extend(source.validation_errors(exc, ("countries", str(code))))
    return profiles, errors


def load_ibm_csv(path: str | Path, country_map_path: str | Path | None = None) -> SimulationInput:
    """Read the whole file; by default the country map is ibm_countries.yaml beside the CSV."""
    csv_path = Path(path)
    map_path = Path(country_map_path) if country_map_path else csv_path.with_name(COUNTRY_MAP_NAME)
    name = f"IBM accounts receivable ({csv_path.name})"
    profiles, errors = load_country_map(map_path)
    if not profiles:
        return SimulationInput(name=name, errors=errors)
    reader = _IbmReader(str(csv_path), profiles)
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader.read(csv.DictReader(handle))
    return SimulationInput(
        name=name,
        invoices=reader.invoices,
        events=reader.events,
        errors=errors + reader.errors,
    )


class _RowError(Exception):
    """A row's first fault; caught per row so the rest of the file still loads."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class _IbmReader:
    """Turns rows into invoices and events, remembering what it has seen for duplicates."""

    def __init__(self, file: str, profiles: dict[str, CountryProfile]) -> None:
        self.file = file
        self.profiles = profiles
        self.invoices: list[Invoice] = []
        self.events: list[ScheduledEvent] = []
        self.errors: list[InputError] = []
        self._customers: dict[str, tuple[Customer, int]] = {}
        self._loaded: dict[str, tuple[tuple[str, ...], int]] = {}

    def read(self, rows: csv.DictReader[str]) -> None:
        missing = [c for c in COLUMNS if c not in (rows.fieldnames or [])]
        if missing:
            for column in missing:
                self.errors.append(InputError(self.file, 1, column, "column missing from header"))
            return
        for row in rows:
            line = rows.line_num
            try:
                self._row(row, line)
            except _RowError as exc:
                self.errors.append(InputError(self.file, line, exc.field, exc.message))

    def _row(self, row: dict[str, str], line: int) -> None:
        if None in row or any(value is None for value in row.values()):
            raise _RowError("(row)", f"expected {len(COLUMNS)} columns as in the header")
        raw = tuple(row[c].strip() for c in COLUMNS)
        invoice_id = _text(row, "invoiceNumber")
        seen = self._loaded.get(invoice_id)
        if seen is not None:
            if seen[0] == raw:
                return
            raise _RowError(
                "invoiceNumber",
                f"invoice {invoice_id} was loaded from line {seen[1]} with other data",
            )
        invoice = self._invoice(row, invoice_id, line)
        settled = _date(row, "SettledDate") if row["SettledDate"].strip() else None
        if settled is not None and settled < invoice.issued_on:
            raise _RowError(
                "SettledDate", f"settled on {settled}, before the invoice date {invoice.issued_on}"
            )
        disputed = _text(row, "Disputed")
        if disputed not in ("Yes", "No"):
            raise _RowError("Disputed", f"expected Yes or No, got {disputed!r}")
        self._loaded[invoice_id] = (raw, line)
        self.invoices.append(invoice)
        source = f"{self.file}:{line}"
        zone = invoice.customer.timezone
        if settled is not None:
            at = local_instant(settled, SETTLED_AT, zone)
            payment = PaymentReceived(
                payment_id=f"settle-{invoice_id}",
                amount=invoice.amount,
                received_at=at,
                reference=invoice_id,
            )
            self.events.append(
                ScheduledEvent(
                    at=at,
                    invoice_id=invoice_id,
                    kind=EventKind.PAYMENT,
                    payload=payment,
                    source=source,
                )
            )
        if disputed == "Yes":
            dispute = DisputeRequest(actor="dataset", reason="Disputed=Yes in the source data")
            at = local_instant(invoice.due_on, DISPUTED_AT, zone)
            self.events.append(
                ScheduledEvent(
                    at=at,
                    invoice_id=invoice_id,
                    kind=EventKind.DISPUTE,
                    payload=dispute,
                    source=source,
                )
            )

    def _invoice(self, row: dict[str, str], invoice_id: str, line: int) -> Invoice:
        customer, currency = self._customer(row, line)
        issued = _date(row, "InvoiceDate")
        due = _date(row, "DueDate")
        if due < issued:
            raise _RowError("DueDate", f"due on {due}, before the invoice date {issued}")
        text = _text(row, "InvoiceAmount")
        try:
            amount = Money.parse(text, currency)
        except ValueError as exc:
            raise _RowError("InvoiceAmount", str(exc)) from exc
        if not amount.is_positive():
            raise _RowError("InvoiceAmount", f"amount must be positive, got {text}")
        return Invoice(
            invoice_id=invoice_id, customer=customer, amount=amount, issued_on=issued, due_on=due
        )

    def _customer(self, row: dict[str, str], line: int) -> tuple[Customer, str]:
        """The row's customer and the currency its country bills in."""
        code = _text(row, "countryCode")
        profile = self.profiles.get(code)
        if profile is None:
            known = ", ".join(sorted(self.profiles))
            raise _RowError(
                "countryCode", f"unknown countryCode {code!r}: the country map knows {known}"
            )
        customer_id = _text(row, "customerID")
        if customer_id in self._customers:
            customer, first_line = self._customers[customer_id]
            if customer.country != profile.country:
                raise _RowError(
                    "countryCode",
                    f"customer {customer_id} is in {customer.country} since line {first_line}, "
                    f"this row puts them in {profile.country}",
                )
            return customer, profile.currency
        customer = Customer(
            tenant=TENANT,
            customer_id=customer_id,
            email=f"{customer_id.lower()}@{EMAIL_DOMAIN}",
            country=profile.country,
            timezone=profile.timezone,
            locale=profile.locale,
        )
        self._customers[customer_id] = (customer, line)
        return customer, profile.currency


def _text(row: dict[str, str], column: str) -> str:
    value = row[column].strip()
    if not value:
        raise _RowError(column, "empty")
    return value


def _date(row: dict[str, str], column: str) -> date:
    text = _text(row, column)
    try:
        return datetime.strptime(text, "%m/%d/%Y").date()
    except ValueError as exc:
        raise _RowError(column, f"{text!r} is not a date in M/D/YYYY form") from exc
