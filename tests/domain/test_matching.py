"""The matching rules one by one: reference, partial, grouped, amount+customer, exceptions."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cobranza.domain.matching import (
    OpenItem,
    Outcome,
    Rule,
    match_lines,
    remittance_tokens,
    subsets_summing_to,
)
from cobranza.domain.matching_objects import match_objects
from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, StatementLine


def line(n: int, amount: str, currency: str = "MXN", **changes: Any) -> StatementLine:
    fields: dict[str, Any] = {
        "source": "stmt.xml",
        "line": n,
        "entry_id": f"E{n}",
        "account": "012180001234567890",
        "direction": Direction.CREDIT,
        "amount": Money.parse(amount, currency),
        "booked_on": date(2025, 3, 10),
    }
    fields.update(changes)
    return StatementLine(**fields)


def item(invoice_id: str, amount: str, currency: str = "MXN", **changes: Any) -> OpenItem:
    fields: dict[str, Any] = {
        "tenant": "acme",
        "invoice_id": invoice_id,
        "workflow_id": f"invoice-acme-{invoice_id}",
        "customer_id": "CUST-1",
        "customer_names": ("Kij, S.A. de C.V.",),
        "customer_accounts": ("002180700118359716",),
        "outstanding": Money.parse(amount, currency),
        "issued_on": date(2025, 3, 1),
        "due_on": date(2025, 3, 31),
    }
    fields.update(changes)
    return OpenItem(**fields)


def allocations(result: Any) -> list[tuple[str, str]]:
    return [(a.invoice_id, str(a.amount.to_decimal())) for a in result.allocations]


def test_exact_reference_on_the_invoice_number() -> None:
    [r] = match_lines([line(1, "100.00", reference="inv-7")], [item("INV-7", "100.00")])
    assert (r.outcome, r.rule, r.confidence) == (Outcome.MATCHED, Rule.EXACT_REFERENCE, 1.0)
    assert allocations(r) == [("INV-7", "100.00")]
    assert r.credit is None


@pytest.mark.parametrize(
    "ref",
    ["6D7434A6-E3F2-47AD-9E4C-08849946AFA0", "RF18 5390 0754 7034", "PAY-REF-0042"],
)
def test_exact_reference_on_uuid_creditor_reference_or_payment_reference(ref: str) -> None:
    refs = ("6d7434a6-e3f2-47ad-9e4c-08849946afa0", "RF18539007547034", "PAY-REF-0042")
    [r] = match_lines([line(1, "50.00", reference=ref)], [item("A-1", "50.00", references=refs)])
    assert r.rule is Rule.EXACT_REFERENCE
    assert allocations(r) == [("A-1", "50.00")]


def test_reference_inside_remittance_text_on_word_boundaries() -> None:
    items = [item("INV-10", "10.00"), item("INV-100", "100.00")]
    [r] = match_lines([line(1, "100.00", remittance="Pago factura INV-100, gracias")], items)
    assert allocations(r) == [("INV-100", "100.00")]
    assert r.confidence == 0.95
    assert "INV-10" not in remittance_tokens("pago INV-100")
    assert remittance_tokens("ref rf18 5390 0754 7034 fin")[-1] == "RF18539007547034"


def test_partial_payments_then_the_rest_close_one_invoice() -> None:
    lines = [
        line(1, "40.00", reference="INV-1"),
        line(2, "60.00", reference="INV-1", booked_on=date(2025, 3, 12)),
    ]
    first, second = match_lines(lines, [item("INV-1", "100.00")])
    assert (first.rule, allocations(first)) == (Rule.PARTIAL, [("INV-1", "40.00")])
    assert (second.rule, allocations(second)) == (Rule.EXACT_REFERENCE, [("INV-1", "60.00")])


def test_overpayment_leaves_the_surplus_as_customer_credit() -> None:
    lines = [line(1, "120.00", reference="INV-1"), line(2, "5.00", reference="INV-1")]
    over, after = match_lines(lines, [item("INV-1", "100.00")])
    assert allocations(over) == [("INV-1", "100.00")]
    assert over.credit == Money.parse("20.00", "MXN") and over.customer_id == "CUST-1"
    assert (after.outcome, after.rule, after.credit) == (
        Outcome.CREDITED,
        Rule.OVERPAYMENT,
        Money.parse("5.00", "MXN"),
    )


def test_one_transfer_naming_several_invoices_of_one_customer() -> None:
    items = [item("INV-1", "100.00"), item("INV-2", "50.00"), item("INV-3", "70.00")]
    [r] = match_lines([line(1, "150.00", remittance="INV-1 INV-2")], items)
    assert (r.rule, allocations(r)) == (Rule.GROUPED, [("INV-1", "100.00"), ("INV-2", "50.00")])


def test_grouped_by_amount_for_a_known_payer_without_references() -> None:
    items = [item("INV-1", "100.00"), item("INV-2", "50.00"), item("INV-3", "70.00")]
    [r] = match_lines([line(1, "170.00", counterparty_name="KIJ SA DE CV")], items)
    assert r.rule is Rule.GROUPED
    assert allocations(r) == [("INV-1", "100.00"), ("INV-3", "70.00")]


def test_amount_customer_and_date_window() -> None:
    items = [item("INV-1", "100.00"), item("INV-2", "75.00")]
    [r] = match_lines([line(1, "75.00", counterparty_account="002180700118359716")], items)
    assert (r.rule, r.confidence, allocations(r)) == (
        Rule.AMOUNT_CUSTOMER,
        0.8,
        [("INV-2", "75.00")],
    )
    [late] = match_lines(
        [line(1, "75.00", counterparty_account="002180700118359716", booked_on=date(2026, 1, 1))],
        items,
    )
    assert late.outcome is Outcome.EXCEPTION


def test_two_equally_good_candidates_are_an_exception_not_a_guess() -> None:
    items = [item("INV-1", "75.00"), item("INV-2", "75.00")]
    [r] = match_lines([line(1, "75.00", counterparty_name="Kij SA de CV")], items)
    assert r.outcome is Outcome.EXCEPTION
    assert r.candidates == ("INV-1", "INV-2")
    assert (r.tenant, r.customer_id) == ("acme", "CUST-1")  # their reminders wait for review
    assert r.allocations == ()


def test_short_payment_naming_two_invoices_is_an_exception() -> None:
    items = [item("INV-1", "100.00"), item("INV-2", "50.00")]
    [r] = match_lines([line(1, "120.00", remittance="INV-1 INV-2")], items)
    assert r.outcome is Outcome.EXCEPTION and "which one is short" in r.reason


def test_references_of_two_customers_are_an_exception() -> None:
    items = [item("INV-1", "100.00"), item("INV-2", "50.00", customer_id="CUST-2")]
    [r] = match_lines([line(1, "150.00", remittance="INV-1 INV-2")], items)
    assert r.outcome is Outcome.EXCEPTION and "2 customers" in r.reason


def test_currency_must_agree() -> None:
    [r] = match_lines([line(1, "100.00", "USD", reference="INV-1")], [item("INV-1", "100.00")])
    assert r.outcome is Outcome.EXCEPTION and "currency mismatch" in r.reason


def test_unknown_payer_without_reference_is_unmatched() -> None:
    [r] = match_lines([line(1, "100.00", counterparty_name="Nobody")], [item("INV-1", "100.00")])
    assert r.outcome is Outcome.EXCEPTION and "payer unknown" in r.reason


def test_debits_are_reported_not_matched() -> None:
    [r] = match_lines(
        [line(1, "100.00", direction=Direction.DEBIT, reference="INV-1")], [item("INV-1", "100.00")]
    )
    assert r.outcome is Outcome.DEBIT and r.allocations == ()


def test_output_is_in_booking_order_and_duplicates_change_nothing() -> None:
    later = line(1, "100.00", reference="INV-1", booked_on=date(2025, 3, 20))
    earlier = line(2, "30.00", reference="INV-1", booked_on=date(2025, 3, 5))
    again = line(2, "30.00", reference="INV-1", booked_on=date(2025, 3, 5), source="overlap.xml")
    results = match_lines([later, again, earlier], [item("INV-1", "100.00")])
    assert [(r.line.source, r.outcome) for r in results] == [
        ("overlap.xml", Outcome.MATCHED),
        ("stmt.xml", Outcome.DUPLICATE),
        ("stmt.xml", Outcome.MATCHED),
    ]
    assert results[0].rule is Rule.PARTIAL
    assert allocations(results[2]) == [("INV-1", "70.00")]
    assert results[2].credit == Money.parse("30.00", "MXN")


def test_subset_search_finds_at_most_the_limit_and_says_when_it_gave_up() -> None:
    assert subsets_summing_to([5, 3, 2], 5, limit=3)[0] == [(0,), (1, 2)]
    assert subsets_summing_to([1] * 40, 20, budget=50) == (
        [tuple(range(20)), (*range(19), 20)],
        False,
    )
    assert subsets_summing_to([1] * 40, 20, budget=10) == ([], True)


@pytest.mark.parametrize("engine", ["per_line", "compiled"])
def test_a_transfer_naming_its_invoice_wins_over_an_earlier_fit_by_amount(engine: str) -> None:
    """Rule 1 runs over the whole statement before rules 2 and 3: booking order between a
    reference and an amount-only guess does not decide which one the invoice gets."""
    guess = line(1, "100.00", counterparty_name="KIJ SA DE CV", booked_on=date(2025, 3, 5))
    named = line(2, "100.00", reference="INV-1", booked_on=date(2025, 3, 20))
    statement, items = [guess, named], [item("INV-1", "100.00")]
    first, second = (
        match_lines(statement, items, fast=False)
        if engine == "per_line"
        else match_objects(statement, items)
    )
    assert (first.line, second.line) == (guess, named)
    assert second.rule is Rule.EXACT_REFERENCE and allocations(second) == [("INV-1", "100.00")]
    assert first.outcome is Outcome.EXCEPTION and first.allocations == ()
    assert first.customer_id == "CUST-1" and "known but" in first.reason


def test_money_in_a_withdrawn_currency_goes_to_a_person_saying_why() -> None:
    """A known payer's DEM credit is not their credit, nor an unknown payer's money: no
    invoice can be in DEM, and the reason says so. A DEM debit is only reported."""
    items = [item("INV-1", "100.00")]
    paid = line(1, "100.00", "DEM", counterparty_account="002180700118359716")
    out = line(2, "5.00", "DEM", direction=Direction.DEBIT)
    credit, debit = match_lines([paid, out], items)
    assert (credit.outcome, credit.customer_id, credit.allocations) == (
        Outcome.EXCEPTION,
        "CUST-1",
        (),
    )
    assert credit.reason == (
        "no open invoice is in DEM, a currency withdrawn from ISO 4217 (last in use 2002-05-15)"
    )
    assert debit.outcome is not Outcome.EXCEPTION
