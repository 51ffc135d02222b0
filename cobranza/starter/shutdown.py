"""Turns SIGTERM and SIGINT into a cancellation of a command's main coroutine, so that what it
started (worker, sandbox, the dev server's child process) is shut down before the process ends.

Python's default for SIGTERM ends the process on the spot: no `finally`, no `async with` exit,
and the `temporal server start-dev` child is left running under init, holding its ports.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
T = TypeVar("T")


@dataclass(frozen=True)
class Stopped:
    """The main coroutine was cancelled by this signal, and everything it started shut down."""

    signal: signal.Signals

    @property
    def exit_status(self) -> int:
        """What a shell reports for a process the signal ended: 128 + its number."""
        return 128 + self.signal.value


async def until_signalled(
    main: Coroutine[Any, Any, T], signals: tuple[signal.Signals, ...] = STOP_SIGNALS
) -> T | Stopped:
    """Run main to its end, or until the first of `signals`: then cancel it, wait until its
    cleanup is done, and say which signal stopped it.

    Later signals are ignored with a note: cancelling the cleanup itself would leave behind
    exactly what it is stopping.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(main)
    received: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        if received:
            print(f"{sig.name}: already shutting down", file=sys.stderr, flush=True)
            return
        received.append(sig)
        task.cancel()

    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await task
    except asyncio.CancelledError:
        if not received:
            raise
        return Stopped(received[0])
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
