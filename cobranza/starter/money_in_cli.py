"""Options and output shared by the money-in commands (`reconcile`, `exceptions`)."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

# Off a terminal (a CI log, `> file`) rich would render 80 columns and cut dates and amounts.
PLAIN_WIDTH = 200

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="store URL (default: DATABASE_URL or SQLite)")
]
TemporalAddress = Annotated[str, typer.Option("--temporal-address", help="Temporal frontend")]


def stdout_console() -> Console:
    """Rich on stdout: the terminal's width, else COLUMNS, else PLAIN_WIDTH."""
    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    return Console(width=PLAIN_WIDTH)
