"""SPEI CEP receipts and CFDI 4.0 (Pagos 2.0 complement, ingreso invoices) via satcfdi."""

from __future__ import annotations

import socket
from datetime import date, timedelta
from pathlib import Path

import pytest

from cobranza.domain.statements import Direction, StatementFileError
from cobranza.integrations.bank_files import read_cfdi_invoice, read_cfdi_payment, read_spei_cep

from .figures import FIXTURES, copy_with, line_containing, totals

PPD_UUID = "6d7434a6-e3f2-47ad-9e4c-08849946afa0"


def test_spei_cep_is_one_credit_with_its_tracking_key() -> None:
    statement = read_spei_cep(FIXTURES / "spei_cep/cep_spei_tercero_example.xml")
    assert len(statement.lines) == 1
    assert totals(statement) == ({"MXN": "100.00"}, {})
    assert statement.controls == {}  # a receipt declares no totals
    (entry,) = statement.lines
    assert entry.reference == "12345623452"  # clave de rastreo
    assert entry.account == "1234123412421421"
    assert (entry.counterparty_name, entry.counterparty_account) == ("SULTANITA", "25345234634254")
    assert entry.booked_on == date(2020, 4, 1)
    assert entry.remittance == "PAGO"


def test_spei_cep_with_a_bad_amount_names_its_line(tmp_path: Path) -> None:
    bad = copy_with(
        tmp_path,
        "spei_cep/cep_spei_tercero_example.xml",
        'MontoPago="100.00"',
        'MontoPago="1OO.00"',
    )
    with pytest.raises(StatementFileError) as refused:
        read_spei_cep(bad)
    # libxml2 places a multi-line start tag on the line where it closes: here the amount's.
    assert refused.value.line == line_containing(bad, 'MontoPago="1OO.00"')
    assert "'1OO.00'" in refused.value.reason


def test_pagos20_names_the_ppd_invoice_it_pays() -> None:
    statement = read_cfdi_payment(FIXTURES / "cfdi40/pago20_for_ingreso_ppd.xml")
    assert len(statement.lines) == 1
    assert totals(statement) == ({"MXN": "17852.75"}, {})
    assert statement.controls == {"MontoTotalPagos": "17852.75 MXN"}
    (entry,) = statement.lines
    assert entry.reference == PPD_UUID
    assert entry.direction is Direction.CREDIT
    assert entry.booked_on == date(2020, 1, 2)
    assert entry.account == "H&E951128469"
    assert "A123456" in entry.references  # Serie + Folio of the paid invoice
    invoice = read_cfdi_invoice(FIXTURES / "cfdi40/ingreso_ppd_stamped.xml")
    assert invoice.uuid == entry.reference
    assert invoice.total == entry.amount


def test_ingreso_invoices_ppd_and_pue() -> None:
    ppd = read_cfdi_invoice(FIXTURES / "cfdi40/ingreso_ppd_stamped.xml")
    assert (ppd.uuid, ppd.serie, ppd.folio, ppd.metodo_pago) == (PPD_UUID, "A", "123456", "PPD")
    assert (str(ppd.total), ppd.currency) == ("17852.75 MXN", "MXN")
    assert (ppd.emisor_rfc, ppd.receptor_rfc) == ("H&E951128469", "KIJ0906199R1")
    assert ppd.issued_at.utcoffset() == timedelta(hours=-6)  # Mexico City, January 2020
    pue = read_cfdi_invoice(FIXTURES / "cfdi40/ingreso_pue_stamped.xml")
    assert (pue.metodo_pago, pue.uuid) == ("PUE", "6e546729-960a-4505-8e81-2d2952145bd9")


@pytest.mark.parametrize("fixture", ["ingreso_ppd_stamped.xml", "ingreso_pue_stamped.xml"])
def test_an_invoice_is_not_payment_evidence(fixture: str) -> None:
    with pytest.raises(StatementFileError) as refused:
        read_cfdi_payment(FIXTURES / "cfdi40" / fixture)
    assert refused.value.line == 2
    assert "TipoDeComprobante is 'I'" in refused.value.reason


def test_wrong_monto_total_pagos_names_the_totales_line(tmp_path: Path) -> None:
    bad = copy_with(
        tmp_path,
        "cfdi40/pago20_for_ingreso_ppd.xml",
        'MontoTotalPagos="17852.75"',
        'MontoTotalPagos="17852.76"',
    )
    with pytest.raises(StatementFileError) as refused:
        read_cfdi_payment(bad)
    assert refused.value.line == line_containing(bad, "pago20:Totales")
    assert refused.value.reason == (
        "MontoTotalPagos: the file declares 17852.76 MXN, its entries give 17852.75 MXN"
    )


def test_satcfdi_reads_without_touching_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access while reading a CFDI")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert read_cfdi_payment(FIXTURES / "cfdi40/pago20_for_ingreso_ppd.xml").lines
    assert read_cfdi_invoice(FIXTURES / "cfdi40/ingreso_pue_stamped.xml").metodo_pago == "PUE"
