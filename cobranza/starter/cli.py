"""The `cobranza` command: simulate, check policies, run the live stack."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cobranza.api.cli import register as register_api_command
from cobranza.domain.declines_file import load_retry_rules
from cobranza.domain.errors import DomainError
from cobranza.domain.policy import Policy, explain
from cobranza.domain.policy_file import PolicyFileError
from cobranza.domain.segmentation_file import SegmentsFileError
from cobranza.starter.autopay_mix import AutopayMix
from cobranza.starter.compliance_cli import compliance_app
from cobranza.starter.console import stdout_console
from cobranza.starter.dataset import load_ibm_csv
from cobranza.starter.payers_cli import register as register_payer_commands
from cobranza.starter.policy_catalog import (
    SEGMENTS_FILE,
    STANDARD_POLICY,
    read_policy_file,
    segment_chooser,
)
from cobranza.starter.reconcile import register as register_reconcile_commands
from cobranza.starter.report_cli import register as register_report_command
from cobranza.starter.scenario import load_scenario
from cobranza.starter.segment_cli import register as register_segment_commands
from cobranza.starter.shutdown import Stopped, until_signalled
from cobranza.starter.simulate import PolicyChooser, SimulationRun, Simulator
from cobranza.starter.simulation_input import SimulationInput
from cobranza.starter.stack import STATE_DIR, local_stack
from cobranza.starter.store_cli import register as register_store_commands
from cobranza.starter.subscription_cli import register as register_subscription_commands
from cobranza.starter.temporal_connect import TemporalUnreachable, connect_named
from cobranza.starter.temporal_env import DevServerFailed
from cobranza.starter.up_cli import register as register_up_command
from cobranza.store.report_request import whole_second_after
from cobranza.store.report_views import emit_report
from cobranza.store.reports import build_report
from cobranza.store.schema_upgrade import StoreOutOfDate
from cobranza.store.store import Store
from cobranza.worker import TASK_QUEUE, Endpoints, run_worker

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Durable collection of money owed."
)
policy_app = typer.Typer(no_args_is_help=True, help="Dunning policies.")
app.add_typer(policy_app, name="policy")
register_segment_commands(policy_app)
app.add_typer(compliance_app, name="compliance")
register_api_command(app)
register_reconcile_commands(app)
register_report_command(app)
register_subscription_commands(app)
register_payer_commands(app)
register_up_command(app)
register_store_commands(app)
err = Console(stderr=True)
out = stdout_console()

# The name tests, replays and benches import the standard policy by.
DEFAULT_POLICY = STANDARD_POLICY


def read_policy(path: Path) -> Policy:
    """Parse a policy file and check that every template it names exists for its channels."""
    return read_policy_file(path)


@policy_app.command("check")
def policy_check(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="dunning policy YAML")],
) -> None:
    """Validate a policy file and print its schedule in plain words."""
    try:
        policy = read_policy(file)
    except FileNotFoundError:
        typer.echo(f"{file}: no such file", err=True)
        raise typer.Exit(2) from None
    except PolicyFileError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(1) from None
    typer.echo("\n".join(explain(policy)))


def _load(path: Path, country_map: Path | None = None) -> tuple[SimulationInput, bool]:
    if path.suffix.lower() == ".csv":
        return load_ibm_csv(path, country_map), True
    return load_scenario(path), False


@app.command()
def simulate(
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="IBM accounts-receivable CSV or a scenario YAML"),
    ],
    policy_file: Annotated[
        Path | None, typer.Option("--policy", help="policy YAML (default: standard)")
    ] = None,
    report_json: Annotated[Path | None, typer.Option(help="write the report as JSON")] = None,
    report_html: Annotated[Path | None, typer.Option(help="write the report as HTML")] = None,
    concurrency: Annotated[int, typer.Option(help="invoices driven at once")] = 100,
    limit: Annotated[int | None, typer.Option(help="only the first N invoices")] = None,
    temporal_db: Annotated[Path | None, typer.Option(help="dev server database file")] = STATE_DIR
    / "temporal.db",
    in_memory: Annotated[bool, typer.Option(help="keep Temporal's state in memory only")] = False,
    country_map: Annotated[
        Path | None,
        typer.Option(help="countryCode map of a CSV (default: ibm_countries.yaml beside it)"),
    ] = None,
    contact_gate: Annotated[
        bool, typer.Option(help="book every message at the customer's contact gate")
    ] = False,
    segments: Annotated[
        Path, typer.Option(help="segmentation rules choosing each invoice's policy")
    ] = SEGMENTS_FILE,
    database_url: Annotated[
        str | None, typer.Option(help="store URL (default: DATABASE_URL or SQLite)")
    ] = None,
    autopay_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="share of customers on autopay (seeded: the same ones every run), each with "
            "a sandbox test method: succeeds, insufficient funds then a new card, hard "
            "decline, or processing",
        ),
    ] = 0.0,
) -> None:
    """Run every invoice of FILE through the real workflows in virtual time and report."""
    sim, is_dataset, policy, chooser = _read_simulation(file, country_map, policy_file, segments)
    sim = _limited(sim, limit, file)
    mix = AutopayMix(autopay_share, load_retry_rules()) if autopay_share > 0 else None
    if mix is not None:
        sim = mix.with_events(sim)
    db = None if in_memory else temporal_db
    opts = RunOptions(
        concurrency, db, database_url, is_dataset, report_json, report_html, contact_gate
    )
    run = asyncio.run(until_signalled(_simulate(sim, policy, opts, chooser, mix)))
    if isinstance(run, Stopped):
        typer.echo(
            f"{run.signal.name}: stopped before the end; worker, sandbox and dev server shut down",
            err=True,
        )
        raise typer.Exit(run.exit_status)
    if not is_dataset:
        typer.echo(json.dumps(scenario_output(run), indent=2, ensure_ascii=False))
    if sim.errors:
        raise typer.Exit(3)


def _read_simulation(
    file: Path, country_map: Path | None, policy_file: Path | None, segments: Path
) -> tuple[SimulationInput, bool, Policy, PolicyChooser | None]:
    """FILE's invoices, whether it is a dataset, and its policy or chooser; exits 2 or 1 if not."""
    if not file.exists():
        typer.echo(f"{file}: no such file", err=True)
        raise typer.Exit(2)
    try:
        sim, is_dataset = _load(file, country_map)
        policy = (
            read_policy(policy_file) if policy_file else (sim.policy or read_policy(DEFAULT_POLICY))
        )
        # A policy named on the command line or in the scenario applies to every invoice;
        # otherwise each invoice gets the one its segmentation rule chooses.
        chooser = None if policy_file or sim.policy else segment_chooser(segments)
    except (PolicyFileError, SegmentsFileError, DomainError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    for problem in sim.errors:
        typer.echo(f"skipped: {problem}", err=True)
    return sim, is_dataset, policy, chooser


def _limited(sim: SimulationInput, limit: int | None, file: Path) -> SimulationInput:
    """The first `limit` invoices and their events; exits 1 when no invoice is left."""
    sim = sim.first(limit)
    if not sim.invoices:
        typer.echo(f"{file}: no valid invoice to simulate", err=True)
        raise typer.Exit(1)
    return sim


@dataclass(frozen=True)
class RunOptions:
    concurrency: int
    temporal_db: Path | None
    database_url: str | None
    is_dataset: bool
    report_json: Path | None
    report_html: Path | None
    contact_gate: bool


async def _simulate(
    sim: SimulationInput,
    policy: Policy,
    opts: RunOptions,
    chooser: PolicyChooser | None = None,
    autopay: AutopayMix | None = None,
) -> SimulationRun:
    is_dataset, report_json, report_html = opts.is_dataset, opts.report_json, opts.report_html
    async with local_stack(temporal_db=opts.temporal_db, database_url=opts.database_url) as stack:
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=not is_dataset,
        )
        with progress:
            task = progress.add_task(f"collecting {sim.name}", total=len(sim.invoices))
            simulator = Simulator(
                stack.env,
                stack.task_queue,
                policy,
                concurrency=opts.concurrency,
                on_done=lambda _: progress.advance(task),
                contact_gate=opts.contact_gate,
                chooser=chooser,
                autopay=autopay.chooser() if autopay is not None else None,
            )
            run = await simulator.run(sim)
        if is_dataset:
            # Up to the next whole second: the virtual clocks end a few microseconds apart.
            as_of = whole_second_after(max(r.view.as_of for r in run.invoices))
            tenant = sim.invoices[0].tenant
            report = build_report(stack.store, as_of=as_of, tenant=tenant)
            reused = sum(1 for r in run.invoices if r.already_done)
            note = (
                f"{len(run.invoices)} invoices in {run.elapsed_seconds:.1f} s "
                f"({run.invoices_per_second:.1f} invoices/s); "
                f"{reused} already collected by an earlier run"
            )
            emit_report(report, out, report_json, report_html, note=note)
        return run


def scenario_output(run: SimulationRun) -> dict[str, object]:
    """A scenario's JSON timeline: every effect in time order, then each invoice's final state."""
    entries = []
    for inv_run in run.invoices:
        zone = inv_run.invoice.customer.zone
        for entry in inv_run.timeline:
            entries.append(
                (
                    entry.at,
                    {
                        "at": entry.at.astimezone(zone).isoformat(),
                        "invoice": entry.invoice,
                        "kind": entry.kind.value,
                        **entry.details,
                    },
                )
            )
    entries.sort(key=lambda pair: pair[0])
    return {
        "scenario": run.name,
        "timeline": [e for _, e in entries],
        "invoices": {
            r.invoice.invoice_id: {
                **r.view.model_dump(mode="json"),
                "runs": len(set(r.run_ids)) or 1,
            }
            for r in run.invoices
        },
    }


@app.command()
def worker(
    sandbox_url: Annotated[
        str, typer.Option(help="base URL of the integration sandbox (gateway, CRM, ERP, SMS)")
    ],
    smtp_port: Annotated[int, typer.Option(help="SMTP port of the sandbox's mail sink")],
    smtp_host: Annotated[str, typer.Option(help="SMTP host of the mail sink")] = "127.0.0.1",
    temporal_address: Annotated[str, typer.Option(help="Temporal frontend")] = "127.0.0.1:7233",
    task_queue: Annotated[str, typer.Option(help="task queue to serve")] = TASK_QUEUE,
    database_url: Annotated[
        str | None, typer.Option(help="store URL (default: DATABASE_URL or SQLite)")
    ] = None,
) -> None:
    """Run one worker process against a running Temporal server and sandbox until stopped."""
    try:
        asyncio.run(
            _worker(sandbox_url, smtp_host, smtp_port, temporal_address, task_queue, database_url)
        )
    except TemporalUnreachable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


async def _worker(
    sandbox_url: str,
    smtp_host: str,
    smtp_port: int,
    address: str,
    task_queue: str,
    database_url: str | None,
) -> None:
    client = await connect_named(address)
    store = Store.from_url(database_url)
    store.create_all()
    endpoints = Endpoints.for_sandbox_at(sandbox_url, smtp_host, smtp_port)
    err.print(f"worker serving {task_queue!r} on {address}")
    try:
        await run_worker(client, store, endpoints, task_queue)
    finally:
        store.dispose()


def main() -> None:
    """The `cobranza` command: a store of an earlier version it cannot upgrade is named, not a
    traceback (commands that report it themselves, such as reconcile --json, do so first)."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except (StoreOutOfDate, DevServerFailed) as exc:
        print(exc, file=sys.stderr)  # the reason, not a traceback
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover - `python -m cobranza.starter.cli`
    main()
