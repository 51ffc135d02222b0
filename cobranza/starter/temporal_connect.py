"""Connecting to the workflow service; when nothing answers, an error naming the setting."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from cobranza.starter.temporal_env import connect

SDK_PREFIX = "Failed client connect: "
TCP_TIMEOUT_S = 10.0


class TemporalUnreachable(RuntimeError):
    """Nothing answered at the workflow service's address; `setting` names where it came from
    (`--temporal-address`, `COBRANZA_TEMPORAL_ADDRESS`), so the message says what to fix."""

    def __init__(self, setting: str, address: str, cause: str) -> None:
        super().__init__(f"{setting}: {address}: cannot connect ({cause})")
        self.setting = setting
        self.address = address


async def connect_named(address: str, setting: str = "--temporal-address") -> Client:
    """`connect`, with nothing listening or the SDK's RuntimeError as TemporalUnreachable."""
    await _listening(address, setting)
    try:
        return await connect(address)
    except RuntimeError as exc:
        raise TemporalUnreachable(setting, address, str(exc).removeprefix(SDK_PREFIX)) from None


async def _listening(address: str, setting: str) -> None:
    """A plain TCP connect first: when the SDK's own connect fails, its runtime thread can abort
    the interpreter at exit (PyGILState_Release, exit 134), so the common case never reaches it."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")  # an IPv6 literal, [::1]:7233
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), TCP_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise TemporalUnreachable(setting, address, str(exc) or type(exc).__name__) from None
    writer.close()
    await writer.wait_closed()
