"""Rendered messages sent by the SMTP messenger and received by the sandbox's SMTP sink."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from cobranza.domain.effects import LineItem
from cobranza.domain.invoice import Channel, Customer
from cobranza.domain.money import Money
from cobranza.integrations.errors import PermanentIntegrationError, TransientIntegrationError
from cobranza.integrations.messages import render_message
from cobranza.integrations.protocols import OutboundMessage
from cobranza.integrations.sandbox import Sandbox
from cobranza.integrations.smtp import SmtpMessenger

SENDER = "cobranza <billing@cobranza.local>"


@pytest.fixture(scope="module")
def running() -> Iterator[Sandbox]:
    with Sandbox(seed=11) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running: Sandbox) -> Sandbox:
    running.reset()
    return running


def overdue_email(dedupe_key: str) -> OutboundMessage:
    customer = Customer(
        customer_id="C-1",
        name="Ana Gómez",
        email="ana@example.com",
        country="CO",
        timezone="America/Bogota",
        locale="es_CO",
    )
    cop = "COP"
    item = LineItem(
        invoice_id="INV-1",
        amount=Money(minor=150_000_00, currency=cop),
        outstanding=Money(minor=150_000_00, currency=cop),
        paid=Money.zero(cop),
        due_on=date(2026, 3, 10),
        days_overdue=3,
        payment_link="https://pay.example/plink_1?x=1&y=2",
    )
    rendered = render_message("overdue", customer.locale, customer, [item])
    assert customer.email is not None
    return OutboundMessage(
        dedupe_key=dedupe_key,
        to=customer.email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
    )


async def test_email_arrives_with_both_parts_and_the_dedupe_message_id(sandbox: Sandbox) -> None:
    message = overdue_email("C-1:2026-03-13T10:00")
    messenger = SmtpMessenger(sandbox.smtp_host, sandbox.smtp_port, SENDER)

    sent = await messenger.send(message)

    [received] = sandbox.messages()
    assert sent.provider_message_id == "<C-1%3A2026-03-13T10%3A00@cobranza.local>"
    assert received.message_id == sent.provider_message_id
    assert (received.to, received.rcpt_tos) == ("ana@example.com", ["ana@example.com"])
    assert received.subject == "La factura INV-1 está vencida"
    assert received.text == message.text
    assert received.html == message.html
    assert "10 de marzo de 2026" in (received.text or "")
    assert 'href="https://pay.example/plink_1?x=1&amp;y=2"' in (received.html or "")
    assert not received.resend


async def test_resend_with_the_same_dedupe_key_is_detectable(sandbox: Sandbox) -> None:
    messenger = SmtpMessenger(sandbox.smtp_host, sandbox.smtp_port, SENDER)

    first = await messenger.send(overdue_email("C-1:slot-7"))
    second = await messenger.send(overdue_email("C-1:slot-7"))
    await messenger.send(overdue_email("C-1:slot-8"))

    assert first.provider_message_id == second.provider_message_id
    assert [m.resend for m in sandbox.messages()] == [False, True, False]
    listed = httpx.get(f"{sandbox.http_url}/smtp/messages").json()
    assert [m["message_id"] for m in listed] == [m.message_id for m in sandbox.messages()]


async def test_rejected_mail_is_transient() -> None:
    with Sandbox(smtp_error_rate=1.0, seed=3) as sandbox:
        messenger = SmtpMessenger(sandbox.smtp_host, sandbox.smtp_port, SENDER)
        with pytest.raises(TransientIntegrationError) as caught:
            await messenger.send(overdue_email("C-1:slot-9"))

        assert caught.value.status_code == 451
        assert sandbox.messages() == []


async def test_sms_is_refused_by_the_email_messenger(sandbox: Sandbox) -> None:
    messenger = SmtpMessenger(sandbox.smtp_host, sandbox.smtp_port, SENDER)
    sms = overdue_email("C-1:slot-10").model_copy(update={"channel": Channel.SMS})

    with pytest.raises(PermanentIntegrationError):
        await messenger.send(sms)
