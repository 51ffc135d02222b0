"""`cobranza subscription simulate`: a subscription billed month after month in virtual time."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from cobranza.domain.billing import SubscriptionInput
from cobranza.starter.policy_catalog import STANDARD_POLICY, read_policy_file
from cobranza.starter.shutdown import Stopped, until_signalled
from cobranza.starter.stack import local_stack
from cobranza.starter.subscription_sim import MonthsRun, demo_subscription, simulate_months

subscription_app = typer.Typer(no_args_is_help=True, help="Recurring billing.")


def register(app: typer.Typer) -> None:
    """Add `cobranza subscription ...`."""
    app.add_typer(subscription_app, name="subscription")


@subscription_app.command("simulate")
def simulate(
    months: Annotated[int, typer.Option(min=1, max=120, help="periods to bill")] = 36,
    late: Annotated[
        int | None, typer.Option(help="the period paid only after the service was suspended")
    ] = 14,
    suspend_at_level: Annotated[int, typer.Option(help="dunning level that suspends")] = 1,
    policy: Annotated[Path, typer.Option(help="dunning policy of every invoice")] = STANDARD_POLICY,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Bill a monthly subscription (anchored on the 31st) on an in-memory dev server and sandbox."""
    if late is not None and not 1 <= late < months:
        typer.echo(f"--late {late}: must be a period from 1 to {months - 1}", err=True)
        raise typer.Exit(2)
    chosen = read_policy_file(policy)
    try:
        input = SubscriptionInput(
            subscription=demo_subscription(months, chosen, suspend_at_level),
            policy=chosen,
            contact_gate=False,
        )
    except ValueError as exc:
        typer.echo(f"{policy}: {exc}", err=True)
        raise typer.Exit(2) from None
    run = asyncio.run(until_signalled(_run(input, late, quiet=as_json)))
    if isinstance(run, Stopped):
        typer.echo(
            f"{run.signal.name}: stopped; worker, sandbox and dev server shut down", err=True
        )
        raise typer.Exit(run.exit_status)
    if as_json:
        typer.echo(json.dumps(run.model_dump(mode="json"), indent=2))
        return
    typer.echo(
        f"{run.invoices_issued} invoices issued ({run.distinct_invoice_workflows} distinct "
        f"invoice workflows) over {run.runs} runs; longest run {run.events_per_run_max} events"
    )
    for action in run.service_actions:
        typer.echo(f"service {action['action']} for period {action['period']}: {action['reason']}")


async def _run(input: SubscriptionInput, late: int | None, *, quiet: bool) -> MonthsRun:
    def progress(n: int, actions: list[dict[str, Any]]) -> None:
        if not quiet:
            state = actions[-1]["action"] if actions else "active"
            typer.echo(f"period {n}: issued; service {state}", err=True)

    with tempfile.TemporaryDirectory() as scratch:
        store = f"sqlite:///{Path(scratch) / 'store.db'}"
        async with local_stack(temporal_db=None, database_url=store, task_queue="subs") as stack:
            return await simulate_months(stack, input, late, progress)
