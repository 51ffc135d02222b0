"""Every command's usage line names its arguments as placeholders in capitals (FILE), never as
the Python parameter (file)."""

from __future__ import annotations

import click
import typer

from cobranza.starter.cli import app


def leaf_commands(command: click.Command, path: list[str]) -> list[tuple[str, click.Command]]:
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        return [(" ".join(path), command)]
    found: list[tuple[str, click.Command]] = []
    for name, sub in subcommands.items():
        found.extend(leaf_commands(sub, [*path, name]))
    return found


def test_every_argument_has_a_capital_metavar() -> None:
    lower = []
    for path, command in leaf_commands(typer.main.get_command(app), ["cobranza"]):
        context = click.Context(command, info_name=path)
        for piece in command.collect_usage_pieces(context)[1:]:  # after [OPTIONS]
            if piece != piece.upper():
                lower.append(f"{path} {piece}")
    assert not lower, f"arguments named after the Python parameter: {lower}"
