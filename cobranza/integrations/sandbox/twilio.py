"""Emulator of Twilio's Messages resource for SMS and WhatsApp, and a status callback receiver.

A message is answered `queued` at once; then the emulator posts signed status callbacks to
its StatusCallback URL, as Twilio does: `sent` then `delivered`, except for test numbers:

- a number ending in 0000 -> `failed` (error 30006, landline or unreachable carrier);
- a number ending in 0001 -> `sent` then `undelivered` (error 30003, handset unreachable).

`POST /callbacks/twilio/status` stands in for the creditor's webhook: it checks the
X-Twilio-Signature and records the status per provider message id (`GET` lists them).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import APIRouter, BackgroundTasks, Header, Request, Response
from fastapi.responses import JSONResponse

from cobranza.integrations.sandbox.state import (
    DeliveryReport,
    SandboxState,
    StoredResponse,
    TextMessageRecord,
)
from cobranza.integrations.twilio import (
    E164,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    WHATSAPP_SCHEME,
    request_signature,
)

SANDBOX_ACCOUNT_SID = "AC00000000000000000000000000sandbox"
SANDBOX_AUTH_TOKEN = "sandbox-auth-token"
SANDBOX_SMS_FROM = "+15005550006"
STATUS_CALLBACK_PATH = "/callbacks/twilio/status"
# Last digits of a destination number -> (final status, Twilio error code).
TEST_NUMBER_OUTCOMES: dict[str, tuple[str, int]] = {
    "0000": ("failed", 30006),
    "0001": ("undelivered", 30003),
}
_MORE_INFO = "https://www.twilio.com/docs/errors/"


def build_router(state: SandboxState) -> APIRouter:
    """Twilio's Messages resource, and the creditor's status callback endpoint it posts to."""
    router = APIRouter()
    router.include_router(_messages_router(state))
    router.include_router(_status_callback_router(state))
    return router


def _messages_router(state: SandboxState) -> APIRouter:
    """Sending a message (queued, then delivered in the background) and listing those sent."""
    router = APIRouter()

    @router.post("/2010-04-01/Accounts/{account_sid}/Messages.json", status_code=201)
    async def create_message(
        account_sid: str,
        request: Request,
        background: BackgroundTasks,
        authorization: str | None = Header(default=None),
    ) -> Response:
        if _basic_user(authorization) != (SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN) or (
            account_sid != SANDBOX_ACCOUNT_SID
        ):
            return _error(401, 20003, "Authenticate: wrong account sid or auth token")
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        refused = _refusal(form)
        if refused is not None:
            return refused
        token = request.headers.get(IDEMPOTENCY_HEADER)

        def create() -> StoredResponse:
            record = _record(state, account_sid, form, token)
            state.add_text_message(record)
            return StoredResponse(status=201, body=_resource(record))

        stored = state.idempotent("twilio_messages", token, form, create)
        if not stored.replayed:
            state.delivery_started()
            background.add_task(_report_delivery, state, str(stored.body["sid"]))
        return JSONResponse(stored.body, status_code=stored.status)

    @router.get("/twilio/messages")
    async def list_text_messages() -> list[TextMessageRecord]:
        return state.list_text_messages()

    return router


def _status_callback_router(state: SandboxState) -> APIRouter:
    """The creditor's side: receive signed status callbacks, and list the reports received."""
    router = APIRouter()

    @router.post(STATUS_CALLBACK_PATH, status_code=204)
    async def receive_status(
        request: Request, signature: str | None = Header(default=None, alias=SIGNATURE_HEADER)
    ) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        expected = request_signature(SANDBOX_AUTH_TOKEN, str(request.url), form)
        if signature != expected:
            return _error(403, 20003, f"{SIGNATURE_HEADER} does not match the request")
        error_code = form.get("ErrorCode")
        state.add_delivery_report(
            DeliveryReport(
                message_sid=form.get("MessageSid", ""),
                status=form.get("MessageStatus", ""),
                error_code=int(error_code) if error_code else None,
                to=form.get("To", ""),
                received_at=datetime.now(UTC),
            )
        )
        return Response(status_code=204)

    @router.get(STATUS_CALLBACK_PATH)
    async def list_delivery_reports() -> list[DeliveryReport]:
        return state.list_delivery_reports()

    return router


def _basic_user(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _refusal(form: dict[str, str]) -> Response | None:
    """Twilio's 400 answers for a request it will not queue, checked in Twilio's order."""
    to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
    if not to:
        return _error(400, 21604, "A 'To' phone number is required.")
    if not sender:
        return _error(400, 21603, "A 'From' phone number is required.")
    if not body:
        return _error(400, 21602, "Message body is required.")
    if to.startswith(WHATSAPP_SCHEME) != sender.startswith(WHATSAPP_SCHEME):
        return _error(
            400, 21910, "Invalid From and To pair. From and To should be of the same channel"
        )
    if not E164.match(to.removeprefix(WHATSAPP_SCHEME)):
        return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    return None


def _record(
    state: SandboxState, account_sid: str, form: dict[str, str], token: str | None
) -> TextMessageRecord:
    to = form["To"]
    return TextMessageRecord(
        sid=state.new_sid("SM"),
        account_sid=account_sid,
        channel="whatsapp" if to.startswith(WHATSAPP_SCHEME) else "sms",
        to=to,
        from_=form["From"],
        body=form["Body"],
        status_callback=form.get("StatusCallback") or None,
        idempotency_token=token,
        created_at=datetime.now(UTC),
    )


def _resource(record: TextMessageRecord) -> dict[str, Any]:
    return {
        "sid": record.sid,
        "account_sid": record.account_sid,
        "to": record.to,
        "from": record.from_,
        "body": record.body,
        "status": "queued",
        "direction": "outbound-api",
        "num_segments": str(-(-len(record.body) // 153) if len(record.body) > 160 else 1),
        "error_code": None,
        "error_message": None,
        "date_created": record.created_at.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        "uri": f"/2010-04-01/Accounts/{record.account_sid}/Messages/{record.sid}.json",
    }


def outcome_for(to: str) -> tuple[list[str], int | None]:
    """The statuses a message to `to` goes through after `queued`, and its final error code."""
    for suffix, (final, code) in TEST_NUMBER_OUTCOMES.items():
        if to.endswith(suffix):
            return (["failed"] if final == "failed" else ["sent", final]), code
    return ["sent", "delivered"], None


async def _report_delivery(state: SandboxState, sid: str) -> None:
    """Move the message through its statuses, posting a signed callback for each."""
    try:
        record = next((m for m in state.list_text_messages() if m.sid == sid), None)
        if record is not None:
            await _walk_statuses(state, record)
    finally:
        state.delivery_finished()


async def _walk_statuses(state: SandboxState, record: TextMessageRecord) -> None:
    sid = record.sid
    statuses, error_code = outcome_for(record.to)
    async with httpx.AsyncClient(timeout=5.0) as client:
        for status in statuses:
            final_error = error_code if status == statuses[-1] else None
            state.set_text_status(sid, status, final_error)
            if record.status_callback:
                outcome = await _post_callback(client, record, status, final_error)
                state.note_callback(sid, f"{status} -> {outcome}")


async def _post_callback(
    client: httpx.AsyncClient, record: TextMessageRecord, status: str, error_code: int | None
) -> str:
    assert record.status_callback is not None
    form = {
        "AccountSid": record.account_sid,
        "From": record.from_,
        "MessageSid": record.sid,
        "MessageStatus": status,
        "SmsSid": record.sid,
        "SmsStatus": status,
        "To": record.to,
    }
    if error_code is not None:
        form["ErrorCode"] = str(error_code)
    signature = request_signature(SANDBOX_AUTH_TOKEN, record.status_callback, form)
    try:
        answer = await client.post(
            record.status_callback, data=form, headers={SIGNATURE_HEADER: signature}
        )
    except httpx.HTTPError as exc:
        return f"error {exc!r}"
    return str(answer.status_code)


def _error(status: int, code: int, message: str) -> Response:
    """Twilio's error body: numeric code, message, link to the error's documentation."""
    body = {"code": code, "message": message, "more_info": f"{_MORE_INFO}{code}", "status": status}
    return JSONResponse(body, status_code=status)
