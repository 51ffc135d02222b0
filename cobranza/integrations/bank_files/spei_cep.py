"""Mexican SPEI CEP (Banxico's Comprobante Electrónico de Pago) as one line of money in.

The CEP proves a transfer to the beneficiary's account: amount (MontoPago, MXN), operation
date, clave de rastreo (the transfer's trace key), concept, and both accounts (CLABEs, kept as
the strings printed). A receipt declares no control totals.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from lxml import etree

from cobranza.domain.statements import Direction, Statement, StatementFileError
from cobranza.integrations.bank_files.assembly import StatementBuilder, money
from cobranza.integrations.bank_files.xml_source import line_of, load_xml, local_name


def _attribute(source: str, element: etree._Element, name: str) -> str:
    value = (element.get(name) or "").strip()
    if not value:
        raise StatementFileError(
            source, line_of(element), f"{local_name(element)} has no {name} attribute"
        )
    return value


def read_spei_cep(path: Path) -> Statement:
    """Read a SPEI_Tercero CEP XML into a Statement with one credit line."""
    root = load_xml(path)
    if local_name(root) != "SPEI_Tercero":
        raise StatementFileError(
            path.name, line_of(root), f"root element is {local_name(root)}, not SPEI_Tercero"
        )
    beneficiary = next((e for e in root if local_name(e) == "Beneficiario"), None)
    payer = next((e for e in root if local_name(e) == "Ordenante"), None)
    if beneficiary is None or payer is None:
        raise StatementFileError(
            path.name, line_of(root), "a CEP needs both Beneficiario and Ordenante"
        )
    source = path.name
    tracking = _attribute(source, root, "claveRastreo")
    raw_date = _attribute(source, root, "FechaOperacion")
    try:
        operated = date.fromisoformat(raw_date)
    except ValueError as exc:
        raise StatementFileError(
            source, line_of(root), f"FechaOperacion {raw_date!r} is not YYYY-MM-DD"
        ) from exc
    account = _attribute(source, beneficiary, "Cuenta")
    amount = money(
        source, line_of(beneficiary), _attribute(source, beneficiary, "MontoPago"), "MXN"
    )
    concept = (beneficiary.get("Concepto") or "").strip()
    builder = StatementBuilder.for_file(path, "spei_cep", "spei")
    builder.add(
        line=line_of(root),
        account=account,
        direction=Direction.CREDIT,
        amount=amount,
        booked_on=operated,
        value_on=operated,
        bank_ref=f"{raw_date}/{payer.get('BancoEmisor', '').strip()}/{tracking}",
        reference=tracking,
        references=(concept,) if concept else (),
        remittance=concept,
        counterparty_name=(payer.get("Nombre") or "").strip() or None,
        counterparty_account=(payer.get("Cuenta") or "").strip() or None,
        bank_code=(root.get("ClaveSPEI") or "").strip() or None,
    )
    return builder.build(account=account, currency="MXN")
