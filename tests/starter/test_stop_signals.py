"""`cobranza up` and `simulate` stopped by SIGTERM shut down the whole stack they started: no
dev server is left under init holding its ports."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

READY_LINE = "(Ctrl-C stops)"
DEADLINE_S = 120.0
DATASET = (
    Path(__file__).resolve().parents[2] / "examples" / "ibm_accounts_receivable_late_payments.csv"
)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def children(pid: int) -> dict[int, str]:
    """Live child processes of pid, with their command lines (read from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # ended while we looked
        # Fields after the command name, which is in parentheses and may hold spaces.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found[int(entry.name)] = cmdline
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition: object, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():  # type: ignore[operator]
        if process.poll() is not None:
            pytest.fail(f"cobranza up ended ({process.returncode}) before {what}:\n{log_text(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {DEADLINE_S} s:\n{log_text(log)}")
        time.sleep(0.1)


def log_text(log: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in (log, log.with_suffix(".err")))


def up_command(
    where: Path, port: int, ui_port: int, sandbox_port: int, smtp_port: int
) -> tuple[list[str], dict[str, str]]:
    """`cobranza up` on these ports, with its store in `where`: (command, environment)."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{where / 'store.db'}"}
    command = [
        sys.executable, "-m", "cobranza.starter.cli", "up",
        "--port", str(port), "--ui-port", str(ui_port),
        "--sandbox-port", str(sandbox_port), "--smtp-port", str(smtp_port),
    ]  # fmt: skip
    return command, env


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    """`cobranza up` on free ports in a fresh directory; whatever is left is killed after."""
    port, *others = free_ports(4)
    log = tmp_path / "up.log"
    command, env = up_command(tmp_path, port, *others)
    with log.open("wb") as out, log.with_suffix(".err").open("wb") as err:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=err)
    left: list[int] = []
    try:
        wait_for(lambda: READY_LINE in log.read_text(), "ready line", process, log)
        left = list(children(process.pid))
        yield process, log, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        for pid in left:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_worker_sandbox_and_dev_server_and_exits_0(
    up: tuple[subprocess.Popen[bytes], Path, int],
) -> None:
    process, log, port = up
    [dev_server] = [p for p, cmd in children(process.pid).items() if "start-dev" in cmd]

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=DEADLINE_S) == 0, log_text(log)
    assert_gone(dev_server)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # nothing listens on the frontend port any more
    assert "SIGTERM: stopped the worker, the sandbox and the dev server" in log_text(log)
    # The dev server's own output goes to its log file, which the command names.
    server_log = log.parent / ".cobranza" / "temporal-server.log"
    assert "Temporal Server:" in server_log.read_text()
    assert "Temporal Server:" not in log_text(log)
    assert f"Dev server log: {server_log.resolve()}" in log.read_text()


def assert_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # its parent reaped it, or init does: either way within moments
    assert not alive(pid), "the dev server outlived the command that started it"


def invoices_in(store: Path) -> int:
    try:
        with sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT count(*) FROM invoices").fetchone()[0])
    except sqlite3.Error:
        return 0  # not created yet


def test_sigterm_mid_simulation_shuts_everything_down_and_exits_143(tmp_path: Path) -> None:
    store, log = tmp_path / "store.db", tmp_path / "simulate.log"
    command = [
        sys.executable, "-m", "cobranza.starter.cli", "simulate", str(DATASET),
        "--limit", "200", "--in-memory", "--database-url", f"sqlite:///{store}",
    ]  # fmt: skip
    with log.open("wb") as out, log.with_suffix(".err").open("wb") as err:
        process = subprocess.Popen(command, cwd=tmp_path, stdout=out, stderr=err)
    dev_servers: list[int] = []
    try:
        wait_for(lambda: invoices_in(store) > 0, "invoice in the store", process, log)
        dev_servers = [p for p, cmd in children(process.pid).items() if "start-dev" in cmd]

        process.send_signal(signal.SIGTERM)

        assert process.wait(timeout=DEADLINE_S) == 128 + signal.SIGTERM, log_text(log)
        assert len(dev_servers) == 1
        assert_gone(dev_servers[0])
        assert "SIGTERM: stopped before the end" in log_text(log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        for pid in dev_servers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_dev_server_that_cannot_start_says_why_without_a_traceback(tmp_path: Path) -> None:
    """Its log goes to a file: when it fails to start, the file's last lines say why."""
    port, *others = free_ports(4)
    taken = socket.socket()
    taken.bind(("127.0.0.1", port))
    taken.listen()
    command, env = up_command(tmp_path, port, *others)
    try:
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DEADLINE_S
        )
    finally:
        taken.close()

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert str((tmp_path / ".cobranza" / "temporal-server.log").resolve()) in done.stderr
    assert "address already in use" in done.stderr
