"""SMS and WhatsApp adapter against the sandbox provider over real HTTP: idempotency, callbacks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from cobranza.domain.invoice import Channel
from cobranza.integrations.channels import ChannelMessenger
from cobranza.integrations.errors import PermanentIntegrationError, TransientIntegrationError
from cobranza.integrations.protocols import OutboundMessage
from cobranza.integrations.sandbox import DeliveryReport, Sandbox
from cobranza.integrations.smtp import SmtpMessenger
from cobranza.integrations.twilio import TwilioMessenger, messages_path


@pytest.fixture(scope="module")
def running() -> Iterator[Sandbox]:
    with Sandbox(seed=11) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running: Sandbox) -> Sandbox:
    running.reset()
    running.knobs.error_rate = 0.0
    return running


def twilio(sandbox: Sandbox, *, token: str | None = None) -> TwilioMessenger:
    return TwilioMessenger(
        sandbox.twilio_url,
        sandbox.twilio_account_sid,
        token or sandbox.twilio_auth_token,
        sms_from=sandbox.sms_from,
        whatsapp_from="+15005550007",
        status_callback=sandbox.status_callback_url,
    )


def text(
    to: str, key: str = "invoice-default-INV-1:step-2", channel: Channel = Channel.SMS
) -> OutboundMessage:
    return OutboundMessage(dedupe_key=key, channel=channel, to=to, text="Overdue: INV-1 $600.00.")


async def reports_for(sandbox: Sandbox, sid: str, count: int) -> list[DeliveryReport]:
    """The callbacks received for one message, once `count` of them have arrived."""
    return await asyncio.to_thread(sandbox.wait_for_delivery_reports, sid, count)


async def test_same_dedupe_key_twice_queues_one_sms(sandbox: Sandbox) -> None:
    async with twilio(sandbox) as provider:
        first = await provider.send(text("+525512345678"))
        again = await provider.send(text("+525512345678"))

    assert again == first
    assert first.provider_message_id.startswith("SM") and len(first.provider_message_id) == 34
    (stored,) = sandbox.text_messages()
    assert (stored.sid, stored.to, stored.from_) == (
        first.provider_message_id,
        "+525512345678",
        sandbox.sms_from,
    )
    assert stored.idempotency_token == "invoice-default-INV-1:step-2"
    assert stored.body == "Overdue: INV-1 $600.00."


async def test_the_provider_answers_queued_then_calls_back_delivered(sandbox: Sandbox) -> None:
    form = {"To": "+14155552671", "From": sandbox.sms_from, "Body": "hi"}
    form["StatusCallback"] = sandbox.status_callback_url
    auth = (sandbox.twilio_account_sid, sandbox.twilio_auth_token)
    async with httpx.AsyncClient(base_url=sandbox.twilio_url, auth=auth) as client:
        answer = await client.post(messages_path(sandbox.twilio_account_sid), data=form)

    assert answer.status_code == 201
    assert answer.json()["status"] == "queued"
    sid = answer.json()["sid"]
    reports = await reports_for(sandbox, sid, 2)
    assert [(r.status, r.error_code, r.to) for r in reports] == [
        ("sent", None, "+14155552671"),
        ("delivered", None, "+14155552671"),
    ]
    # The provider notes each callback's answer after the receiver stored the report: wait for
    # the delivery to finish before reading what it noted.
    await asyncio.to_thread(sandbox.settle_deliveries)
    (stored,) = sandbox.text_messages()
    assert stored.status == "delivered"
    assert stored.callbacks == ["sent -> 204", "delivered -> 204"]


@pytest.mark.parametrize(
    ("to", "statuses", "code"),
    [
        ("+573001230000", ["failed"], 30006),
        ("+573001230001", ["sent", "undelivered"], 30003),
    ],
)
async def test_test_numbers_fail_delivery_through_the_callback(
    sandbox: Sandbox, to: str, statuses: list[str], code: int
) -> None:
    async with twilio(sandbox) as provider:
        sent = await provider.send(text(to))

    reports = await reports_for(sandbox, sent.provider_message_id, len(statuses))
    assert [r.status for r in reports] == statuses
    assert reports[-1].error_code == code


async def test_whatsapp_is_addressed_with_its_scheme(sandbox: Sandbox) -> None:
    async with twilio(sandbox) as provider:
        sent = await provider.send(text("+525512345678", channel=Channel.WHATSAPP))

    (stored,) = sandbox.text_messages()
    assert stored.channel == "whatsapp"
    assert (stored.to, stored.from_) == ("whatsapp:+525512345678", "whatsapp:+15005550007")
    assert sent.address == "+525512345678"
    reports = await reports_for(sandbox, sent.provider_message_id, 2)
    assert reports[-1].to == "whatsapp:+525512345678"


async def test_a_forged_callback_is_not_recorded(sandbox: Sandbox) -> None:
    form = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": "+14155552671"}
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            sandbox.status_callback_url, data=form, headers={"X-Twilio-Signature": "forged"}
        )
    assert answer.status_code == 403
    assert sandbox.delivery_reports() == []


async def test_wrong_credentials_are_permanent(sandbox: Sandbox) -> None:
    async with twilio(sandbox, token="wrong") as provider:
        with pytest.raises(PermanentIntegrationError, match="401: 20003"):
            await provider.send(text("+525512345678"))
    assert sandbox.text_messages() == []


async def test_a_number_not_in_e164_never_leaves(sandbox: Sandbox) -> None:
    async with twilio(sandbox) as provider:
        with pytest.raises(PermanentIntegrationError, match=r"not an E\.164 number"):
            await provider.send(text("55 1234 5678"))
    assert sandbox.text_messages() == []


async def test_the_provider_refuses_a_mixed_channel_pair(sandbox: Sandbox) -> None:
    form = {"To": "whatsapp:+525512345678", "From": sandbox.sms_from, "Body": "hi"}
    auth = (sandbox.twilio_account_sid, sandbox.twilio_auth_token)
    async with httpx.AsyncClient(base_url=sandbox.twilio_url, auth=auth) as client:
        answer = await client.post(messages_path(sandbox.twilio_account_sid), data=form)
    assert answer.status_code == 400 and answer.json()["code"] == 21910


async def test_an_injected_outage_is_transient(sandbox: Sandbox) -> None:
    sandbox.knobs.error_rate = 1.0
    async with twilio(sandbox) as provider:
        with pytest.raises(TransientIntegrationError, match="503"):
            await provider.send(text("+525512345678"))


async def test_the_router_sends_each_channel_through_its_own_provider(sandbox: Sandbox) -> None:
    smtp = SmtpMessenger(sandbox.smtp_host, sandbox.smtp_port, "ar@creditor.example.com")
    async with twilio(sandbox) as provider:
        router = ChannelMessenger(
            {Channel.EMAIL: smtp, Channel.SMS: provider, Channel.WHATSAPP: provider}
        )
        mail = await router.send(
            OutboundMessage(dedupe_key="k-mail", to="ana@example.com", subject="s", text="t")
        )
        sms = await router.send(text("+525512345678", key="k-sms"))
        whatsapp = await router.send(text("+525512345678", "k-wa", Channel.WHATSAPP))

    assert [m.message_id for m in sandbox.messages()] == [mail.provider_message_id]
    assert [(m.sid, m.channel) for m in sandbox.text_messages()] == [
        (sms.provider_message_id, "sms"),
        (whatsapp.provider_message_id, "whatsapp"),
    ]


async def test_the_router_refuses_a_channel_it_was_not_given(sandbox: Sandbox) -> None:
    smtp = SmtpMessenger(sandbox.smtp_host, sandbox.smtp_port, "ar@creditor.example.com")
    router = ChannelMessenger({Channel.EMAIL: smtp})
    with pytest.raises(PermanentIntegrationError, match=r"no messenger for sms.*configured: email"):
        await router.send(text("+525512345678"))
    assert sandbox.text_messages() == []
