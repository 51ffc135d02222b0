"""charge_invoice against the sandbox and a real SQLite store: recorded once, answered from it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from cobranza.activities.charging import ChargingActivities
from cobranza.domain.charges import ChargeStatus
from cobranza.integrations.errors import TransientIntegrationError
from cobranza.integrations.sandbox.gateway import GatewayBook
from cobranza.integrations.sandbox.server import Sandbox
from cobranza.store.charges import charge_attempts
from cobranza.store.store import Store
from cobranza.worker import Endpoints, charging_activities

from .charge_requests import charge_request


@pytest.fixture
async def charging(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[ChargingActivities]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'store.db'}")
    store.create_all()
    async with charging_activities(store, Endpoints.for_sandbox(sandbox)) as built:
        yield built
    store.dispose()


async def test_a_charge_is_recorded_and_a_rerun_answers_from_the_store(
    charging: ChargingActivities, sandbox: Sandbox, book: GatewayBook
) -> None:
    request = charge_request("pm_card_visa")
    env = ActivityEnvironment()
    first = await env.run(charging.charge_invoice, request)
    assert first.status is ChargeStatus.SUCCEEDED
    # The gateway forgetting the key (Stripe prunes keys after a day) must not charge again.
    sandbox.reset()
    again = await env.run(charging.charge_invoice, request)
    assert again == first
    assert book.charges() == []
    rows = charge_attempts(charging.store, request.workflow_id)
    assert [(r.attempt, r.status, r.payment_id) for r in rows] == [
        (1, "succeeded", first.payment_id)
    ]
    assert rows[0].amount_minor == 125_000 and rows[0].currency == "MXN"


async def test_a_decline_is_recorded_with_its_codes(charging: ChargingActivities) -> None:
    request = charge_request("pm_decline_visa_46", attempt=3)
    outcome = await ActivityEnvironment().run(charging.charge_invoice, request)
    assert outcome.status is ChargeStatus.DECLINED
    (row,) = charge_attempts(charging.store)
    assert (row.attempt, row.decline_code, row.network_code, row.network) == (
        3,
        "invalid_account",
        "46",
        "visa",
    )
    assert outcome.decline is not None and row.card_fingerprint == outcome.decline.card_id


async def test_a_reused_key_with_other_money_is_not_retried(
    charging: ChargingActivities, tmp_path: Path
) -> None:
    env = ActivityEnvironment()
    await env.run(charging.charge_invoice, charge_request(minor=1000))
    with pytest.raises(ApplicationError, match="recorded for 1000 MXN") as by_store:
        await env.run(charging.charge_invoice, charge_request(minor=2000))
    assert by_store.value.non_retryable and by_store.value.type == "IdempotencyConflict"
    # A store that lost the row: the gateway's own guard refuses the key with other money.
    other = Store.from_url(f"sqlite:///{tmp_path / 'other.db'}")
    forgetful = ChargingActivities(store=other, gateway=charging.gateway)
    with pytest.raises(ApplicationError, match="idempotency_error") as by_gateway:
        await env.run(forgetful.charge_invoice, charge_request(minor=2000))
    assert by_gateway.value.non_retryable and by_gateway.value.type == "IdempotencyConflict"
    other.dispose()


async def test_transient_faults_raise_for_temporal_to_retry_and_record_nothing(
    charging: ChargingActivities, sandbox: Sandbox
) -> None:
    sandbox.knobs.error_rate = 1.0
    with pytest.raises(TransientIntegrationError):
        await ActivityEnvironment().run(charging.charge_invoice, charge_request())
    assert charge_attempts(charging.store) == []


async def test_client_errors_are_non_retryable(charging: ChargingActivities) -> None:
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(charging.charge_invoice, charge_request("pm_unknown"))
    assert raised.value.non_retryable and raised.value.type == "PermanentIntegrationError"
    assert charge_attempts(charging.store) == []
