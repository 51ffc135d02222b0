"""`cobranza policy segments` and `choose`: which policy an invoice follows, and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from cobranza.domain.errors import DomainError
from cobranza.domain.invoice import Invoice
from cobranza.domain.policy import Policy
from cobranza.domain.policy_file import PolicyFileError
from cobranza.domain.segmentation import SegmentRules, choose_policy, explain
from cobranza.domain.segmentation_file import SegmentsFileError
from cobranza.starter.policy_catalog import SEGMENTS_FILE, policy_catalog, read_segments

SegmentsArg = Annotated[
    Path,
    typer.Argument(
        metavar="FILE", help="segmentation rules YAML (default: the shipped segments.yaml)"
    ),
]
PoliciesOpt = Annotated[
    Path | None,
    typer.Option("--policies", help="folder of the policies rules may name (default: FILE's)"),
]


def register(policy_app: typer.Typer) -> None:
    """Add these commands to `cobranza policy`."""
    policy_app.command("segments")(segments)
    policy_app.command("choose")(choose)


def segments(file: SegmentsArg = SEGMENTS_FILE, policies: PoliciesOpt = None) -> None:
    """Validate segmentation rules against a policy folder and print them in plain words."""
    rules, catalog = _load(file, policies)
    typer.echo("\n".join(explain(rules, catalog)))


def choose(
    invoice_json: Annotated[
        str, typer.Option("--invoice-json", help="the invoice as JSON, customer included")
    ],
    file: Annotated[Path, typer.Option("--segments", help="segmentation rules YAML")] = (
        SEGMENTS_FILE
    ),
    at: Annotated[
        str | None, typer.Option(help="selection instant, ISO 8601 with offset (default: now)")
    ] = None,
    policies: PoliciesOpt = None,
) -> None:
    """Print, as JSON, the policy the rules choose for one invoice and why."""
    rules, _ = _load(file, policies)
    try:
        invoice = Invoice.model_validate_json(invoice_json)
        when = datetime.now(UTC) if at is None else datetime.fromisoformat(at)
        choice = choose_policy(rules, invoice, when)
    except ValidationError as exc:
        typer.echo(f"--invoice-json: {_first_error(exc)}", err=True)
        raise typer.Exit(2) from None
    except (DomainError, ValueError) as exc:
        typer.echo(f"--at {at!r}: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(choice.model_dump(mode="json"), indent=2, ensure_ascii=False))


def _load(file: Path, policies: Path | None) -> tuple[SegmentRules, dict[str, Policy]]:
    """Rules and the catalog they resolve against; any fault ends the command with its lines."""
    try:
        catalog = policy_catalog(policies or file.parent)
        return read_segments(file, catalog), catalog
    except FileNotFoundError:
        typer.echo(f"{file}: no such file", err=True)
        raise typer.Exit(2) from None
    except (PolicyFileError, SegmentsFileError) as exc:
        typer.echo("\n".join(exc.problems), err=True)
        raise typer.Exit(1) from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "(invoice)"
    return f"{field}: {err['msg']} ({exc.error_count()} error(s))"
