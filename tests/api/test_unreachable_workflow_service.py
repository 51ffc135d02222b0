"""`cobranza api` and `cobranza worker` with no workflow service: one line naming the setting."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cobranza.starter.cli import app

NOBODY = "127.0.0.1:9"  # the discard port: nothing listens there


def test_the_api_names_its_setting_and_opens_no_store(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    env = {"COBRANZA_TEMPORAL_ADDRESS": NOBODY, "DATABASE_URL": f"sqlite:///{store}"}

    result = CliRunner().invoke(app, ["api", "--port", "0"], env=env)

    assert result.exit_code == 1
    message = result.stderr.splitlines()[-1]  # after the warnings about unset secrets
    assert message.startswith(f"COBRANZA_TEMPORAL_ADDRESS: {NOBODY}: cannot connect (")
    assert "Traceback" not in result.output and not store.exists()


def test_the_worker_names_its_option_and_opens_no_store(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    args = ["worker", "--sandbox-url", f"http://{NOBODY}", "--smtp-port", "9"]

    result = CliRunner().invoke(
        app, [*args, "--temporal-address", NOBODY, "--database-url", f"sqlite:///{store}"]
    )

    assert result.exit_code == 1
    [message] = result.stderr.splitlines()
    assert message.startswith(f"--temporal-address: {NOBODY}: cannot connect (")
    assert not store.exists()
