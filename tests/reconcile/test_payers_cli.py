"""`cobranza invoices reference` and `cobranza payers add`, then a real `cobranza reconcile`.

What a user does, all through the command: registers a CFDI UUID for an invoice whose own
number the complement does not carry, and the name a customer pays from; the next reconcile
matches the complement by the UUID and a transfer without reference by amount and payer, and
the invoices' workflows close.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from typer.testing import CliRunner, Result

from cobranza.domain.invoice import InvoiceStatus
from cobranza.domain.money import Money
from cobranza.integrations.bank_files.cfdi import read_cfdi_invoice
from cobranza.starter.cli import app
from cobranza.starter.stack import Stack, local_stack
from cobranza.store import Store, money_in

from .test_cli import open_invoice
from .test_end_to_end import CFDI, customer, invoice, start_issued


@pytest_asyncio.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    db = tmp_path_factory.mktemp("payers") / "store.db"
    async with local_stack(
        temporal_db=None, database_url=f"sqlite:///{db}", fast_timers=True
    ) as started:
        yield started


def store_url(stack: Stack) -> str:
    return str(stack.store.engine.url)


async def cli(*args: str) -> Result:
    """The command as a user runs it; in a thread, since `reconcile` runs its own event loop."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def reconcile(stack: Stack, *args: str) -> dict[str, Any]:
    result = await cli(
        "reconcile",
        *args,
        "--json",
        "--database-url",
        store_url(stack),
        "--temporal-address",
        stack.env.client.service_client.config.target_host,
        "--crm-url",
        stack.sandbox.http_url,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


async def dry_run(stack: Stack, *args: str) -> dict[str, Any]:
    result = await cli(
        "reconcile", *args, "--dry-run", "--json", "--database-url", store_url(stack)
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


async def test_a_registered_cfdi_uuid_matches_the_pagos_complement(stack: Stack) -> None:
    cfdi = read_cfdi_invoice(CFDI / "ingreso_ppd_stamped.xml")
    # Known to the biller by a trade name: the complement's payer name does not find it.
    who = customer("uuid", cfdi.receptor_rfc, "Kij Comercial")
    # The biller's own number: the complement names the invoice only by UUID and serie/folio.
    inv = invoice(who, "FAC-2020-0001", cfdi.total, cfdi.issued_at)
    [handle] = await start_issued(stack, [inv])
    pagos = str(CFDI / "pago20_for_ingreso_ppd.xml")
    [before] = (await dry_run(stack, pagos, "--tenant", "uuid"))["lines"]
    assert before["match"] is None and before["outcome"] == "exception"

    added = await cli(
        "invoices", "reference", "--tenant", "uuid", "--invoice", inv.invoice_id, cfdi.uuid,
        "--database-url", store_url(stack),
    )  # fmt: skip

    assert added.exit_code == 0, added.output
    assert added.stdout == (
        f"registered reference '{cfdi.uuid}' for invoice FAC-2020-0001 (tenant uuid)\n"
    )
    [line] = (await reconcile(stack, pagos, "--tenant", "uuid"))["lines"]
    assert line["match"] == {
        "rule": "exact_reference",
        "confidence": 1.0,
        "invoices": [{"invoice_id": "FAC-2020-0001", "amount": "17852.75"}],
    }
    assert (await handle.result()).view.status is InvoiceStatus.PAID


async def test_a_registered_payer_name_matches_a_transfer_by_amount(
    stack: Stack, tmp_path: Path
) -> None:
    who = customer("alias", "LUNA", "Comercial Luna")
    issued = datetime(2026, 4, 1, tzinfo=UTC)
    inv = invoice(who, "L-1", Money.parse("300.00", "MXN"), issued)
    [handle] = await start_issued(stack, [inv])
    statement, mapping = transfer_without_reference(
        tmp_path, "COMERCIAL LUNA SA DE CV", "300.00", issued + timedelta(days=5)
    )
    [before] = (await dry_run(stack, statement, "--mapping", mapping, "--tenant", "alias"))["lines"]
    assert before["match"] is None

    added = await cli(
        "payers", "add", "--tenant", "alias", "--customer", "LUNA",
        "--name", "Comercial Luna SA de CV", "--account", "012180001234567890",
        "--database-url", store_url(stack),
    )  # fmt: skip

    assert added.exit_code == 0, added.output
    assert added.stdout.splitlines() == [
        "registered payer name 'Comercial Luna SA de CV' for customer LUNA (tenant alias)",
        "registered payer account '012180001234567890' for customer LUNA (tenant alias)",
    ]
    [line] = (await reconcile(stack, statement, "--mapping", mapping, "--tenant", "alias"))["lines"]
    assert line["match"]["rule"] == "amount_customer"
    assert line["match"]["invoices"] == [{"invoice_id": "L-1", "amount": "300.00"}]
    assert (await handle.result()).view.status is InvoiceStatus.PAID


def transfer_without_reference(
    folder: Path, payer: str, amount: str, booked: datetime
) -> tuple[str, str]:
    """A one-line bank CSV and its column mapping: a payer's name, an amount, no reference."""
    statement = folder / "transfers.csv"
    statement.write_text(
        f"id,date,amount,payer\nTRF-1,{booked.date().isoformat()},{amount},{payer}\n"
    )
    mapping = folder / "mapping.yaml"
    mapping.write_text(
        "account: '0001'\ndate: date\namount: amount\nfixed_currency: MXN\n"
        "counterparty: payer\nentry_id: id\n"
    )
    return str(statement), str(mapping)


# -- what the commands refuse ------------------------------------------------------------------


@pytest.fixture
def url(tmp_path: Path) -> str:
    database = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store.from_url(database)
    store.create_all()
    store.upsert_invoice(open_invoice("G-1", 100_00))
    store.dispose()
    return database


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_a_store_that_is_not_there_is_refused_and_not_created(tmp_path: Path) -> None:
    where = tmp_path / "elsewhere" / "store.db"
    options = ["--tenant", "camt", "--database-url", f"sqlite:///{where}"]

    payer = run("payers", "add", *options, "--customer", "GOMEZ", "--name", "Gomez")
    reference = run("invoices", "reference", *options, "--invoice", "G-1", "UUID-1")

    for result, command in ((payer, "payers add"), (reference, "invoices reference")):
        assert result.exit_code == 1 and result.stdout == ""
        assert result.stderr.startswith(f"{command}: store: {where} does not exist")
        assert "--database-url" in result.stderr
    assert not where.parent.exists()


def test_an_unknown_invoice_or_customer_is_named_and_nothing_is_written(url: str) -> None:
    options = ["--tenant", "camt", "--database-url", url]

    reference = run("invoices", "reference", *options, "--invoice", "G-9", "UUID-1")
    payer = run("payers", "add", *options, "--customer", "NOBODY", "--name", "Nadie")

    assert reference.exit_code == 1
    assert reference.stderr.startswith("--invoice: no invoice 'G-9' of tenant 'camt' in the store")
    assert payer.exit_code == 1
    assert payer.stderr.startswith(
        "--customer: no invoice of customer 'NOBODY' (tenant 'camt') in the store"
    )
    store = Store.from_url(url)
    try:
        [item] = money_in.open_items(store)
        assert (item.references, item.customer_names) == ((), ())
    finally:
        store.dispose()


def test_a_payer_needs_a_name_or_an_account_and_none_may_be_empty(url: str) -> None:
    options = ["--tenant", "camt", "--customer", "GOMEZ", "--database-url", url]

    neither = run("payers", "add", *options)
    blank_name = run("payers", "add", *options, "--name", " ")
    blank_ref = run("invoices", "reference", "--tenant", "camt", "--invoice", "G-1", "")

    assert (neither.exit_code, neither.stderr) == (
        2,
        "payers add: give --name or --account (each repeatable)\n",
    )
    assert (blank_name.exit_code, blank_name.stderr) == (2, "--name: must not be empty\n")
    assert (blank_ref.exit_code, blank_ref.stderr) == (2, "REF: must not be empty\n")


def test_registering_again_says_so_and_keeps_one_row(url: str) -> None:
    args = ["invoices", "reference", "--tenant", "camt", "--invoice", "G-1", "--database-url", url]

    first = run(*args, "RF18539007547034")
    second = run(*args, "RF18539007547034", "UUID-2")

    assert first.exit_code == second.exit_code == 0
    assert second.stdout.splitlines() == [
        "registered reference 'UUID-2' for invoice G-1 (tenant camt)",
        "reference 'RF18539007547034' was already registered for invoice G-1 (tenant camt)",
    ]
    store = Store.from_url(url)
    try:
        [item] = money_in.open_items(store)
        assert item.references == ("RF18539007547034", "UUID-2")
    finally:
        store.dispose()
