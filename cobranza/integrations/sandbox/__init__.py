"""Local emulators of the outside world (gateway, CRM, ERP, SMS/WhatsApp, SMTP) on loopback."""

from cobranza.integrations.sandbox.server import Sandbox
from cobranza.integrations.sandbox.state import (
    CrmTaskRecord,
    DeliveryReport,
    ErpPostingRecord,
    PaymentLinkRecord,
    ReceivedEmail,
    SandboxKnobs,
    TextMessageRecord,
)

__all__ = [
    "CrmTaskRecord",
    "DeliveryReport",
    "ErpPostingRecord",
    "PaymentLinkRecord",
    "ReceivedEmail",
    "Sandbox",
    "SandboxKnobs",
    "TextMessageRecord",
]
