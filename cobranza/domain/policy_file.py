"""Reads policy YAML text into a Policy, turning every error into file:line: field: reason."""

from __future__ import annotations

from pydantic import ValidationError

from cobranza.domain.errors import DomainError
from cobranza.domain.policy import Policy
from cobranza.domain.yaml_marks import YamlSyntaxError, compose, located


class PolicyFileError(DomainError):
    """A policy file that cannot be used; `problems` lists every fault found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(problems))


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    try:
        node, data = compose(text, source)
    except YamlSyntaxError as exc:
        raise PolicyFileError(source, [str(exc)]) from exc
    if not isinstance(data, dict):
        raise PolicyFileError(
            source, [f"{source}:1: a policy is a mapping with id, version, reminders..."]
        )
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = [
            located(source, node, tuple(e["loc"]), e["msg"], at_key=False) for e in exc.errors()
        ]
        raise PolicyFileError(source, problems) from exc
