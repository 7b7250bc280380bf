"""`python -m bot …` as a real process for tests: its own group, its output in a file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx

from tests.support.fakes.epixel import FakeEpixel
from tests.support.fakes.slack import FakeSlack
from tests.support.harness import BOT_TOKEN

EXIT_SECONDS = 10.0
STARTUP_SECONDS = 20.0
#: what the bot reads from its environment: a child gets only what its test gives it
OWN_ENV_PREFIXES = ("SLACK_", "TICKET_", "REDIS_", "OUTBOX_", "PORT", "LOG_LEVEL")


def free_port() -> int:
    """A loopback port free right now, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_env(
    slack: FakeSlack, helpdesk: FakeEpixel, redis_url: str, prefix: str, **extra: str
) -> dict[str, str]:
    """The caller's environment minus any of the bot's, plus the fakes', then `extra`.
    No signing secret: socket mode needs none, and tests of HTTP serving pass theirs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_ENV_PREFIXES)}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=slack.api_url,
        TICKET_API_URL=helpdesk.base_url,
        TICKET_API_KEY="test-api-key",
        TICKET_API_USERNAME="bot@example.com",
        TICKET_API_PASSWORD="s3cret-pass",
        REDIS_URL=redis_url,
        REDIS_PREFIX=prefix,
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class BotProcess:
    def __init__(
        self, args: list[str], env: dict[str, str], workdir: Path, name: str = "bot"
    ) -> None:
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.stopped_after: float | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: gunicorn's workers die with it
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def assert_running(self) -> None:
        code = self.proc.poll()
        assert code is None, f"the bot exited with {code}:\n{self.output()}"

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = EXIT_SECONDS) -> int:
        """Send `sig`; the exit code, or AssertionError when it does not exit in time."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running {timeout}s after {sig.name}:\n{self.output()}"
            ) from None
        self.stopped_after = time.monotonic() - started
        return code

    def terminate(self, timeout: float = 15.0) -> int:
        return self.stop(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL to the whole group, leader gone or not (gunicorn's workers too)."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=EXIT_SECONDS)
        self._log.close()


def wait_until_healthy(bot: BotProcess, url: str) -> httpx.Response:
    """`url`'s first 200 answer; AssertionError with the bot's output when it exits or
    does not answer within STARTUP_SECONDS."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        bot.assert_running()
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} not healthy in {STARTUP_SECONDS}s:\n{bot.output()}")
        time.sleep(0.2)
