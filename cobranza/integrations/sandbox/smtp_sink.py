"""An SMTP sink on loopback that parses and keeps every message instead of delivering it."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from cobranza.integrations.sandbox.state import ReceivedEmail, SandboxState


class SinkHandler:
    """aiosmtpd handler: stores each message in the sandbox state, or fails it on request."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        knobs = self.state.knobs
        delay_ms = knobs.latency_ms + knobs.smtp_latency_ms
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        if self.state.inject_fault(knobs.smtp_error_rate):
            return "451 4.3.0 sandbox injected failure (smtp_error_rate)"
        self.state.add_email(parse_email(envelope))
        return "250 Message accepted for delivery"


def parse_email(envelope: Envelope) -> ReceivedEmail:
    raw = envelope.original_content or envelope.content or b""
    if isinstance(raw, str):
        raw = raw.encode()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # guaranteed by policy.default
    return ReceivedEmail(
        mail_from=envelope.mail_from or "",
        rcpt_tos=list(envelope.rcpt_tos),
        to=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        message_id=str(message.get("Message-ID", "")),
        text=_part(message, "plain"),
        html=_part(message, "html"),
        received_at=datetime.now(UTC),
    )


def _part(message: EmailMessage, subtype: str) -> str | None:
    body = message.get_body(preferencelist=(subtype,))
    if body is None or body.get_content_subtype() != subtype:
        return None
    content: Any = body.get_content()
    # SMTP carries CRLF line ends; tests and read-outs compare with the "\n" text that was sent.
    return str(content).replace("\r\n", "\n")


class SinkController(Controller):
    """A `Controller` that also works with port 0 by reading back the port it was given."""

    def _trigger_server(self) -> None:
        # aiosmtpd connects to self.port to finish its start-up; with port 0 that must first
        # become the real port, which is only known once the listening socket exists.
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]
