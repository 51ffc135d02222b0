"""Options shared by the money-in commands (`reconcile`, `exceptions`)."""

from __future__ import annotations

from typing import Annotated

import typer

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="store URL (default: DATABASE_URL or SQLite)")
]
TemporalAddress = Annotated[str, typer.Option("--temporal-address", help="Temporal frontend")]
