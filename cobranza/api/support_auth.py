"""Who may call the support endpoints: a bearer token from COBRANZA_SUPPORT_TOKEN, or nobody.

Confirming or reassigning an exception moves money between invoices, so these endpoints are
off until a token is configured (403 naming the setting); with one, a request without it, or
with another, gets 401. Webhooks are not behind it: they carry their gateway's signature.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

TOKEN_SETTING = "COBRANZA_SUPPORT_TOKEN"


def require_support_token(expected: str | None, authorization: str | None) -> None:
    """Raise the HTTP error a support request gets, or return when it may go on."""
    if not expected:
        raise HTTPException(403, f"{TOKEN_SETTING} is not set: the support endpoints are off")
    scheme, _, given = (authorization or "").partition(" ")
    # Compared in constant time, so the answer's timing says nothing about the token.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        raise HTTPException(
            401,
            "support endpoints need 'Authorization: Bearer <token>'"
            + (" (this one is not it)" if given else ""),
            headers={"WWW-Authenticate": "Bearer"},
        )


def support_guard(expected: str | None) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency that lets through only requests carrying the support token."""

    async def guard(request: Request) -> None:
        require_support_token(expected, request.headers.get("authorization"))

    return guard
