"""What the matching tests compare: the compiled engine's results against the per-line rules'."""

from __future__ import annotations

from cobranza.domain.matching import LineMatch


def same(compiled: list[LineMatch], plain: list[LineMatch]) -> None:
    """The same lines in the same order, each with the same result; names the first that differs."""
    assert [r.line for r in compiled] == [r.line for r in plain]
    for c, p in zip(compiled, plain, strict=True):
        assert c == p, f"{c.line.entry_id}: compiled {c} != per line {p}"
