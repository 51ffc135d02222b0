"""Reads segmentation rules from YAML; every error names the file, line, field and reason."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from cobranza.domain.errors import DomainError
from cobranza.domain.segmentation import (
    KNOWN_POLICIES,
    AmountRange,
    Conditions,
    IntRange,
    Loc,
    SegmentContradictions,
    SegmentRule,
    SegmentRules,
)
from cobranza.domain.yaml_marks import YamlSyntaxError, compose, located


class SegmentsFileError(DomainError):
    """A segmentation file that cannot be used; `problems` lists every fault found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(problems))


def parse_segments(
    text: str, source: str = "<segments>", *, policies: Collection[str]
) -> SegmentRules:
    """Rules from YAML text; every policy they name must be one of `policies`."""
    try:
        node, data = compose(text, source)
    except YamlSyntaxError as exc:
        raise SegmentsFileError(source, [str(exc)]) from exc
    if not isinstance(data, dict):
        raise SegmentsFileError(
            source, [f"{source}:1: segmentation rules are a mapping with version, rules, default"]
        )
    try:
        return SegmentRules.model_validate(data, context={KNOWN_POLICIES: frozenset(policies)})
    except ValidationError as exc:
        raise SegmentsFileError(source, _problems(exc, node, source)) from exc


def is_segments_document(data: Any) -> bool:
    """True for parsed YAML shaped like segmentation rules, so a policy folder can skip it."""
    return isinstance(data, dict) and "rules" in data and "default" in data and "id" not in data


def _problems(exc: ValidationError, node: yaml.Node | None, source: str) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p != "[key]")
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, SegmentContradictions):
            problems += [located(source, node, (*loc, *where), msg) for where, msg in cause.found]
        else:
            problems.append(located(source, node, loc, _message(err, loc)))
    return problems


_FIELDS: list[tuple[Loc, type[Any]]] = [
    (("rules", 0, "when", "amount", "_"), AmountRange),
    (("rules", 0, "when", "_"), IntRange),
    (("rules", 0, "when"), Conditions),
    (("rules", 0), SegmentRule),
    ((), SegmentRules),
]


def _message(err: ErrorDetails, loc: Loc) -> str:
    """Pydantic's reason, with the accepted names when a field is unknown."""
    if err["type"] != "extra_forbidden":
        return str(err["msg"]).removeprefix("Value error, ")
    parent = loc[:-1]
    for shape, model in _FIELDS:
        if len(shape) == len(parent) and all(
            s == p or s in (0, "_") for s, p in zip(shape, parent, strict=True)
        ):
            accepted = ", ".join(model.model_fields)
            return f"unknown field {loc[-1]!r}: expected one of {accepted}"
    return str(err["msg"])
