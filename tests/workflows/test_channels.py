"""Channel fallback and consent end to end: real workflow, SMTP sink and SMS provider sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cobranza.starter.cli import app
from cobranza.store.store import Store

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "C-fallback.yaml"


def test_C_fallback_channel_order_consent_and_unreachable(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    result = CliRunner().invoke(
        app, ["simulate", str(SCENARIO), "--in-memory", "--database-url", f"sqlite:///{db}"]
    )
    assert result.exit_code == 0, result.output
    timeline = json.loads(result.stdout)["timeline"]
    sent = [
        (e["invoice"], e["template"], e["channel"], e.get("event"))
        for e in timeline
        if e["kind"] == "message" and e["template"] != "invoice_issued"
    ]
    assert sent == [
        ("INV-1", "due_today", "sms", None),  # WhatsApp opted out on that number: SMS
        ("INV-2", "due_today", "email", None),  # no phone at all: email
        ("INV-1", "overdue", "sms", None),
        ("INV-2", "overdue", "sms", "unreachable"),  # SMS only, no phone: nobody to send to
    ]
    store = Store.from_url(f"sqlite:///{db}")
    channels = sorted((m.customer_id, m.channel, m.status) for m in store.messages())
    assert ("C1", "sms", "sent") in channels
    assert not any(c == "C1" and ch == "whatsapp" for c, ch, _ in channels)
    tasks = store.crm_tasks()
    assert [t.invoice_id for t in tasks] == ["INV-2"]
    assert "No reachable channel" in tasks[0].title
