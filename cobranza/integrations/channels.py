"""`ChannelMessenger`: one `Messenger` that hands each message to the adapter of its channel."""

from __future__ import annotations

from collections.abc import Mapping

from cobranza.domain.invoice import Channel
from cobranza.integrations.errors import PermanentIntegrationError
from cobranza.integrations.protocols import Messenger, OutboundMessage, SentMessage


class ChannelMessenger:
    """Routes by `OutboundMessage.channel`, e.g. email to SMTP, SMS and WhatsApp to Twilio.

    A channel without an adapter is refused as permanent: retrying cannot configure one.
    """

    system = "channels"

    def __init__(self, routes: Mapping[Channel, Messenger]) -> None:
        self.routes = dict(routes)

    async def send(self, message: OutboundMessage) -> SentMessage:
        messenger = self.routes.get(message.channel)
        if messenger is None:
            configured = ", ".join(sorted(c.value for c in self.routes)) or "none"
            raise PermanentIntegrationError(
                self.system,
                f"no messenger for {message.channel.value} messages; configured: {configured}",
            )
        return await messenger.send(message)
