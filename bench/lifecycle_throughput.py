"""Measures invoice lifecycles per second against the engine's ceiling on one in-memory dev server.

One run, one dev server (`local_stack(temporal_db=None)`, store in a temporary SQLite file):

(a) ceiling: N trivial workflows (one activity that does nothing), served by a second Worker
    on its own task queue on the same client, started and awaited C at a time;
(b) lifecycle: the first N invoices of the IBM dataset driven by the Simulator through their
    whole lifecycle in per-workflow virtual time, C at a time, with the standard policy.

It reports invoices/s for each, the ratio lifecycle/ceiling, Temporal actions per lifecycle and
history events per lifecycle (mean and max), prints a table and writes the figures as JSON.

Counting rule for actions. The histories of a sample of closed invoices (evenly spread over the
N, default 50) are fetched, following continue-as-new from each lifecycle's first run to its
last, and these events are counted, one action each:
- WorkflowExecutionStarted (every run, so a continue-as-new run counts as a start);
- ActivityTaskScheduled, plus one more per retry (the attempt of the matching
  ActivityTaskStarted/Completed, minus one);
- TimerStarted;
- WorkflowExecutionSignaled;
- WorkflowExecutionUpdateAccepted (rejected updates leave no event and are not counted);
- UpsertWorkflowSearchAttributes;
- WorkflowExecutionContinuedAsNew;
- and, should they ever appear, MarkerRecorded (side effects, local activities),
  StartChildWorkflowExecutionInitiated, SignalExternalWorkflowExecutionInitiated and
  WorkflowPropertiesModified (memo upserts), shown as "other".
Not counted, because they leave no trace in the history: queries, heartbeats, describe calls and
the time-skipping calls the Simulator makes. Workflow tasks, completions and time-skipping
transitions are not billable and are not counted. Search attributes given at start are part of
the start. The figure is what the history shows, not a bill: Temporal Cloud's pricing decides.

Usage: .venv/bin/python bench/lifecycle_throughput.py [--invoices N] [--concurrency C] [--out PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import temporalio
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.client import Client
from temporalio.worker import Worker

# The sandbox re-imports this module to run TrivialWorkflow; the starter stack is never used
# inside a workflow, so it is passed through rather than loaded (and refused) in the sandbox.
with workflow.unsafe.imports_passed_through():
    from cobranza.starter.cli import DEFAULT_POLICY, read_policy
    from cobranza.starter.dataset import load_ibm_csv
    from cobranza.starter.simulate import SimulationRun, Simulator
    from cobranza.starter.simulation_input import SimulationInput
    from cobranza.starter.stack import Stack, local_stack
    from cobranza.starter.temporal_env import temporal_binary

ROOT = Path(__file__).parent.parent  # absolute for a script; resolve() is barred in the sandbox
DATASET = ROOT / "examples" / "ibm_accounts_receivable_late_payments.csv"
DEFAULT_OUT = ROOT / "bench" / "results" / "lifecycle_throughput.json"
CEILING_QUEUE = "bench-ceiling"
SAMPLE = 50

E = EventType
ACTIONS: dict[int, str] = {
    E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow_started",
    E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activities_scheduled",
    E.EVENT_TYPE_TIMER_STARTED: "timers_started",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signals_received",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "updates_accepted",
    E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "search_attribute_upserts",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continued_as_new",
    E.EVENT_TYPE_MARKER_RECORDED: "other",
    E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: "other",
    E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "other",
    E.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED: "other",
}
ACTION_KINDS = [*dict.fromkeys(ACTIONS.values()), "activity_retries"]


@activity.defn
async def do_nothing() -> None:
    """The cheapest possible effect, so the ceiling measures the engine and not the work."""


@workflow.defn
class TrivialWorkflow:
    """One activity and done: the least a lifecycle can cost the engine."""

    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(do_nothing, start_to_close_timeout=timedelta(seconds=30))


@dataclass
class Phase:
    """How long N workflows took, C at a time."""

    name: str
    workflows: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.workflows / self.seconds if self.seconds else 0.0


@dataclass
class HistoryCount:
    """Actions and events of one lifecycle, summed over all its runs."""

    actions: Counter[str] = field(default_factory=Counter)
    events: int = 0
    runs: int = 0

    @property
    def total_actions(self) -> int:
        return sum(self.actions.values())


async def measure_ceiling(client: Client, n: int, concurrency: int) -> Phase:
    gate = asyncio.Semaphore(concurrency)
    batch = uuid.uuid4().hex[:8]

    async def one(i: int) -> None:
        async with gate:
            await client.execute_workflow(
                TrivialWorkflow.run, id=f"bench-ceiling-{batch}-{i}", task_queue=CEILING_QUEUE
            )

    worker = Worker(
        client,
        task_queue=CEILING_QUEUE,
        workflows=[TrivialWorkflow],
        activities=[do_nothing],
        max_concurrent_activities=64,
    )
    async with worker:
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return Phase("ceiling (trivial workflow)", n, time.perf_counter() - started)


def first_invoices(sim: SimulationInput, n: int) -> SimulationInput:
    invoices = sim.invoices[:n]
    kept = {i.invoice_id for i in invoices}
    events = [e for e in sim.events if e.invoice_id in kept]
    return sim.model_copy(update={"invoices": invoices, "events": events})


async def measure_lifecycle(
    stack: Stack, sim: SimulationInput, concurrency: int
) -> tuple[Phase, SimulationRun]:
    simulator = Simulator(
        stack.env, stack.task_queue, read_policy(DEFAULT_POLICY), concurrency=concurrency
    )
    run = await simulator.run(sim)
    return Phase("lifecycle (IBM invoices)", len(run.invoices), run.elapsed_seconds), run


async def count_lifecycle(client: Client, workflow_id: str, first_run_id: str) -> HistoryCount:
    """Walk one lifecycle's runs from the first through each continue-as-new."""
    count = HistoryCount()
    run_id: str | None = first_run_id or None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        count.runs += 1
        count.events += len(history.events)
        run_id = None
        for event in history.events:
            kind = ACTIONS.get(event.event_type)
            if kind is not None:
                count.actions[kind] += 1
            if event.event_type == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                retries = event.activity_task_started_event_attributes.attempt - 1
                count.actions["activity_retries"] += max(0, retries)
            if event.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                attributes = event.workflow_execution_continued_as_new_event_attributes
                run_id = attributes.new_execution_run_id
        if run_id is None:
            return count


async def sample_histories(
    client: Client, run: SimulationRun, size: int
) -> tuple[int, list[HistoryCount]]:
    """How many lifecycles closed, and the counts of up to `size` of them spread over the run."""
    closed = []
    for inv in run.invoices:
        handle = client.get_workflow_handle(inv.invoice.workflow_id)
        desc = await handle.describe()
        if desc.status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
            closed.append(inv)
    step = max(1, len(closed) // size)
    picked = closed[::step][:size]
    counts = [
        await count_lifecycle(client, inv.invoice.workflow_id, next(iter(inv.run_ids), ""))
        for inv in picked
    ]
    return len(closed), counts


def summarise(
    ceiling: Phase,
    lifecycle: Phase,
    closed: int,
    counts: list[HistoryCount],
    args: argparse.Namespace,
) -> dict[str, Any]:
    n = len(counts) or 1
    per_kind = {k: sum(c.actions[k] for c in counts) / n for k in ACTION_KINDS}
    actions = [c.total_actions for c in counts]
    events = [c.events for c in counts]
    return {
        "benchmark": "lifecycle_throughput",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "invoices": args.invoices,
            "concurrency": args.concurrency,
            "dataset": shown(DATASET),
            "policy": shown(DEFAULT_POLICY),
            "temporal": "dev server, in memory, per-workflow time skipping enabled",
            "store": "SQLite in a temporary directory",
        },
        "ceiling": phase_json(ceiling),
        "lifecycle": phase_json(lifecycle),
        "ratio_lifecycle_to_ceiling": round(lifecycle.per_second / ceiling.per_second, 3)
        if ceiling.per_second
        else None,
        "histories": {
            "closed_lifecycles": closed,
            "sampled_lifecycles": len(counts),
            "runs_per_lifecycle_mean": round(sum(c.runs for c in counts) / n, 2),
            "actions_per_lifecycle_mean": round(sum(actions) / n, 2),
            "actions_per_lifecycle_max": max(actions, default=0),
            "actions_by_kind_mean": {k: round(v, 2) for k, v in per_kind.items()},
            "events_per_lifecycle_mean": round(sum(events) / n, 1),
            "events_per_lifecycle_max": max(events, default=0),
        },
    }


def shown(path: Path) -> str:
    """The path from the repository root, so results from two checkouts compare."""
    try:
        return str(path.resolve().relative_to(ROOT.resolve()))
    except ValueError:
        return str(path)


def phase_json(phase: Phase) -> dict[str, Any]:
    return {
        "workflows": phase.workflows,
        "seconds": round(phase.seconds, 2),
        "per_second": round(phase.per_second, 2),
    }


def machine_info() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "temporalio": temporalio.__version__,
        "temporal_cli": temporal_version(),
    }


def temporal_version() -> str:
    try:
        done = subprocess.run(
            [temporal_binary(), "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        return f"unknown ({exc})"
    return done.stdout.strip() or "unknown"


def print_table(result: dict[str, Any]) -> None:
    h = result["histories"]
    rows = [
        ("ceiling", f"{result['ceiling']['workflows']} workflows", result["ceiling"]),
        ("lifecycle", f"{result['lifecycle']['workflows']} invoices", result["lifecycle"]),
    ]
    print(f"{'phase':<10} {'count':>15} {'seconds':>8} {'per s':>8}")
    for name, count, phase in rows:
        print(f"{name:<10} {count:>15} {phase['seconds']:>8.1f} {phase['per_second']:>8.1f}")
    print(f"ratio lifecycle/ceiling: {result['ratio_lifecycle_to_ceiling']}")
    print(
        f"per lifecycle ({h['sampled_lifecycles']} histories sampled from "
        f"{h['closed_lifecycles']} closed): "
        f"actions mean {h['actions_per_lifecycle_mean']} max {h['actions_per_lifecycle_max']}; "
        f"events mean {h['events_per_lifecycle_mean']} max {h['events_per_lifecycle_max']}"
    )
    kinds = ", ".join(f"{k} {v}" for k, v in h["actions_by_kind_mean"].items() if v)
    print(f"actions by kind (mean): {kinds}")


def write_json(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(out.suffix + ".tmp")
    partial.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    partial.replace(out)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    sim = load_ibm_csv(DATASET)
    if sim.errors:
        raise SystemExit(f"{DATASET}: {len(sim.errors)} rows rejected, first: {sim.errors[0]}")
    sim = first_invoices(sim, args.invoices)
    with tempfile.TemporaryDirectory(prefix="cobranza-bench-") as tmp:
        url = f"sqlite:///{tmp}/store.db"
        async with local_stack(temporal_db=None, database_url=url) as stack:
            print(f"ceiling: {args.invoices} trivial workflows, {args.concurrency} at a time ...")
            ceiling = await measure_ceiling(stack.env.client, args.invoices, args.concurrency)
            print(f"lifecycle: {len(sim.invoices)} invoices, {args.concurrency} at a time ...")
            lifecycle, run = await measure_lifecycle(stack, sim, args.concurrency)
            print(f"counting actions in up to {args.sample} histories ...")
            closed, counts = await sample_histories(stack.env.client, run, args.sample)
    return summarise(ceiling, lifecycle, closed, counts, args)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=300, help="N (default 300)")
    parser.add_argument("--concurrency", type=int, default=100, help="C (default 100)")
    parser.add_argument("--sample", type=int, default=SAMPLE, help="histories to count")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    return parser.parse_args(argv)


def run_and_exit(
    run: Callable[[], dict[str, Any]], print_table: Callable[[dict[str, Any]], None], out: Path
) -> NoReturn:
    """Run a benchmark, print and write its figures, and exit with an honest status."""
    status = 0
    try:
        result = run()
        print_table(result)
        write_json(result, out)
        print(f"wrote {out}")
    except BaseException as exc:
        if isinstance(exc, SystemExit) and isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        else:
            traceback.print_exc()
        status = 130 if isinstance(exc, KeyboardInterrupt) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is shut down and written by now. The Temporal SDK's Rust core can still crash
    # the interpreter while it finalizes (PyGILState_Release, seen in DESIGN.md section 6), which
    # would turn a finished run into a failing exit status; skipping finalization keeps it honest.
    os._exit(status)


def main() -> None:
    args = parse_args(sys.argv[1:])
    run_and_exit(lambda: asyncio.run(bench(args)), print_table, args.out)


if __name__ == "__main__":
    main()
