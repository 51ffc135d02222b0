"""Every lifecycle scenario loads cleanly, and a faulty scenario names the line and field."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cobranza.domain.invoice import DisputeOutcome, DisputeResolution, InvoiceStatus, PromiseRequest
from cobranza.domain.money import Money
from cobranza.starter.input_errors import InputError
from cobranza.starter.policy_catalog import STANDARD_POLICY
from cobranza.starter.scenario import load_expectations, load_scenario
from cobranza.starter.simulation_input import EventKind

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
CASES = sorted(SCENARIOS.glob("L-*.yaml"))


def test_every_lifecycle_case_has_a_scenario() -> None:
    names = {path.stem.split("-")[0] + "-" + path.stem.split("-")[1] for path in CASES}
    assert names == {f"L-{n:02d}" for n in range(1, 11)}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_scenario_loads_without_errors(path: Path) -> None:
    loaded = load_scenario(path)
    assert loaded.errors == []
    assert loaded.invoices
    assert loaded.policy is not None
    assert loaded.until is not None
    assert [e.at for e in loaded.events] == sorted(e.at for e in loaded.events)
    expected = load_expectations(path)
    assert set(expected) == {i.invoice_id for i in loaded.invoices}
    for invoice_id, expectation in expected.items():
        currency = next(i for i in loaded.invoices if i.invoice_id == invoice_id).amount.currency
        if expectation.outstanding is not None:
            Money.parse(expectation.outstanding, currency)
        if expectation.steps is not None:
            assert len(expectation.steps) == expectation.messages


def test_currency_exponents_are_kept() -> None:
    loaded = load_scenario(SCENARIOS / "L-02.yaml")
    amounts = {i.invoice_id: i.amount for i in loaded.invoices}
    assert amounts["INV-JPY"] == Money(minor=1935, currency="JPY")
    assert amounts["INV-KWD"] == Money(minor=1935500, currency="KWD")
    partial = next(e for e in loaded.events if e.invoice_id == "INV-KWD")
    assert partial.payload is not None
    assert partial.payload.amount == Money(minor=935250, currency="KWD")  # type: ignore[union-attr]


def test_promise_dated_in_the_past_is_loaded_for_the_workflow_to_reject() -> None:
    loaded = load_scenario(SCENARIOS / "L-08-broken.yaml")
    rejected, accepted = loaded.events
    assert isinstance(rejected.payload, PromiseRequest)
    assert rejected.payload.promised_on == date(2026, 4, 14)
    assert rejected.at.date() > rejected.payload.promised_on
    assert accepted.source.endswith("L-08-broken.yaml:17")


def test_dispute_resolution_and_resubmit_payloads() -> None:
    against = load_scenario(SCENARIOS / "L-09-against.yaml")
    resolution = against.events[-1]
    assert resolution.kind is EventKind.RESOLVE_DISPUTE
    assert isinstance(resolution.payload, DisputeResolution)
    assert resolution.payload.outcome is DisputeOutcome.CREDITOR
    resubmit = load_scenario(SCENARIOS / "L-10.yaml").events[0]
    assert (resubmit.kind, resubmit.payload) == (EventKind.RESUBMIT, None)


def test_default_policy_is_the_standard_one() -> None:
    loaded = load_scenario(SCENARIOS / "L-03.yaml")
    assert loaded.policy is not None
    assert loaded.policy.ref == "standard@v1"
    assert [r.day for r in loaded.policy.reminders] == [-3, 0, 3, 10]
    assert STANDARD_POLICY.is_file()


def test_times_keep_their_offset() -> None:
    loaded = load_scenario(SCENARIOS / "L-04.yaml")
    payment = loaded.events[0]
    assert payment.at.utcoffset() == timedelta(hours=-5)
    assert payment.at.astimezone(UTC) == datetime(2026, 3, 11, 0, 0, tzinfo=UTC)
    assert loaded.invoices[0].customer.locale == "es_CO"


BROKEN = """\
name: faults
customers:
  - {customer_id: C1, country: MX, timezone: America/Mexico_City, locale: es_MX}
  - {customer_id: C2, country: MX, timezone: Mars/Olympus, locale: es_MX}
invoices:
  - {invoice_id: I1, customer: C1, amount: "100.00", currency: MXN,
     issued_on: 2026-03-01, due_on: 2026-03-31}
  - {invoice_id: I2, customer: NOBODY, amount: "100.00", currency: MXN,
     issued_on: 2026-03-01, due_on: 2026-03-31}
  - {invoice_id: I3, customer: C1, amount: 100.5, currency: MXN,
     issued_on: 2026-03-01, due_on: 2026-03-31}
  - {invoice_id: I4, customer: C1, amount: "1.001", currency: MXN,
     issued_on: 2026-03-01, due_on: 2026-03-31}
  - {invoice_id: I5, customer: C1, amount: "10", currency: ZZZ,
     issued_on: 2026-03-01, due_on: 2026-03-31}
  - {invoice_id: I6, customer: C1, amount: "10", currency: MXN,
     issued_on: 2026-03-01, due_on: 2026-02-01}
events:
  - {at: "2026-03-10T12:00:00", invoice: I1, kind: payment, amount: "1", payment_id: P1}
  - {at: "2026-03-10T12:00:00-06:00", invoice: I9, kind: payment, amount: "1", payment_id: P2}
  - {at: "2026-03-10T12:00:00-06:00", invoice: I1, kind: refund}
  - {at: "2026-03-10T12:00:00-06:00", invoice: I1, kind: promise, promised: 2026-03-20,
     actor: a, reason: r}
  - {at: "2026-03-10T12:00:00-06:00", invoice: I1, kind: pause, reason: r}
  - {at: "2026-03-10T12:00:00-06:00", invoice: I1, kind: payment, amount: "5", payment_id: P3}
until: "2026-06-01T00:00:00Z"
"""

EXPECTED_FAULTS = [
    (4, "customers[1].timezone"),
    (8, "invoices[1].customer"),
    (10, "invoices[2].amount"),
    (12, "invoices[3].amount"),
    (14, "invoices[4].currency"),
    (16, "invoices[5]"),
    (19, "events[0].at"),
    (20, "events[1].invoice"),
    (21, "events[2].kind"),
    (22, "events[3].promised"),
    (24, "events[4].actor"),
]


def test_faults_name_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(BROKEN)
    loaded = load_scenario(path)
    assert [(e.line, e.field) for e in loaded.errors] == EXPECTED_FAULTS
    assert all(e.file == str(path) for e in loaded.errors)
    assert "no UTC offset" in loaded.errors[6].message
    # The good invoice and its good event still load.
    assert [i.invoice_id for i in loaded.invoices] == ["I1"]
    assert [e.source for e in loaded.events] == [f"{path}:25"]


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("name: x\nbogus: 1\n", 2, "bogus"),
        ("customers: []\n", 1, "name"),
        ("name: x\nuntil: 2026-06-01T00:00:00\n", 2, "until"),
        ("name: x\npolicy_file: missing.yaml\n", 2, "policy_file"),
        ("name: x\npolicy:\n  id: p\n  version: 0\n", 4, "policy.version"),
        ("name: x\nevents: [\n", 3, "(file)"),
        ("- just a list\n", 1, "(file)"),
    ],
)
def test_top_level_faults(tmp_path: Path, text: str, line: int, field: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    errors = load_scenario(path).errors
    assert [(e.line, e.field) for e in errors] == [(line, field)]


def test_policy_file_faults_name_the_policy_file(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("id: p\nversion: 1\nreminders:\n  - {day: 0, template: ''}\n")
    (tmp_path / "s.yaml").write_text("name: x\npolicy_file: p.yaml\n")
    (error,) = load_scenario(tmp_path / "s.yaml").errors
    assert error == InputError(str(tmp_path / "p.yaml"), 4, "reminders[0].template", error.message)


def test_expectations_are_typed() -> None:
    expected = load_expectations(SCENARIOS / "L-01.yaml")
    assert expected["INV-1"].status is InvoiceStatus.PAID
    assert expected["INV-1"].messages == 1
