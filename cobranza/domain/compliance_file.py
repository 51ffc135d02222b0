"""Reads compliance profiles and contact histories from YAML; errors name file, line, field."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from cobranza.domain.compliance import PastContact
from cobranza.domain.compliance_profile import ComplianceProfile, Loc, ProfileContradictions
from cobranza.domain.errors import DomainError
from cobranza.domain.yaml_marks import YamlSyntaxError, compose, located

PROFILES_DIR = Path(__file__).resolve().parent.parent / "compliance"
DEFAULT = "default"

_HISTORY = TypeAdapter(list[PastContact])
_CAP_KINDS = frozenset({"contacts", "channels", "gap"})


class ComplianceFileError(DomainError):
    """A profile or history file that cannot be used; `problems` lists every fault found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(problems))


class UnknownCountry(DomainError):
    def __init__(self, country: str) -> None:
        super().__init__(
            f"no compliance profile for country {country!r}: expected one of "
            f"{', '.join(available_countries())} or {DEFAULT!r}"
        )
        self.country = country


class UnknownSubdivision(DomainError):
    pass


def parse_profile(text: str, source: str = "<profile>") -> ComplianceProfile:
    node, data = _compose(text, source)
    if not isinstance(data, dict):
        raise ComplianceFileError(
            source, [f"{source}:1: a profile is a mapping with country, version, hours..."]
        )
    try:
        return ComplianceProfile.model_validate(data)
    except ValidationError as exc:
        raise ComplianceFileError(source, _problems(exc, node, source)) from exc


def parse_history(text: str, source: str = "<history>") -> list[PastContact]:
    """A list of past contacts: each with at (ISO 8601 with offset), channel and direct."""
    node, data = _compose(text, source)
    if data is None:
        return []
    if not isinstance(data, list):
        raise ComplianceFileError(
            source, [f"{source}:1: a history is a list of {{at, channel, direct}} entries"]
        )
    try:
        return _HISTORY.validate_python(data)
    except ValidationError as exc:
        raise ComplianceFileError(source, _problems(exc, node, source)) from exc


def available_countries() -> list[str]:
    return sorted(p.stem.upper() for p in PROFILES_DIR.glob("*.yaml") if p.stem != DEFAULT)


def load_profile(country: str, subdivision: str | None = None) -> ComplianceProfile:
    """The shipped profile of a country (or 'default'), narrowed to a subdivision when given."""
    profile = _shipped(country.strip().lower())
    try:
        return profile.resolve(subdivision)
    except ValueError as exc:
        raise UnknownSubdivision(str(exc)) from exc


def subdivisions_with_rules(country: str) -> list[str]:
    """The states of a shipped profile that have rules of their own (SP in Brazil)."""
    return sorted(_shipped(country.strip().lower()).subdivisions)


def profile_for(country: str, subdivision: str | None = None) -> ComplianceProfile:
    """The profile for a customer's country, the permissive default when none is shipped."""
    try:
        return load_profile(country, subdivision)
    except UnknownCountry:
        return load_profile(DEFAULT)
    except UnknownSubdivision:
        return load_profile(country)


@lru_cache(maxsize=32)
def _shipped(name: str) -> ComplianceProfile:
    path = PROFILES_DIR / f"{name}.yaml"
    if not name.isalpha() or not path.is_file():
        raise UnknownCountry(name.upper())
    return parse_profile(path.read_text(encoding="utf-8"), str(path))


def _compose(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    try:
        return compose(text, source)
    except YamlSyntaxError as exc:
        raise ComplianceFileError(source, [str(exc)]) from exc


def _problems(exc: ValidationError, node: yaml.Node | None, source: str) -> list[str]:
    errors = exc.errors()
    problems = []
    for err in errors:
        if _echo_of_an_item(err, errors):
            continue
        loc = _without_tags(tuple(err["loc"]))
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, ProfileContradictions):
            problems += [located(source, node, (*loc, *where), msg) for where, msg in cause.found]
        else:
            problems.append(located(source, node, loc, err["msg"].removeprefix("Value error, ")))
    return problems


def _echo_of_an_item(err: ErrorDetails, errors: list[ErrorDetails]) -> bool:
    """A list reported too short only because one of its own items failed: say the item only."""
    loc = tuple(err["loc"])
    return err["type"] == "too_short" and any(
        tuple(other["loc"])[: len(loc)] == loc and len(other["loc"]) > len(loc) for other in errors
    )


def _without_tags(loc: Loc) -> Loc:
    """Drop the cap kind pydantic puts in a location (caps.0.gap.hours -> caps.0.hours)."""
    return tuple(
        p
        for i, p in enumerate(loc)
        if not (i >= 2 and p in _CAP_KINDS and loc[i - 2] == "caps" and isinstance(loc[i - 1], int))
    )
