"""Measures webhook-to-invoice-closed latency on loopback: signed Stripe event in, PAID out.

One run, one in-memory dev server (`local_stack(temporal_db=None)`, store in a temporary SQLite
file), the ingress served by uvicorn in the same process on 127.0.0.1 (`cobranza.api`):

1. N invoices (USD 20.00, issued yesterday, due in 30 days, standard policy without the invoice
   email) are started and each is waited for until it sleeps on its first reminder (untimed).
2. For each invoice, C at a time: a `payment_intent.succeeded` event (the Stripe fixture of
   tests/fixtures/webhooks, its metadata naming the invoice) is signed, POSTed to
   /webhooks/stripe, and the workflow's result is awaited. Latency = from just before the POST
   to the moment the client sees the result with status PAID; the POST's own answer time
   (verify, dedupe, signal, answer) is recorded too.

It prints median, p90, p99 and max of both and writes them as JSON.

Usage: .venv/bin/python bench/webhook_latency.py [--invoices N] [--concurrency C] [--out PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

# bench/ is the script's directory, hence on sys.path: the run-and-exit helper is shared.
from lifecycle_throughput import machine_info, run_and_exit
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from cobranza.api.app import build_app
from cobranza.api.ingress import Ingress
from cobranza.api.server import ApiServer
from cobranza.api.settings import ApiSettings
from cobranza.api.signatures import sign_stripe
from cobranza.domain.invoice import Customer, Invoice, InvoiceStatus
from cobranza.domain.money import Money
from cobranza.domain.views import CollectionInput, CollectionResult
from cobranza.starter.cli import DEFAULT_POLICY, read_policy
from cobranza.starter.stack import Stack, local_stack
from cobranza.workflows.invoice import InvoiceCollectionWorkflow, start_search_attributes

ROOT = Path(__file__).parent.parent
EVENT_FILE = ROOT / "tests" / "fixtures" / "webhooks" / "stripe" / "payment_intent.succeeded.json"
DEFAULT_OUT = ROOT / "bench" / "results" / "webhook_latency.json"
SECRET = "whsec_bench"
TENANT = "bench"
ZONE = "America/Mexico_City"


def invoice_of(i: int) -> Invoice:
    today = datetime.now(ZoneInfo(ZONE)).date()
    customer = Customer(
        tenant=TENANT, customer_id=f"C{i:05d}", country="MX", timezone=ZONE, locale="es_MX"
    )
    return Invoice(
        invoice_id=f"WL-{i:05d}",
        customer=customer,
        amount=Money.parse("20.00", "USD"),
        issued_on=today - timedelta(days=1),
        due_on=today + timedelta(days=30),
    )


async def start_issued(stack: Stack, invoice: Invoice) -> WorkflowHandle[Any, Any]:
    policy = read_policy(DEFAULT_POLICY).model_copy(update={"issue_template": None})
    input = CollectionInput(
        invoice=invoice, policy=policy, contact_gate=False, task_queue=stack.task_queue
    )
    handle = await stack.env.client.start_workflow(
        InvoiceCollectionWorkflow.run,
        input,
        id=invoice.workflow_id,
        task_queue=stack.task_queue,
        search_attributes=start_search_attributes(input),
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    async for event in handle.fetch_history_events(wait_new_event=True):
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            break
    return handle


def signed_event(template: dict[str, Any], invoice: Invoice, i: int) -> tuple[bytes, str]:
    event = copy.deepcopy(template)
    event["id"] = f"evt_bench_{i:06d}"
    event["created"] = int(time.time())
    obj = event["data"]["object"]
    obj["id"] = f"pi_bench_{i:06d}"
    obj["metadata"] = {"invoice_id": invoice.invoice_id, "tenant": TENANT}
    body = json.dumps(event).encode()
    return body, sign_stripe(body, SECRET)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    template = json.loads(EVENT_FILE.read_text())
    invoices = [invoice_of(i) for i in range(args.invoices)]
    with tempfile.TemporaryDirectory(prefix="cobranza-bench-") as tmp:
        async with local_stack(temporal_db=None, database_url=f"sqlite:///{tmp}/store.db") as st:
            gate = asyncio.Semaphore(args.concurrency)

            async def issue(inv: Invoice) -> WorkflowHandle[Any, Any]:
                async with gate:
                    return await start_issued(st, inv)

            print(f"starting {len(invoices)} invoices and waiting until each is issued ...")
            handles = await asyncio.gather(*(issue(inv) for inv in invoices))
            settings = ApiSettings(stripe_webhook_secret=SECRET, default_tenant=TENANT)
            ingress = Ingress(st.env.client, st.store, TENANT)
            async with (
                httpx.AsyncClient(timeout=60) as http,
                ApiServer(build_app(settings, ingress)) as server,
            ):
                url = f"{server.url}/webhooks/stripe"

                async def pay(i: int) -> tuple[float, float]:
                    async with gate:
                        body, header = signed_event(template, invoices[i], i)
                        started = time.perf_counter()
                        response = await http.post(
                            url, content=body, headers={"Stripe-Signature": header}
                        )
                        answered = time.perf_counter()
                        if response.status_code != 200:
                            raise SystemExit(f"{invoices[i].invoice_id}: {response.text}")
                        result = await handles[i].result()
                        closed = time.perf_counter()
                        if not (
                            isinstance(result, CollectionResult)
                            and result.view.status is InvoiceStatus.PAID
                        ):
                            raise SystemExit(f"{invoices[i].invoice_id} did not close as paid")
                        return answered - started, closed - started

                print(f"posting {len(invoices)} payments, {args.concurrency} at a time ...")
                began = time.perf_counter()
                timings = await asyncio.gather(*(pay(i) for i in range(len(invoices))))
                wall = time.perf_counter() - began
    return summarise(args, [t[0] for t in timings], [t[1] for t in timings], wall)


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(cuts[89], 1),
        "p99_ms": round(cuts[98], 1),
        "max_ms": round(ms[-1], 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


def summarise(
    args: argparse.Namespace, acks: list[float], closes: list[float], wall: float
) -> dict[str, Any]:
    return {
        "benchmark": "webhook_latency",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "invoices": args.invoices,
            "concurrency": args.concurrency,
            "event": "payment_intent.succeeded (tests/fixtures/webhooks/stripe)",
            "temporal": "dev server, in memory, same process as worker and ingress",
            "store": "SQLite in a temporary directory",
            "ingress": "uvicorn on 127.0.0.1, one process, signature checked by stripe",
        },
        "webhook_to_paid": percentiles(closes),
        "post_answered": percentiles(acks),
        "payments_per_second": round(len(closes) / wall, 1) if wall else None,
        "wall_seconds": round(wall, 2),
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"{'measure':<18} {'median':>8} {'p90':>8} {'p99':>8} {'max':>8}  (ms)")
    for name in ("webhook_to_paid", "post_answered"):
        r = result[name]
        print(f"{name:<18} {r['median_ms']:>8} {r['p90_ms']:>8} {r['p99_ms']:>8} {r['max_ms']:>8}")
    print(
        f"{result['settings']['invoices']} invoices, {result['settings']['concurrency']} at a "
        f"time: {result['payments_per_second']} payments closed per second"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=300, help="N (default 300)")
    parser.add_argument("--concurrency", type=int, default=10, help="C (default 10)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args(sys.argv[1:])
    run_and_exit(lambda: asyncio.run(measure(args)), print_table, args.out)


if __name__ == "__main__":
    main()
