"""Errors of the adapters to the outside, split by whether trying again can help."""

from __future__ import annotations


class IntegrationError(Exception):
    """Base of every failure an adapter reports; `system` names the outside system."""

    def __init__(self, system: str, message: str, *, status_code: int | None = None) -> None:
        super().__init__(f"{system}: {message}")
        self.system = system
        self.status_code = status_code


class TransientIntegrationError(IntegrationError):
    """The call may succeed later (5xx, 429, timeout, connection refused): retry it."""


class PermanentIntegrationError(IntegrationError):
    """The call will fail the same way again (4xx, invalid address): do not retry it."""


class IdempotencyConflict(PermanentIntegrationError):
    """An idempotency key was reused with a different request: a caller bug, never retried."""


class MessageTemplateError(PermanentIntegrationError):
    """A message template is missing or refers to a value the renderer does not provide."""

    def __init__(self, message: str) -> None:
        super().__init__("templates", message)
