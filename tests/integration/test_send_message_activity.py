"""The send_message activity against the real SMTP sink and store: at most one message per key."""

from __future__ import annotations

import dataclasses
from datetime import UTC, timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from cobranza.activities.collection import SEND_WINDOW_MISSED, CollectionActivities
from cobranza.domain.contact_gate import SEND_SLACK
from cobranza.domain.invoice import Channel
from cobranza.integrations.errors import TransientIntegrationError
from cobranza.integrations.protocols import OutboundMessage
from cobranza.integrations.sandbox.server import Sandbox

from .message_requests import AT, customer, request

CUSTOMER = customer(phone=None)


def attempt(n: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=n)
    return env


async def test_a_retry_after_success_sends_nothing_more(
    activities: CollectionActivities, sandbox: Sandbox
) -> None:
    first = await attempt(1).run(activities.send_message, request(CUSTOMER, Channel.EMAIL))
    again = await attempt(2).run(activities.send_message, request(CUSTOMER, Channel.EMAIL))
    assert not first.duplicate and again.duplicate
    assert again.provider_message_id == first.provider_message_id
    assert len(sandbox.messages()) == 1


async def test_a_worker_killed_after_handing_over_never_sends_twice(
    activities: CollectionActivities, sandbox: Sandbox
) -> None:
    req = request(CUSTOMER, Channel.EMAIL)
    # What a first attempt did before its worker died: claim, then hand to the provider.
    activities.store.begin_message(
        dedupe_key=req.dedupe_key,
        tenant="default",
        customer_id="C-1",
        channel="email",
        address=CUSTOMER.email or "",
        template="overdue",
        step="overdue",
        invoice_ids=["INV-1"],
        scheduled_at=AT,
        content_sha256="x",
    )
    await activities.messenger.send(
        OutboundMessage(dedupe_key=req.dedupe_key, to=CUSTOMER.email or "", text="hello")
    )
    receipt = await attempt(2).run(activities.send_message, req)
    assert receipt.duplicate and receipt.provider_message_id == "unconfirmed"
    assert len(sandbox.messages()) == 1
    row = activities.store.get_message(req.dedupe_key)
    assert row is not None and row.status == "sending"  # evidence of an unconfirmed delivery


async def test_a_refused_send_frees_the_claim_so_the_retry_delivers(
    activities: CollectionActivities, sandbox: Sandbox
) -> None:
    sandbox.knobs.smtp_error_rate = 1.0
    with pytest.raises(TransientIntegrationError):
        await attempt(1).run(activities.send_message, request(CUSTOMER, Channel.EMAIL))
    assert activities.store.get_message(request(CUSTOMER, Channel.EMAIL).dedupe_key) is None
    sandbox.knobs.smtp_error_rate = 0.0
    receipt = await attempt(2).run(activities.send_message, request(CUSTOMER, Channel.EMAIL))
    assert not receipt.duplicate
    assert len(sandbox.messages()) == 1


def late_attempt(
    n: int, late: timedelta, *, waited: timedelta = timedelta(0)
) -> ActivityEnvironment:
    """Attempt n, scheduled `late` after the first (the retries of a provider that was down),
    started `waited` after that (no worker free to take it)."""
    env = attempt(n)
    scheduled = env.info.scheduled_time + late
    env.info = dataclasses.replace(
        env.info, current_attempt_scheduled_time=scheduled, started_time=scheduled + waited
    )
    return env


async def test_an_attempt_past_the_slack_after_its_lawful_instant_sends_nothing(
    activities: CollectionActivities, sandbox: Sandbox
) -> None:
    req = request(CUSTOMER, Channel.EMAIL).model_copy(update={"send_within": SEND_SLACK})
    with pytest.raises(ApplicationError) as refused:
        await late_attempt(7, SEND_SLACK + timedelta(seconds=1)).run(activities.send_message, req)
    assert refused.value.type == SEND_WINDOW_MISSED and refused.value.non_retryable
    assert sandbox.messages() == []
    assert activities.store.get_message(req.dedupe_key) is None  # claim freed: nothing went out


async def test_a_first_attempt_that_waited_for_a_worker_past_the_slack_sends_nothing(
    activities: CollectionActivities, sandbox: Sandbox
) -> None:
    """No worker ran for a while: the law was checked for an instant long gone."""
    req = request(CUSTOMER, Channel.EMAIL).model_copy(update={"send_within": SEND_SLACK})
    waited = SEND_SLACK + timedelta(seconds=1)
    with pytest.raises(ApplicationError) as refused:
        await late_attempt(1, timedelta(0), waited=waited).run(activities.send_message, req)
    assert refused.value.type == SEND_WINDOW_MISSED
    assert sandbox.messages() == []


async def test_a_retried_send_records_when_it_really_went_out(
    activities: CollectionActivities, sandbox: Sandbox
) -> None:
    req = request(CUSTOMER, Channel.EMAIL).model_copy(update={"send_within": SEND_SLACK})
    late = late_attempt(3, timedelta(seconds=30), waited=timedelta(seconds=10))
    receipt = await late.run(activities.send_message, req)
    assert receipt.sent_at == AT + timedelta(seconds=40)
    row = activities.store.get_message(req.dedupe_key)
    assert row is not None and row.status == "sent"
    assert row.sent_at is not None and row.sent_at.replace(tzinfo=UTC) == AT + timedelta(seconds=40)
    assert len(sandbox.messages()) == 1
