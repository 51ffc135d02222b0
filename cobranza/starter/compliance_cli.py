"""The `cobranza compliance` commands: when a person may be contacted, and which rules say so."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from cobranza.domain.compliance import Decision, PastContact, first_allowed_instant, zone_of
from cobranza.domain.compliance_file import (
    ComplianceFileError,
    load_profile,
    parse_history,
    parse_profile,
)
from cobranza.domain.compliance_profile import (
    ChannelCap,
    ComplianceProfile,
    ContactCap,
    ContactChannel,
    GapRule,
    Scope,
    Window,
)
from cobranza.domain.errors import DomainError

compliance_app = typer.Typer(
    no_args_is_help=True, help="Contact rules per country: hours, holidays, frequency caps."
)


class BadInput(Exception):
    """A command-line value the command cannot use; the message says which and why."""


@compliance_app.command("check")
def check(
    country: Annotated[
        str, typer.Option(help="ISO 3166 code of a shipped profile (CO, MX, ...) or 'default'")
    ],
    channel: Annotated[ContactChannel, typer.Option(help="channel of the contact")],
    at: Annotated[str, typer.Option(help="desired instant, ISO 8601 with its UTC offset")],
    subdivision: Annotated[
        str | None, typer.Option(help="state or province code, e.g. SP for São Paulo")
    ] = None,
    tz: Annotated[
        str | None, typer.Option(help="customer's IANA zone (default: the country's main zone)")
    ] = None,
    history: Annotated[
        Path | None,
        typer.Option(help="YAML or JSON list of past contacts: {at, channel, direct}"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON object")] = False,
) -> None:
    """Print the first instant the law allows this contact, and every rule that moved it."""
    try:
        profile = load_profile(country, subdivision)
        desired = _instant(at)
        zone = tz or profile.timezone
        zone_of(zone)
        past = _history(history) if history else []
        decision = first_allowed_instant(profile, channel, desired, zone, past)
    except (BadInput, DomainError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(decision_json(profile, decision), indent=2, ensure_ascii=False))
    else:
        typer.echo("\n".join(describe(profile, decision)))


@compliance_app.command("show")
def show(
    profile_ref: Annotated[
        str, typer.Argument(metavar="COUNTRY|FILE", help="a country code or a profile YAML file")
    ],
    subdivision: Annotated[str | None, typer.Option(help="state or province code")] = None,
) -> None:
    """Validate a profile and print its rules in plain words, each with its legal source."""
    path = Path(profile_ref)
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            profile = parse_profile(path.read_text(encoding="utf-8"), str(path))
            profile = profile.resolve(subdivision)
        else:
            profile = load_profile(profile_ref, subdivision)
    except FileNotFoundError:
        typer.echo(f"{path}: no such file", err=True)
        raise typer.Exit(2) from None
    except ComplianceFileError as exc:
        typer.echo("\n".join(exc.problems), err=True)
        raise typer.Exit(1) from None
    except (DomainError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo("\n".join(explain(profile)))


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(
            f"--at {text!r} is not an ISO 8601 instant, e.g. 2025-03-23T10:00:00-05:00"
        ) from None
    if value.tzinfo is None:
        raise BadInput(
            f"--at {text!r} has no UTC offset: add the customer's, e.g. {text}-05:00, or Z for UTC"
        )
    return value


def _history(path: Path) -> list[PastContact]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    return parse_history(text, str(path))


def decision_json(profile: ComplianceProfile, decision: Decision) -> dict[str, object]:
    data = decision.model_dump(mode="json")
    data["required_content"] = sorted(
        {r.value for rule in profile.content_for(decision.channel) for r in rule.requires}
    )
    return data


def describe(profile: ComplianceProfile, decision: Decision) -> list[str]:
    """The decision as a person reads it: asked, allowed, and each rule that moved it."""
    lines = [
        f"{profile.ref} ({profile.name or profile.country}), {decision.channel}, "
        f"customer's zone {decision.timezone}",
        f"asked for:  {_when(decision.desired)}",
        f"allowed at: {_when(decision.allowed_at)}"
        + ("  (deferred)" if decision.deferred else "  (at once)"),
    ]
    if decision.rules:
        lines.append("moved by:")
    for rule in decision.rules:
        lines.append(
            f"  - {rule.id}: {rule.from_:%a %Y-%m-%d %H:%M} -> {rule.to:%a %Y-%m-%d %H:%M}: "
            f"{rule.why}"
        )
        lines.append(f"    source: {rule.source}")
    for content in profile.content_for(decision.channel):
        needs = ", ".join(r.value.replace("_", " ") for r in content.requires)
        lines.append(f"the message must carry: {needs} ({content.id}; {content.source})")
    return lines


def _when(at: datetime) -> str:
    return f"{at:%A %Y-%m-%d %H:%M} ({at.isoformat()})"


def explain(profile: ComplianceProfile) -> list[str]:
    """Every rule of a profile in plain words, for `cobranza compliance show`."""
    lines = [
        f"Compliance profile {profile.ref} ({profile.name or profile.country}); "
        f"main zone {profile.timezone}; channels: {', '.join(profile.channels)}"
    ]
    for hours in profile.hours:
        lines.append(f"- {hours.id}: {_channels(hours.channels)} only {_windows(hours.windows)}.")
        lines.append(f"    source: {hours.source}")
    if profile.holidays is not None:
        h = profile.holidays
        where = (
            f"{profile.country}-{profile.subdivision}" if profile.subdivision else profile.country
        )
        what = f"no contact on public holidays of {where}" if h.observe else "holidays not barred"
        lines += [f"- {h.id}: {what}.", f"    source: {h.source}"]
    for cap in profile.caps:
        lines += [f"- {cap.id}: {_cap(cap)}.", f"    source: {cap.source}"]
    for content in profile.content:
        needs = ", ".join(r.value.replace("_", " ") for r in content.requires)
        lines += [
            f"- {content.id}: {_channels(content.channels)} messages must carry {needs}.",
            f"    source: {content.source}",
        ]
    return lines


def _channels(channels: tuple[ContactChannel, ...]) -> str:
    return "/".join(channels) if channels else "every channel"


def _windows(windows: tuple[Window, ...]) -> str:
    return "; ".join(f"{', '.join(d.label for d in w.days)} {w.label}" for w in windows)


def _cap(cap: ContactCap | ChannelCap | GapRule) -> str:
    on = _channels(cap.channels)
    after = " once the person has been reached" if cap.scope is Scope.AFTER_DIRECT else ""
    if isinstance(cap, GapRule):
        since = "a conversation" if cap.since == "direct" else "the previous contact"
        return f"at least {cap.hours} h after {since} before the next by {on}{after}"
    per = cap.per.value if cap.per.value == "day" else f"{cap.week.value} week"
    what = "contact(s)" if isinstance(cap, ContactCap) else "different channel(s)"
    return f"at most {cap.max} {what} by {on} a {per}{after}"


@compliance_app.command("templates")
def templates(
    folder: Annotated[
        Path | None,
        typer.Argument(
            metavar="FOLDER",
            help="a template folder laid out <lang>/<name>.<part>.j2 (default: shipped)",
        ),
    ] = None,
) -> None:
    """Check every template against the content rules of every shipped profile."""
    # Imported here: rendering pulls in jinja and babel, which the other commands do without.
    from cobranza.integrations.messages import TEMPLATES_DIR
    from cobranza.integrations.template_check import templates_dir_problems

    root = folder or TEMPLATES_DIR
    if not root.is_dir():
        typer.echo(f"{root}: no such folder", err=True)
        raise typer.Exit(2)
    problems = templates_dir_problems(root)
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{root}: every template carries what each profile's content rules require")
