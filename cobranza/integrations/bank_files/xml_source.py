"""Safe XML loading for statement files: no network, no entities, faults with file and line."""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from cobranza.domain.statements import StatementFileError

_UNCLOSED = re.compile(r"Premature end of data in tag (\S+) line (\d+)")
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False
)


def load_xml(path: Path) -> etree._Element:
    """The root element of an XML file; a syntax error names its line."""
    try:
        return etree.parse(str(path), _PARSER).getroot()
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        reason = f"not well-formed XML: {exc.msg}"
        unclosed = _UNCLOSED.match(exc.msg)
        if unclosed:
            # libxml places the end after the last newline, a line the file does not show.
            line = _last_line(path)
            tag, opened = unclosed.groups()
            reason = (
                f"the file ends before its XML does, <{tag}> of line {opened} still open: "
                "it is cut short"
            )
        raise StatementFileError(path.name, line, reason) from exc
    except OSError as exc:
        raise StatementFileError(path.name, None, f"cannot read the file: {exc}") from exc


def _last_line(path: Path) -> int:
    """The number of the file's last line that holds anything."""
    return len(path.read_bytes().rstrip().splitlines()) or 1


def local_name(element: etree._Element) -> str:
    return str(etree.QName(element).localname)


def namespace(element: etree._Element) -> str:
    return etree.QName(element).namespace or ""


def line_of(element: etree._Element) -> int:
    return int(element.sourceline or 1)
