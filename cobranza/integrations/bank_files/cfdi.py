"""CFDI 4.0 on `satcfdi`: Pagos 2.0 complements as payment evidence, and ingreso invoices.

A Pagos 2.0 complement (TipoDeComprobante P) pays one or more invoices: each DoctoRelacionado
becomes one credit line whose `reference` is the paid invoice's UUID (IdDocumento), whose
amount is ImpPagado in the invoice's currency (MonedaDR), booked on the payment's FechaPago.
Checked: Totales/MontoTotalPagos equals the sum of each Pago's Monto x TipoCambioP, and no
Pago pays its documents more than its Monto (ImpPagado / EquivalenciaDR, a cent of rounding
per document allowed, as the SAT's own rule).

CFDI dates carry no offset: they are local time at the place of issue. They are read in
America/Mexico_City, the zone of most of the country; the few border and Quintana Roo postal
codes on other zones are not told apart.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree
from pydantic import AwareDatetime, BaseModel, ConfigDict
from satcfdi.cfdi import CFDI

from cobranza.domain.money import Money
from cobranza.domain.statements import Direction, Statement, StatementFileError
from cobranza.integrations.bank_files.assembly import StatementBuilder, check_control, money
from cobranza.integrations.bank_files.xml_source import line_of, load_xml, local_name

CFDI_ZONE = ZoneInfo("America/Mexico_City")
_CENT = Decimal("0.01")


class CfdiInvoice(BaseModel):
    """What collections needs from a stamped CFDI 4.0 ingreso invoice."""

    model_config = ConfigDict(frozen=True)

    uuid: str
    serie: str | None
    folio: str | None
    total: Money
    currency: str
    metodo_pago: str  # PUE paid at issue, PPD paid later (expects Pagos complements)
    emisor_rfc: str
    receptor_rfc: str
    issued_at: AwareDatetime


def _code(value: Any) -> str:
    return str(getattr(value, "code", value) or "").strip()


def _load(path: Path) -> tuple[CFDI, etree._Element]:
    root = load_xml(path)  # well-formedness and line numbers; satcfdi reads the model
    if local_name(root) != "Comprobante":
        raise StatementFileError(
            path.name, line_of(root), f"root element is {local_name(root)}, not cfdi:Comprobante"
        )
    try:
        document = CFDI.from_file(str(path))
    except Exception as exc:  # satcfdi raises parser and schema errors of many kinds
        raise StatementFileError(path.name, line_of(root), f"not a readable CFDI: {exc}") from exc
    if str(document.get("Version")) != "4.0":
        raise StatementFileError(
            path.name, line_of(root), f"CFDI version {document.get('Version')}, expected 4.0"
        )
    return document, root


def _stamp_uuid(document: CFDI) -> str | None:
    complement = document.get("Complemento") or {}
    stamp = complement.get("TimbreFiscalDigital") if hasattr(complement, "get") else None
    return str(stamp["UUID"]) if stamp else None


def _issued_at(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=CFDI_ZONE)


def read_cfdi_invoice(path: Path) -> CfdiInvoice:
    """Read a stamped CFDI 4.0 ingreso (TipoDeComprobante I) invoice."""
    document, root = _load(path)
    kind = _code(document.get("TipoDeComprobante"))
    if kind != "I":
        raise StatementFileError(
            path.name, line_of(root), f"TipoDeComprobante is {kind!r}, an invoice is 'I' (ingreso)"
        )
    uuid = _stamp_uuid(document)
    if uuid is None:
        raise StatementFileError(
            path.name, line_of(root), "the invoice is not stamped (no TimbreFiscalDigital UUID)"
        )
    currency = _code(document.get("Moneda"))
    metodo = _code(document.get("MetodoPago"))
    if metodo not in ("PUE", "PPD"):
        raise StatementFileError(
            path.name, line_of(root), f"MetodoPago {metodo!r}: expected PUE or PPD"
        )
    return CfdiInvoice(
        uuid=uuid,
        serie=str(document.get("Serie")) if document.get("Serie") else None,
        folio=str(document.get("Folio")) if document.get("Folio") else None,
        total=money(path.name, line_of(root), document["Total"], currency),
        currency=currency,
        metodo_pago=metodo,
        emisor_rfc=str(document["Emisor"]["Rfc"]),
        receptor_rfc=str(document["Receptor"]["Rfc"]),
        issued_at=_issued_at(document["Fecha"]),
    )


def _elements(root: etree._Element, name: str) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str) and local_name(e) == name]


def read_cfdi_payment(path: Path) -> Statement:
    """Read a CFDI 4.0 Pagos 2.0 complement: one credit line per paid document."""
    document, root = _load(path)
    kind = _code(document.get("TipoDeComprobante"))
    if kind != "P":
        raise StatementFileError(
            path.name,
            line_of(root),
            f"TipoDeComprobante is {kind!r}, not 'P': only a payment complement (Pagos 2.0) "
            "is evidence of money received; reconcile the invoice's complement instead",
        )
    pagos = (document.get("Complemento") or {}).get("Pagos")
    pago_elements = _elements(root, "Pago")
    if not pagos or not pago_elements:
        raise StatementFileError(path.name, line_of(root), "no Pagos 2.0 complement in the CFDI")
    builder = StatementBuilder.for_file(path, "cfdi_pagos", "cfdi")
    payee = str(document["Emisor"]["Rfc"])
    stamp = _stamp_uuid(document)
    total_mxn = Decimal(0)
    pagos_list = pagos["Pago"] if isinstance(pagos["Pago"], list) else [pagos["Pago"]]
    for pago, pago_el in zip(pagos_list, pago_elements, strict=True):
        total_mxn += _read_pago(builder, path, payee, stamp, document, pago, pago_el)
    totales = next(iter(_elements(root, "Totales")), None)
    if totales is not None and pagos.get("Totales"):
        declared = pagos["Totales"]["MontoTotalPagos"]
        check_control(
            builder,
            line_of(totales),
            "MontoTotalPagos",
            money(path.name, line_of(totales), declared, "MXN"),
            money(path.name, line_of(totales), total_mxn.quantize(_CENT, ROUND_HALF_UP), "MXN"),
        )
    currencies = {line.amount.currency for line in builder.lines}
    return builder.build(
        account=payee, currency=next(iter(currencies)) if len(currencies) == 1 else None
    )


def _read_pago(
    builder: StatementBuilder,
    path: Path,
    payee: str,
    stamp: str | None,
    document: CFDI,
    pago: Any,
    pago_el: etree._Element,
) -> Decimal:
    """Add the lines of one Pago; return its Monto in MXN (for MontoTotalPagos)."""
    paid_on = _issued_at(pago["FechaPago"]).date()
    monto = Decimal(str(pago["Monto"]))
    rate = Decimal(str(pago.get("TipoCambioP") or 1))
    documents = pago.get("DoctoRelacionado") or []
    doc_elements = [e for e in pago_el if local_name(e) == "DoctoRelacionado"]
    applied = Decimal(0)
    for related, element in zip(documents, doc_elements, strict=True):
        line = line_of(element)
        currency = _code(related.get("MonedaDR"))
        paid = Decimal(str(related["ImpPagado"]))
        equivalence = Decimal(str(related.get("EquivalenciaDR") or 1))
        applied += paid / equivalence
        invoice_uuid = str(related["IdDocumento"]).strip()
        serie_folio = f"{related.get('Serie') or ''}{related.get('Folio') or ''}".strip()
        partial = str(related.get("NumParcialidad") or "")
        builder.add(
            line=line,
            account=payee,
            direction=Direction.CREDIT,
            amount=money(path.name, line, paid, currency),
            booked_on=paid_on,
            bank_ref=f"{stamp}/{invoice_uuid}/{partial}" if stamp else None,
            reference=invoice_uuid,
            references=tuple(r for r in (serie_folio, stamp or "") if r),
            remittance=f"CFDI pago {stamp or ''} parcialidad {partial}".strip(),
            counterparty_name=str(document["Receptor"].get("Nombre") or "") or None,
            counterparty_account=str(pago.get("CtaOrdenante") or "") or None,
            bank_code=_code(pago.get("FormaDePagoP")) or None,
        )
    tolerance = _CENT * max(len(doc_elements), 1)
    if applied.quantize(_CENT, ROUND_HALF_UP) > monto + tolerance:
        raise StatementFileError(
            path.name,
            line_of(pago_el),
            f"the Pago's documents are paid {applied:.2f} (ImpPagado / EquivalenciaDR) but its "
            f"Monto is {monto}",
        )
    return monto * rate
