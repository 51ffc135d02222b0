"""The sandbox gateway over HTTP: idempotency as Stripe does it, settlement, signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from cobranza.integrations.sandbox.gateway import (
    SANDBOX_API_KEY,
    SANDBOX_WEBHOOK_SECRET,
    GatewayBook,
    gateway_book,
)
from cobranza.integrations.sandbox.server import Sandbox

AUTH = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}


def intent_form(token: str = "pm_card_visa", amount: int = 5000, **extra: str) -> dict[str, str]:
    return {
        "amount": str(amount),
        "currency": "mxn",
        "customer": "C-1",
        "payment_method": token,
        "confirm": "true",
        "metadata[invoice_id]": "F-1",
        **extra,
    }


def post_intent(sandbox: Sandbox, form: dict[str, str], key: str | None) -> httpx.Response:
    headers = dict(AUTH) | ({"Idempotency-Key": key} if key else {})
    return httpx.post(f"{sandbox.http_url}/gateway/v1/payment_intents", data=form, headers=headers)


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A webhook endpoint on loopback that keeps what it got."""
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe", received
    server.shutdown()
    thread.join()


def verify_stripe_signature(header: str, body: bytes, secret: str) -> None:
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(parts["v1"], expected.hexdigest())


def test_same_key_same_parameters_returns_the_first_intent_and_charges_once(
    sandbox: Sandbox, book: GatewayBook
) -> None:
    first = post_intent(sandbox, intent_form(), "key-1")
    again = post_intent(sandbox, intent_form(), "key-1")
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == "succeeded"
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(book.charges("key-1")) == 1


def test_same_key_different_parameters_is_a_400_idempotency_error(
    sandbox: Sandbox, book: GatewayBook
) -> None:
    assert post_intent(sandbox, intent_form(amount=5000), "key-2").status_code == 200
    reused = post_intent(sandbox, intent_form(amount=7000), "key-2")
    assert reused.status_code == 400
    assert reused.json()["error"]["type"] == "idempotency_error"
    assert "key-2" in reused.json()["error"]["message"]
    assert [c.amount for c in book.charges("key-2")] == [5000]


def test_a_decline_is_replayed_too_and_charged_once(sandbox: Sandbox, book: GatewayBook) -> None:
    first = post_intent(sandbox, intent_form("pm_decline_insufficient_funds"), "key-3")
    again = post_intent(sandbox, intent_form("pm_decline_insufficient_funds"), "key-3")
    assert first.status_code == again.status_code == 402
    assert again.json() == first.json()
    error = first.json()["error"]
    assert error["type"] == "card_error" and error["decline_code"] == "insufficient_funds"
    assert error["network_decline_code"] == "51"
    assert error["payment_intent"]["status"] == "requires_payment_method"
    assert error["payment_intent"]["last_payment_error"]["decline_code"] == "insufficient_funds"
    assert [c.status for c in book.charges("key-3")] == ["failed"]


def test_without_a_key_every_request_charges(sandbox: Sandbox, book: GatewayBook) -> None:
    ids = {post_intent(sandbox, intent_form(), None).json()["id"] for _ in range(2)}
    assert len(ids) == 2 and len(book.charges()) == 2


@pytest.mark.parametrize(
    ("form", "status", "param"),
    [
        (intent_form(amount=0), 400, "amount"),
        (intent_form(amount=12_345) | {"currency": "kwd"}, 400, "amount"),  # Stripe: tens of fils
        (intent_form() | {"currency": "xxq"}, 400, "currency"),
        (intent_form("pm_nonexistent"), 404, None),
        ({k: v for k, v in intent_form().items() if k != "payment_method"}, 400, "payment_method"),
    ],
)
def test_bad_requests_are_refused_and_charge_nothing(
    sandbox: Sandbox, book: GatewayBook, form: dict[str, str], status: int, param: str | None
) -> None:
    answer = post_intent(sandbox, form, "key-bad")
    assert answer.status_code == status
    assert answer.json()["error"].get("param") == param
    assert book.charges() == []


def test_an_unknown_api_key_is_401(sandbox: Sandbox) -> None:
    answer = httpx.post(
        f"{sandbox.http_url}/gateway/v1/payment_intents",
        data=intent_form(),
        headers={"Authorization": "Bearer nope"},
    )
    assert answer.status_code == 401


def test_processing_settles_by_control_with_a_signed_webhook(
    sandbox: Sandbox, book: GatewayBook, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    httpx.put(f"{sandbox.http_url}/sandbox/gateway/webhook_endpoint", json={"url": url})
    created = post_intent(sandbox, intent_form("pm_processing"), "key-4").json()
    assert created["status"] == "processing" and created["amount_received"] == 0
    settled = httpx.post(
        f"{sandbox.http_url}/sandbox/gateway/payment_intents/{created['id']}/settle",
        json={"outcome": "succeeded"},
    ).json()
    assert settled["payment_intent"]["status"] == "succeeded"
    assert settled["webhook"]["status_code"] == 200
    kinds = [json.loads(body)["type"] for _, body in received]
    assert kinds == ["payment_intent.processing", "payment_intent.succeeded"]
    for headers, body in received:
        verify_stripe_signature(headers["Stripe-Signature"], body, SANDBOX_WEBHOOK_SECRET)
    event = json.loads(received[-1][1])
    assert event["data"]["object"]["id"] == created["id"]
    assert event["data"]["object"]["metadata"] == {"invoice_id": "F-1"}
    assert [c.status for c in book.charges("key-4")] == ["succeeded"]
    again = httpx.post(
        f"{sandbox.http_url}/sandbox/gateway/payment_intents/{created['id']}/settle",
        json={"outcome": "failed"},
    )
    assert again.status_code == 409


def test_processing_can_settle_as_failed(
    sandbox: Sandbox, book: GatewayBook, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    httpx.put(
        f"{sandbox.http_url}/sandbox/gateway/webhook_endpoint",
        json={"url": url, "secret": "whsec_other"},
    )
    created = post_intent(sandbox, intent_form("pm_processing"), "key-5").json()
    httpx.post(
        f"{sandbox.http_url}/sandbox/gateway/payment_intents/{created['id']}/settle",
        json={"outcome": "failed", "decline_code": "insufficient_funds"},
    )
    headers, body = received[-1]
    verify_stripe_signature(headers["Stripe-Signature"], body, "whsec_other")
    failed = json.loads(body)
    assert failed["type"] == "payment_intent.payment_failed"
    error = failed["data"]["object"]["last_payment_error"]
    assert error["decline_code"] == "insufficient_funds"
    assert [c.status for c in book.charges("key-5")] == ["failed"]


def test_reset_forgets_gateway_records(sandbox: Sandbox) -> None:
    post_intent(sandbox, intent_form(), "key-6")
    sandbox.reset()
    assert gateway_book(sandbox.state).charges() == []
    # The key is forgotten too: a new intent, not a replay.
    assert "Idempotent-Replayed" not in post_intent(sandbox, intent_form(), "key-6").headers
