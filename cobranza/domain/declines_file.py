"""Reads the decline taxonomy and retry rules from YAML; errors name file, line and field."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cobranza.domain.declines import RetryRules
from cobranza.domain.errors import DomainError

SHIPPED = Path(__file__).resolve().parent.parent / "payments" / "declines.yaml"


class DeclinesFileError(DomainError):
    """A declines file that cannot be used; `problems` lists every fault found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(problems))


def parse_retry_rules(text: str, source: str = "<declines>") -> RetryRules:
    try:
        node = yaml.compose(text)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise DeclinesFileError(source, [f"{where}: not valid YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise DeclinesFileError(
            source, [f"{source}:1: a declines file is a mapping with version, gateway, visa..."]
        )
    try:
        return RetryRules.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc) or "(file)"
            line = _line_of(node, loc)
            where = f"{source}:{line}" if line else source
            problems.append(f"{where}: {field}: {err['msg'].removeprefix('Value error, ')}")
        raise DeclinesFileError(source, problems) from exc


@lru_cache(maxsize=1)
def load_retry_rules() -> RetryRules:
    """The shipped taxonomy and rules, cobranza/payments/declines.yaml."""
    return parse_retry_rules(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED))


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Line (1-based) of the YAML node at a location, as deep as the location resolves."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == part), None)
            if pair is None:
                break
            # The key's line: a block list or mapping only starts on the line after it.
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
