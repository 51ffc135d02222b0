"""Safe XML loading for statement files: no network, no entities, faults with file and line."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from cobranza.domain.statements import StatementFileError

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False
)


def load_xml(path: Path) -> etree._Element:
    """The root element of an XML file; a syntax error names its line."""
    try:
        return etree.parse(str(path), _PARSER).getroot()
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise StatementFileError(path.name, line, f"not well-formed XML: {exc.msg}") from exc
    except OSError as exc:
        raise StatementFileError(path.name, None, f"cannot read the file: {exc}") from exc


def local_name(element: etree._Element) -> str:
    return str(etree.QName(element).localname)


def namespace(element: etree._Element) -> str:
    return etree.QName(element).namespace or ""


def line_of(element: etree._Element) -> int:
    return int(element.sourceline or 1)
