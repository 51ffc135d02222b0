"""Connecting to the workflow service; when nothing answers, an error naming the setting."""

from __future__ import annotations

from temporalio.client import Client

from cobranza.starter.temporal_env import connect

SDK_PREFIX = "Failed client connect: "


class TemporalUnreachable(RuntimeError):
    """Nothing answered at the workflow service's address; `setting` names where it came from
    (`--temporal-address`, `COBRANZA_TEMPORAL_ADDRESS`), so the message says what to fix."""

    def __init__(self, setting: str, address: str, cause: str) -> None:
        super().__init__(f"{setting}: {address}: cannot connect ({cause})")
        self.setting = setting
        self.address = address


async def connect_named(address: str, setting: str = "--temporal-address") -> Client:
    """`connect`, with the SDK's RuntimeError turned into TemporalUnreachable."""
    try:
        return await connect(address)
    except RuntimeError as exc:
        raise TemporalUnreachable(setting, address, str(exc).removeprefix(SDK_PREFIX)) from None
