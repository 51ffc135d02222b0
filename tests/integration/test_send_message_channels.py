"""send_message by SMS, WhatsApp and email as the worker wires it: only valid addresses leave."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from cobranza.activities.collection import CollectionActivities
from cobranza.domain.invoice import Channel, Customer
from cobranza.domain.local_methods import is_valid_clabe
from cobranza.integrations.sandbox.server import Sandbox

from .message_requests import customer, request


@pytest.mark.parametrize("channel", [Channel.SMS, Channel.WHATSAPP])
async def test_a_text_goes_to_the_normalised_number_once(
    activities: CollectionActivities, sandbox: Sandbox, channel: Channel
) -> None:
    env = ActivityEnvironment()
    receipt = await env.run(activities.send_message, request(customer(), channel))
    again = await env.run(activities.send_message, request(customer(), channel))

    assert receipt.address == "+525512345678"
    assert again.duplicate and again.provider_message_id == receipt.provider_message_id
    (sent,) = sandbox.text_messages()
    assert sent.sid == receipt.provider_message_id and sent.channel == channel.value
    # A Mexican customer can also pay by SPEI: the text carries the CLABE to transfer to.
    text, clabe = sent.body.split(" CLABE (SPEI): ")
    assert text == "cobranza demo creditor: Vencido: INV-1 $1,000.00."
    assert is_valid_clabe(clabe) and clabe.startswith("002180")
    assert sent.status_callback == sandbox.status_callback_url
    row = activities.store.get_message(receipt.dedupe_key)
    assert row is not None and (row.channel, row.address) == (channel.value, "+525512345678")
    sandbox.settle_deliveries()
    assert [r.status for r in sandbox.delivery_reports()] == ["sent", "delivered"]


async def test_email_still_goes_by_smtp_through_the_router(
    activities: CollectionActivities, sandbox: Sandbox
) -> None:
    receipt = await ActivityEnvironment().run(
        activities.send_message, request(customer(), Channel.EMAIL)
    )
    (mail,) = sandbox.messages()
    assert mail.to == "c-1@customers.example.com" == receipt.address
    assert mail.html is not None and "INV-1" in (mail.text or "")
    assert sandbox.text_messages() == []


@pytest.mark.parametrize(
    ("who", "channel", "field", "value"),
    [
        (customer(phone="55 1234"), Channel.SMS, "phone", "55 1234"),
        (customer(phone="+52 55 1234 56789"), Channel.WHATSAPP, "phone", "+52 55 1234 56789"),
        (customer(phone=None), Channel.SMS, "phone", None),
        (customer(email="c-1 at customers"), Channel.EMAIL, "email", "c-1 at customers"),
        (customer(opted_out=frozenset({"+525512345678"})), Channel.SMS, "phone", "55 1234 5678"),
    ],
)
async def test_an_unusable_address_never_reaches_a_provider(
    activities: CollectionActivities,
    sandbox: Sandbox,
    who: Customer,
    channel: Channel,
    field: str,
    value: str | None,
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.send_message, request(who, channel))

    error = caught.value
    assert error.type == "NoReachableAddress" and error.non_retryable
    assert f"cannot be reached by {channel.value}: {field}" in str(error)
    (details,) = error.details
    assert details["field"] == field and details["value"] == value
    assert details["channel"] == channel.value
    assert sandbox.text_messages() == [] and sandbox.messages() == []
    assert activities.store.get_message(request(who, channel).dedupe_key) is None
