"""`Sandbox`: the HTTP emulators and the SMTP sink running in background threads on loopback."""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Self

import uvicorn

from cobranza.integrations.sandbox.app import build_app
from cobranza.integrations.sandbox.smtp_sink import SinkController, SinkHandler
from cobranza.integrations.sandbox.state import (
    CrmTaskRecord,
    DeliveryReport,
    ErpPostingRecord,
    PaymentLinkRecord,
    ReceivedEmail,
    SandboxKnobs,
    SandboxState,
    TextMessageRecord,
)
from cobranza.integrations.sandbox.twilio import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_SMS_FROM,
    STATUS_CALLBACK_PATH,
)

START_TIMEOUT_S = 10.0
# An upper bound, not a pace: waiters wake as soon as the callbacks land. Generous because a
# loaded machine can hold a callback thread back for seconds.
SETTLE_TIMEOUT_S = 30.0


class _SignalledServer(uvicorn.Server):
    """A uvicorn server that tells another thread when start-up is over, however it ended."""

    def __init__(self, config: uvicorn.Config, done: threading.Event) -> None:
        super().__init__(config)
        self._done = done

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            # Also on failure: uvicorn raises SystemExit when it cannot bind.
            self._done.set()


class Sandbox:
    """Local gateway, CRM, ERP, SMS/WhatsApp provider and SMTP sink; port 0 picks a free port.

    Use as `with Sandbox(seed=7) as sandbox: ...` or call `start()` and `stop()`.
    """

    def __init__(
        self,
        http_port: int = 0,
        smtp_port: int = 0,
        *,
        host: str = "127.0.0.1",
        latency_ms: int = 0,
        error_rate: float = 0.0,
        smtp_error_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.host = host
        self._requested_http_port = http_port
        self._requested_smtp_port = smtp_port
        self.knobs = SandboxKnobs(
            latency_ms=latency_ms, error_rate=error_rate, smtp_error_rate=smtp_error_rate
        )
        self.state = SandboxState(self.knobs, seed=seed)
        self._server: _SignalledServer | None = None
        self._thread: threading.Thread | None = None
        self._smtp: SinkController | None = None
        self._http_port: int | None = None

    def start(self) -> Self:
        self._start_http()
        try:
            self._smtp = SinkController(
                SinkHandler(self.state), hostname=self.host, port=self._requested_smtp_port
            )
            self._smtp.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(START_TIMEOUT_S)
        self._server = None
        self._thread = None
        self._http_port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def http_url(self) -> str:
        if self._http_port is None:
            raise RuntimeError("the sandbox is not running: call start() first")
        return f"http://{self.host}:{self._http_port}"

    @property
    def smtp_host(self) -> str:
        return self.host

    @property
    def smtp_port(self) -> int:
        if self._smtp is None:
            raise RuntimeError("the sandbox is not running: call start() first")
        return int(self._smtp.port)

    @property
    def twilio_url(self) -> str:
        """Base URL of the Twilio-compatible Messages API (same server as the other emulators)."""
        return self.http_url

    twilio_account_sid = SANDBOX_ACCOUNT_SID
    twilio_auth_token = SANDBOX_AUTH_TOKEN
    sms_from = SANDBOX_SMS_FROM

    @property
    def status_callback_url(self) -> str:
        """Where the provider posts delivery statuses; the sandbox records them per message."""
        return f"{self.http_url}{STATUS_CALLBACK_PATH}"

    def text_messages(self) -> list[TextMessageRecord]:
        """SMS and WhatsApp messages the provider emulator accepted, with their latest status."""
        return self.state.list_text_messages()

    def delivery_reports(self) -> list[DeliveryReport]:
        """Status callbacks received at `status_callback_url`, in arrival order."""
        return self.state.list_delivery_reports()

    def settle_deliveries(self, timeout: float = SETTLE_TIMEOUT_S) -> None:
        """Wait until every accepted SMS or WhatsApp has posted all its status callbacks."""
        if not self.state.wait_for_deliveries(lambda: not self.state.deliveries_running(), timeout):
            raise TimeoutError(
                f"{self.state.deliveries_running()} deliveries still running after {timeout}s"
            )

    def wait_for_delivery_reports(
        self, message_sid: str, count: int, timeout: float = SETTLE_TIMEOUT_S
    ) -> list[DeliveryReport]:
        """The status callbacks received for one message, once `count` of them have arrived."""

        def received() -> list[DeliveryReport]:
            return [r for r in self.state.list_delivery_reports() if r.message_sid == message_sid]

        if not self.state.wait_for_deliveries(lambda: len(received()) >= count, timeout):
            raise TimeoutError(
                f"{len(received())} of {count} status callbacks for {message_sid} after {timeout}s"
            )
        return received()

    def messages(self) -> list[ReceivedEmail]:
        return self.state.list_emails()

    def tasks(self) -> list[CrmTaskRecord]:
        return self.state.list_tasks()

    def postings(self) -> list[ErpPostingRecord]:
        return self.state.list_postings()

    def payment_links(self) -> list[PaymentLinkRecord]:
        return self.state.list_payment_links()

    def reset(self) -> None:
        """Forget everything received, including idempotency keys; the knobs stay as they are.

        Status callbacks still on their way are waited for first, so none lands after it.
        """
        self.settle_deliveries()
        self.state.reset()

    def _start_http(self) -> None:
        config = uvicorn.Config(
            build_app(self.state),
            host=self.host,
            port=self._requested_http_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        started = threading.Event()
        server = _SignalledServer(config, started)
        # uvicorn installs signal handlers only in the main thread, so this thread leaves
        # Ctrl-C to the program that owns the sandbox.
        thread = threading.Thread(target=server.run, name="sandbox-http", daemon=True)
        thread.start()
        if not started.wait(START_TIMEOUT_S) or not server.started:
            server.should_exit = True
            thread.join(START_TIMEOUT_S)
            raise RuntimeError(
                f"sandbox HTTP server did not start on {self.host}:{self._requested_http_port}"
            )
        self._server, self._thread = server, thread
        self._http_port = server.servers[0].sockets[0].getsockname()[1]
