"""Reads the decline taxonomy and retry rules from YAML; errors name file, line and field."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from cobranza.domain.declines import RetryRules
from cobranza.domain.errors import DomainError
from cobranza.domain.yaml_marks import YamlSyntaxError, compose, located

SHIPPED = Path(__file__).resolve().parent.parent / "payments" / "declines.yaml"


class DeclinesFileError(DomainError):
    """A declines file that cannot be used; `problems` lists every fault found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(problems))


def parse_retry_rules(text: str, source: str = "<declines>") -> RetryRules:
    try:
        node, data = compose(text, source)
    except YamlSyntaxError as exc:
        raise DeclinesFileError(source, [str(exc)]) from exc
    if not isinstance(data, dict):
        raise DeclinesFileError(
            source, [f"{source}:1: a declines file is a mapping with version, gateway, visa..."]
        )
    try:
        return RetryRules.model_validate(data)
    except ValidationError as exc:
        problems = [
            located(source, node, tuple(e["loc"]), e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
        raise DeclinesFileError(source, problems) from exc


@lru_cache(maxsize=1)
def load_retry_rules() -> RetryRules:
    """The shipped taxonomy and rules, cobranza/payments/declines.yaml."""
    return parse_retry_rules(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED))
