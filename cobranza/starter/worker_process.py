"""`cobranza worker` as a process of its own, against a local stack: for chaos tests and benches.

A worker in another process can be killed with `kill -9` mid-activity, which a worker in the
caller's event loop cannot: that is how the tests show a killed worker never sends a message
or makes a charge twice.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cobranza.starter.stack import Stack


@contextmanager
def worker_process(
    stack: Stack, database_url: str, log: Path, task_queue: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a worker for `stack` (its server, sandbox and store), killed on the way out."""
    command = [
        sys.executable,
        "-m",
        "cobranza.starter.cli",
        "worker",
        "--sandbox-url",
        stack.sandbox.http_url,
        "--smtp-port",
        str(stack.sandbox.smtp_port),
        "--temporal-address",
        stack.env.client.service_client.config.target_host,
        "--task-queue",
        task_queue or stack.task_queue,
        "--database-url",
        database_url,
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
