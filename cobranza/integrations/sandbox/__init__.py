"""Local emulators of the outside world (gateway, CRM, ERP, SMTP) served on loopback."""

from cobranza.integrations.sandbox.server import Sandbox
from cobranza.integrations.sandbox.state import (
    CrmTaskRecord,
    ErpPostingRecord,
    PaymentLinkRecord,
    ReceivedEmail,
    SandboxKnobs,
)

__all__ = [
    "CrmTaskRecord",
    "ErpPostingRecord",
    "PaymentLinkRecord",
    "ReceivedEmail",
    "Sandbox",
    "SandboxKnobs",
]
