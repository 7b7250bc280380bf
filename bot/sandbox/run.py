"""`ticket-bot sandbox [--port N]` in the foreground, and the embedded sandbox the bot
starts when TICKET_API_URL is unset."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from bot.gateway.epixel import EpixelGateway
from bot.sandbox.server import Sandbox, default_db

log = logging.getLogger(__name__)

#: the port the embedded sandbox tries first, so that its web page keeps its address
EMBEDDED_PORT = 8025


def run_sandbox(
    port: int, db_path: str | None = None, print_line: Callable[[str], None] = print
) -> int:
    """Serve until Ctrl-C or SIGTERM."""
    db_path = db_path or default_db()
    try:
        sandbox = Sandbox(db_path, port).start()
    except OSError as exc:
        print_line(f"ticket-bot: cannot listen on 127.0.0.1:{port} ({exc.strerror}); try --port")
        return 1
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    for line in describe(sandbox):
        print_line(line)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    print_line("sandbox helpdesk stopped")
    return 0


def describe(sandbox: Sandbox) -> list[str]:
    return [
        f"sandbox helpdesk (Epixel support API) at {sandbox.base_url}",
        f"web page: {sandbox.web_url}",
        f"data: {sandbox.db_path}",
        "put these in .env to use it from another process:",
        *(f"  {name}={value}" for name, value in sandbox.bot_settings().items()),
        "Ctrl-C stops it",
    ]


class SandboxGateway(EpixelGateway):
    """The Epixel gateway on an embedded sandbox, which it stops when closed."""

    sandbox: Sandbox

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.sandbox.stop()


def embedded_gateway(db_path: str | None = None) -> EpixelGateway:
    """A sandbox in this process (on EMBEDDED_PORT, else any free port) and a gateway on it."""
    db_path = db_path or default_db()
    sandbox = _start_embedded(db_path)
    log.info(
        "TICKET_API_URL is unset: using an embedded sandbox helpdesk at %s "
        "(web page %s, data in %s)",
        sandbox.base_url,
        sandbox.web_url,
        db_path,
    )
    gateway = SandboxGateway(
        sandbox.base_url, sandbox.api_key, username=sandbox.username, password=sandbox.password
    )
    gateway.sandbox = sandbox
    return gateway


def _start_embedded(db_path: str) -> Sandbox:
    try:
        return Sandbox(db_path, EMBEDDED_PORT).start()
    except OSError:
        return Sandbox(db_path, 0).start()
