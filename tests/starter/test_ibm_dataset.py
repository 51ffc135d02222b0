"""The IBM accounts-receivable sample loads whole, and each kind of bad row is named exactly."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cobranza.domain.invoice import DisputeRequest, PaymentReceived
from cobranza.domain.money import Money
from cobranza.starter.dataset import load_ibm_csv
from cobranza.starter.simulation_input import EventKind, SimulationInput

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CSV = EXAMPLES / "ibm_accounts_receivable_late_payments.csv"
COUNTRIES = EXAMPLES / "ibm_countries.yaml"
GOOD_ROWS = 2466

# A row that is valid on its own; each bad row below changes one column of it.
GOOD = "406,TEST-CUST,3/3/2012,0000000042,1/26/2013,2/25/2013,61.74,Yes,3/3/2013,Electronic,36,6"


@pytest.fixture(scope="module")
def sample() -> SimulationInput:
    return load_ibm_csv(CSV)


def test_whole_sample_loads_without_errors(sample: SimulationInput) -> None:
    kinds = Counter(event.kind for event in sample.events)
    assert sample.errors == []
    assert len(sample.invoices) == GOOD_ROWS
    assert len({invoice.customer.customer_id for invoice in sample.invoices}) == 100
    assert kinds == {EventKind.PAYMENT: GOOD_ROWS, EventKind.DISPUTE: 561}
    assert sample.policy is None
    assert [e.at for e in sample.events] == sorted(e.at for e in sample.events)


def test_first_row_becomes_invoice_with_settlement(sample: SimulationInput) -> None:
    invoice = next(i for i in sample.invoices if i.invoice_id == "0000611365")
    assert invoice.amount == Money(minor=5594, currency="USD")
    assert invoice.customer.email == "0379-nevhp@customers.example.com"
    assert invoice.customer.timezone == "America/New_York"
    assert invoice.tenant == "ibm"
    payment = next(e for e in sample.events if e.invoice_id == "0000611365")
    assert payment.kind is EventKind.PAYMENT
    assert payment.source.endswith("ibm_accounts_receivable_late_payments.csv:2")
    assert isinstance(payment.payload, PaymentReceived)
    assert payment.payload.payment_id == "settle-0000611365"
    assert payment.payload.amount == invoice.amount
    assert payment.at == datetime(2013, 1, 15, 12, 0, tzinfo=ZoneInfo("America/New_York"))


def test_disputed_row_disputes_on_due_date_at_nine(sample: SimulationInput) -> None:
    # Line 3: 406 (Mexico), due 2/25/2013, Disputed=Yes.
    dispute = next(
        e for e in sample.events if e.invoice_id == "0007900770" and e.kind is EventKind.DISPUTE
    )
    assert isinstance(dispute.payload, DisputeRequest)
    assert dispute.payload.actor == "dataset"
    assert dispute.at == datetime(2013, 2, 25, 9, 0, tzinfo=ZoneInfo("America/Mexico_City"))
    assert dispute.source.endswith(":3")


def _bad(column: int, value: str) -> str:
    cells = GOOD.split(",")
    cells[column] = value
    return ",".join(cells)


BAD_ROWS = [
    # (row, column the error must name)
    (_bad(0, "999"), "countryCode"),
    (_bad(6, "0"), "InvoiceAmount"),
    (_bad(6, "-5.00"), "InvoiceAmount"),
    (_bad(6, '"12,50"'), "InvoiceAmount"),
    (_bad(6, "1.005"), "InvoiceAmount"),
    (_bad(5, "1/1/2013"), "DueDate"),
    (_bad(4, "2013-01-26"), "InvoiceDate"),
    (_bad(8, "13/45/2013"), "SettledDate"),
    (_bad(8, "1/1/2013"), "SettledDate"),
    (_bad(7, "Maybe"), "Disputed"),
    ("391,SHORT-ROW,1/2/2013", "(row)"),
    # Same invoice number as the first row of the sample, different data.
    (
        "391,0379-NEVHP,4/6/2013,0000611365,1/2/2013,2/1/2013,99.99,No,1/15/2013,Paper,13,0",
        "invoiceNumber",
    ),
]


def test_each_bad_row_is_one_error_and_good_rows_still_load(tmp_path: Path) -> None:
    csv_copy = tmp_path / "ar.csv"
    shutil.copy(CSV, csv_copy)
    with csv_copy.open("a") as handle:
        for row, _ in BAD_ROWS:
            handle.write(row + "\n")
    loaded = load_ibm_csv(csv_copy, COUNTRIES)

    first_bad_line = GOOD_ROWS + 2
    expected = [(first_bad_line + i, column) for i, (_, column) in enumerate(BAD_ROWS)]
    assert [(e.line, e.field) for e in loaded.errors] == expected
    assert all(e.file == str(csv_copy) for e in loaded.errors)
    assert str(loaded.errors[0]).startswith(f"{csv_copy}:{first_bad_line}: countryCode: ")
    assert len(loaded.invoices) == GOOD_ROWS


def test_exact_duplicate_rows_are_ignored(tmp_path: Path) -> None:
    lines = CSV.read_text().splitlines()
    csv_copy = tmp_path / "ar.csv"
    # The header once, then the data twice: a re-import of the same file.
    csv_copy.write_text("\n".join(lines + lines[1:]) + "\n")
    loaded = load_ibm_csv(csv_copy, COUNTRIES)
    assert loaded.errors == []
    assert len(loaded.invoices) == GOOD_ROWS
    assert len(loaded.events) == GOOD_ROWS + 561


def test_unknown_currency_in_country_map_rejects_its_rows(tmp_path: Path) -> None:
    countries = tmp_path / "countries.yaml"
    countries.write_text(
        COUNTRIES.read_text()
        + '  "999": {country: ZZ, timezone: UTC, locale: en_US, currency: ZZZ}\n'
    )
    csv_copy = tmp_path / "ar.csv"
    csv_copy.write_text(
        CSV.read_text().splitlines()[0] + "\n" + _bad(0, "999") + "\n" + GOOD + "\n"
    )
    loaded = load_ibm_csv(csv_copy, countries)

    map_error, row_error = loaded.errors
    assert map_error.file == str(countries)
    assert map_error.field == "countries.999.currency"
    assert map_error.line == len(countries.read_text().splitlines())
    assert (row_error.line, row_error.field) == (2, "countryCode")
    assert [i.invoice_id for i in loaded.invoices] == ["0000000042"]


def test_missing_column_is_reported_on_the_header(tmp_path: Path) -> None:
    csv_copy = tmp_path / "ar.csv"
    csv_copy.write_text("countryCode,customerID\n391,X\n")
    loaded = load_ibm_csv(csv_copy, COUNTRIES)
    assert {e.line for e in loaded.errors} == {1}
    assert "InvoiceAmount" in {e.field for e in loaded.errors}
    assert loaded.invoices == []
