"""Email through an SMTP server, with a Message-ID derived from the dedupe key so resends show."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import quote

import aiosmtplib

from cobranza.domain.invoice import Channel
from cobranza.integrations.errors import PermanentIntegrationError, TransientIntegrationError
from cobranza.integrations.protocols import OutboundMessage, SentMessage

MESSAGE_ID_DOMAIN = "cobranza.local"
# RFC 5322 atext minus "%" (our escape) and "." (a dot-atom must not start, end or repeat one).
_ID_SAFE = "!#$&'*+-/=?^_`{|}~"


def message_id_for(dedupe_key: str) -> str:
    """The same dedupe key always yields the same Message-ID, so a receiver can spot a resend."""
    return f"<{quote(dedupe_key, safe=_ID_SAFE)}@{MESSAGE_ID_DOMAIN}>"


class SmtpMessenger:
    """A `Messenger` for email over plain SMTP (the sandbox sink, or a local relay)."""

    system = "smtp"

    def __init__(self, host: str, port: int, sender: str, *, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout

    async def send(self, message: OutboundMessage) -> SentMessage:
        if message.channel is not Channel.EMAIL:
            raise PermanentIntegrationError(
                self.system, f"cannot send a {message.channel.value} message by email"
            )
        email = self.build(message)
        try:
            await aiosmtplib.send(
                email,
                hostname=self.host,
                port=self.port,
                timeout=self.timeout,
                start_tls=False,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            raise _by_code(self.system, min(codes), f"recipient refused: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(self.system, exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientIntegrationError(
                self.system, f"{self.host}:{self.port} unreachable: {exc}"
            ) from exc
        return SentMessage(provider_message_id=email["Message-ID"], address=message.to)

    def build(self, message: OutboundMessage) -> EmailMessage:
        """The MIME message: multipart/alternative with text first, so clients prefer HTML."""
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = message_id_for(message.dedupe_key)
        email.set_content(message.text)
        if message.html is not None:
            email.add_alternative(message.html, subtype="html")
        return email


def _by_code(
    system: str, code: int, message: str
) -> TransientIntegrationError | PermanentIntegrationError:
    # SMTP reply codes: 4xx asks the client to try again later, 5xx is final.
    error_class = PermanentIntegrationError if code >= 500 else TransientIntegrationError
    return error_class(system, f"SMTP {code}: {message}", status_code=code)
