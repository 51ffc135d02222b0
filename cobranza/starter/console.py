"""Rich output on stdout that stays readable off a terminal."""

from __future__ import annotations

import os

from rich.console import Console

# Off a terminal (a CI log, `> file`) rich would render 80 columns and cut dates and amounts.
PLAIN_WIDTH = 200


def stdout_console() -> Console:
    """Rich on stdout: the terminal's width, else COLUMNS, else PLAIN_WIDTH."""
    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    return Console(width=PLAIN_WIDTH)
