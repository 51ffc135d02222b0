"""Gateway, CRM and ERP adapters against the sandbox over real HTTP: idempotency and faults."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cobranza.domain.invoice import InvoiceStatus
from cobranza.domain.money import Money
from cobranza.integrations.errors import (
    IdempotencyConflict,
    PermanentIntegrationError,
    TransientIntegrationError,
)
from cobranza.integrations.http_clients import HttpCrm, HttpErp, HttpGateway
from cobranza.integrations.sandbox import Sandbox


@pytest.fixture(scope="module")
def running() -> Iterator[Sandbox]:
    with Sandbox(seed=7) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running: Sandbox) -> Sandbox:
    running.reset()
    return running


def mxn(minor: int) -> Money:
    return Money(minor=minor, currency="MXN")


async def test_same_key_twice_creates_one_payment_link(sandbox: Sandbox) -> None:
    async with HttpGateway(sandbox.http_url) as gateway:
        first = await gateway.create_payment_link("INV-1", "C-1", mxn(100000), "link-INV-1-1")
        again = await gateway.create_payment_link("INV-1", "C-1", mxn(100000), "link-INV-1-1")

    assert again == first
    assert first.url == f"{sandbox.http_url}/pay/{first.link_id}"
    assert [link.id for link in sandbox.payment_links()] == [first.link_id]


async def test_replay_is_flagged_and_returns_the_stored_response(sandbox: Sandbox) -> None:
    body = {
        "invoice_id": "INV-2",
        "customer_id": "C-1",
        "amount": {"minor": 1935, "currency": "JPY"},
    }
    headers = {"Idempotency-Key": "link-INV-2-1"}
    async with httpx.AsyncClient(base_url=sandbox.http_url) as client:
        first = await client.post("/gateway/v1/payment_links", json=body, headers=headers)
        second = await client.post("/gateway/v1/payment_links", json=body, headers=headers)
        page = await client.get(f"/pay/{first.json()['id']}")

    assert (first.status_code, second.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert first.json()["amount"] == {"minor": 1935, "currency": "JPY"}
    assert "1935 JPY" in page.text


async def test_same_key_with_another_body_is_a_conflict(sandbox: Sandbox) -> None:
    async with HttpGateway(sandbox.http_url) as gateway:
        await gateway.create_payment_link("INV-3", "C-1", mxn(100000), "link-INV-3-1")
        with pytest.raises(IdempotencyConflict) as caught:
            await gateway.create_payment_link("INV-3", "C-1", mxn(60000), "link-INV-3-1")

    assert caught.value.status_code == 409
    assert "link-INV-3-1" in str(caught.value)
    assert isinstance(caught.value, PermanentIntegrationError)
    assert len(sandbox.payment_links()) == 1


async def test_crm_task_is_created_once_per_key(sandbox: Sandbox) -> None:
    async with HttpCrm(sandbox.http_url) as crm:
        args = ("task-INV-4-call", "C-1", "INV-4", "collector_call", "Call C-1 about INV-4")
        first = await crm.create_task(*args, body="15 days overdue")
        again = await crm.create_task(*args, body="15 days overdue")
        other = await crm.create_task("task-INV-4-dispute", "C-1", "INV-4", "dispute", "Dispute")
        async with httpx.AsyncClient(base_url=sandbox.http_url) as client:
            listed = (await client.get("/crm/tasks")).json()

    assert first == again != other
    assert [task.id for task in sandbox.tasks()] == [first, other]
    assert [task["id"] for task in listed] == [first, other]
    assert sandbox.tasks()[0].body == "15 days overdue"


async def test_erp_posting_is_created_once_per_key(sandbox: Sandbox) -> None:
    async with HttpErp(sandbox.http_url) as erp:

        async def post_payment() -> str:
            return await erp.post(
                "erp-INV-5-pay-P-1",
                "INV-5",
                "C-1",
                "payment",
                InvoiceStatus.OPEN,
                mxn(40000),
                "P-1",
                mxn(60000),
            )

        first = await post_payment()
        again = await post_payment()
        with pytest.raises(IdempotencyConflict):
            await erp.post(
                "erp-INV-5-pay-P-1", "INV-5", "C-1", "payment", InvoiceStatus.PAID,
                mxn(100000), "P-1", mxn(0),
            )  # fmt: skip

    assert first == again
    [posting] = sandbox.postings()
    assert (posting.amount, posting.outstanding) == (mxn(40000), mxn(60000))
    assert posting.idempotency_key == "erp-INV-5-pay-P-1"


async def test_invalid_request_is_permanent(sandbox: Sandbox) -> None:
    async with HttpGateway(sandbox.http_url) as gateway:
        with pytest.raises(PermanentIntegrationError) as caught:
            await gateway.create_payment_link("INV-6", "C-1", mxn(0), "link-INV-6-1")

    assert caught.value.status_code == 422
    assert not isinstance(caught.value, TransientIntegrationError)
    assert sandbox.payment_links() == []


async def test_injected_errors_are_transient_and_leave_no_trace() -> None:
    with Sandbox(error_rate=1.0, seed=1) as sandbox:
        async with HttpGateway(sandbox.http_url) as gateway, HttpCrm(sandbox.http_url) as crm:
            with pytest.raises(TransientIntegrationError) as caught:
                await gateway.create_payment_link("INV-7", "C-1", mxn(100), "link-INV-7-1")
            with pytest.raises(TransientIntegrationError):
                await crm.create_task("task-INV-7", "C-1", "INV-7", "collector_call", "Call")

            sandbox.knobs.error_rate = 0.0
            link = await gateway.create_payment_link("INV-7", "C-1", mxn(100), "link-INV-7-1")

        assert caught.value.status_code == 503
        assert [p.id for p in sandbox.payment_links()] == [link.link_id]
        assert sandbox.tasks() == []


async def test_seeded_error_rate_fails_the_same_calls_each_run() -> None:
    async def outcomes() -> list[bool]:
        with Sandbox(error_rate=0.5, seed=42) as sandbox:
            async with HttpCrm(sandbox.http_url) as crm:
                results = []
                for n in range(12):
                    try:
                        await crm.create_task(f"k{n}", "C-1", "INV-8", "collector_call", "Call")
                        results.append(True)
                    except TransientIntegrationError:
                        results.append(False)
                return results

    first = await outcomes()
    assert first == await outcomes()
    assert True in first and False in first


async def test_timeout_is_transient_and_the_retry_reuses_the_key() -> None:
    with Sandbox(latency_ms=400, seed=2) as sandbox:
        async with HttpGateway(sandbox.http_url, timeout=0.05) as slow_client:
            with pytest.raises(TransientIntegrationError, match="timed out"):
                await slow_client.create_payment_link("INV-9", "C-1", mxn(100), "link-INV-9-1")

        sandbox.knobs.latency_ms = 0
        async with HttpGateway(sandbox.http_url) as gateway:
            link = await gateway.create_payment_link("INV-9", "C-1", mxn(100), "link-INV-9-1")
            again = await gateway.create_payment_link("INV-9", "C-1", mxn(100), "link-INV-9-1")

        assert link == again
        assert len(sandbox.payment_links()) == 1


async def test_unreachable_server_is_transient() -> None:
    with Sandbox() as sandbox:
        url = sandbox.http_url
    async with HttpErp(url) as erp:
        with pytest.raises(TransientIntegrationError):
            await erp.post("k", "INV-10", "C-1", "issued", InvoiceStatus.OPEN, None, None, mxn(1))


def test_port_zero_picks_distinct_free_ports() -> None:
    with Sandbox() as one, Sandbox() as two:
        assert one.http_url != two.http_url
        assert one.smtp_port != two.smtp_port
        assert httpx.get(f"{one.http_url}/health").json() == {"status": "ok"}
