"""SMS and WhatsApp through a Twilio-compatible Messages API, with delivery status callbacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from cobranza.domain.invoice import Channel
from cobranza.integrations.errors import (
    IntegrationError,
    PermanentIntegrationError,
    TransientIntegrationError,
)
from cobranza.integrations.protocols import OutboundMessage, SentMessage

IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
SIGNATURE_HEADER = "X-Twilio-Signature"
WHATSAPP_SCHEME = "whatsapp:"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Besides 5xx: 408 and 429 (Twilio's 20429 "too many requests") ask to try again later.
_RETRYABLE_4XX = frozenset({408, 429})


def messages_path(account_sid: str) -> str:
    return f"/2010-04-01/Accounts/{account_sid}/Messages.json"


def provider_address(channel: Channel, e164: str) -> str:
    """How the provider spells a number on a channel: `+52...` for SMS, `whatsapp:+52...`."""
    return f"{WHATSAPP_SCHEME}{e164}" if channel is Channel.WHATSAPP else e164


def request_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's X-Twilio-Signature: HMAC-SHA1 of the URL followed by the sorted form fields.

    The provider signs each status callback with it; a receiver recomputes it to trust the post.
    """
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class TwilioMessenger:
    """A `Messenger` for SMS and WhatsApp over the Twilio Messages resource (or the sandbox's).

    `sms_from` and `whatsapp_from` are the sender numbers in E.164; `status_callback` is the
    URL the provider posts delivery statuses to (MessageSid, MessageStatus, ErrorCode).
    The dedupe key travels as the idempotency token, so a retried POST creates no second SMS.
    """

    system = "twilio"

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        *,
        sms_from: str,
        whatsapp_from: str | None = None,
        status_callback: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.account_sid = account_sid
        self.sms_from = sms_from
        self.whatsapp_from = whatsapp_from or sms_from
        self.status_callback = status_callback
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, auth=httpx.BasicAuth(account_sid, auth_token)
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def send(self, message: OutboundMessage) -> SentMessage:
        if message.channel not in (Channel.SMS, Channel.WHATSAPP):
            raise PermanentIntegrationError(
                self.system, f"cannot send a {message.channel.value} message by SMS or WhatsApp"
            )
        if not E164.match(message.to):
            # The activity normalises numbers first; anything else here is a caller bug.
            raise PermanentIntegrationError(
                self.system, f"'To' {message.to!r} is not an E.164 number such as +525512345678"
            )
        sender = self.whatsapp_from if message.channel is Channel.WHATSAPP else self.sms_from
        form = {
            "To": provider_address(message.channel, message.to),
            "From": provider_address(message.channel, sender),
            "Body": message.text,
        }
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        body = await self._post(form, message.dedupe_key)
        sid = body.get("sid")
        if not isinstance(sid, str) or not sid:
            raise TransientIntegrationError(self.system, f"answer without a message sid: {body}")
        return SentMessage(provider_message_id=sid, address=message.to)

    async def _post(self, form: dict[str, str], idempotency_token: str) -> dict[str, Any]:
        path = messages_path(self.account_sid)
        try:
            response = await self._client.post(
                path, data=form, headers={IDEMPOTENCY_HEADER: idempotency_token}
            )
        except httpx.TimeoutException as exc:
            raise TransientIntegrationError(self.system, f"POST {path} timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise TransientIntegrationError(self.system, f"POST {path} failed: {exc!r}") from exc
        body = _json(response)
        if response.is_success and body is not None:
            return body
        raise _error(self.system, path, response, body)


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error(
    system: str, path: str, response: httpx.Response, body: dict[str, Any] | None
) -> IntegrationError:
    """Twilio answers `{"code": 21211, "message": ..., "more_info": ...}`; keep code and text."""
    status = response.status_code
    if body is None:
        detail = response.text[:500] or response.reason_phrase
    else:
        detail = f"{body.get('code', '')} {body.get('message', body)}".strip()
    message = f"POST {path} answered {status}: {detail}"
    if response.is_success or status >= 500 or status in _RETRYABLE_4XX:
        return TransientIntegrationError(system, message, status_code=status)
    return PermanentIntegrationError(system, message, status_code=status)
