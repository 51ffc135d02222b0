"""Checks that an OFX file's aggregates all close before `ofxparse` reads it, and where tags are.

OFX 1.x (SGML) leaves elements with a value unclosed (`<CODE>0`) but closes every aggregate
(`<STMTRS>` ... `</STMTRS>`); OFX 2.x (XML) closes both. An opening tag followed by text is a
value element; one followed by another tag is an aggregate, which must be closed. A file that
ends with an aggregate still open is cut short: `ofxparse` would misread it (a missing account,
no currency, a raw library error) instead of saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cobranza.domain.statements import StatementFileError

_TAG = re.compile(r"<(/?)([A-Za-z][\w.]*)[^<>]*>|<[?!][^>]*>")


@dataclass
class OfxOutline:
    """Where the body starts and the line of each tag's first opening (names upper case)."""

    body_line: int
    first_line: dict[str, int] = field(default_factory=dict)


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def check_nesting(source: str, text: str) -> OfxOutline:
    """The file's outline, if its `<OFX>` body is there and closes every aggregate it opens."""
    last_line = len(text.rstrip().splitlines()) or 1
    opened: list[tuple[str, int]] = []
    outline: OfxOutline | None = None
    for tag in _TAG.finditer(text):
        closing, name = tag.group(1), (tag.group(2) or "").upper()
        if not name:
            continue  # <?xml ...?>, <?OFX ...?>, <!-- ... -->
        line = _line_at(text, tag.start())
        if outline is None:
            if name != "OFX" or closing:
                continue  # OFX 1.x headers hold no tags; anything before <OFX> is not the body
            outline = OfxOutline(body_line=line)
        if closing:
            names = [n for n, _ in opened]
            if name in names:
                del opened[len(names) - 1 - names[::-1].index(name) :]
                if not opened:
                    return outline
            continue
        outline.first_line.setdefault(name, line)
        after = text.find("<", tag.end())
        if not text[tag.end() : after if after >= 0 else len(text)].strip():
            opened.append((name, line))
    if outline is None:
        raise StatementFileError(
            source, last_line, "the file ends before its <OFX> body begins: it is cut short"
        )
    raise StatementFileError(source, last_line, _unclosed(opened))


def _unclosed(opened: list[tuple[str, int]]) -> str:
    name, line = opened[-1]
    reason = f"the file ends inside <{name}> opened on line {line}, before its </{name}>"
    if len(opened) > 1:
        reason += f" (also left open: {', '.join(n for n, _ in reversed(opened[:-1]))})"
    return f"{reason}: it is cut short"
