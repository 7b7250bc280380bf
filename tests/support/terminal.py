"""A child process on a pseudo-terminal, read expect-style: how the console's tests
drive `ticket-bot console` the way a person types at it."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import time
from pathlib import Path

import httpx

CHECKOUT = Path(__file__).resolve().parents[2]
WAIT = 30.0  # the 2-core CI machine is slow; every wait is bounded
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][AB012]|\r")


class Terminal:
    """A child process on a pseudo-terminal, with expect-style reads."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: never returns into pytest
            try:
                os.chdir(cwd)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = ""
        self._seen = 0

    def read_some(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk:
                raise EOFError
            self.output += ANSI.sub("", chunk.decode(errors="replace"))

    def expect(self, pattern: str, timeout: float = WAIT) -> re.Match[str]:
        """The first match of `pattern` in what came after the previous match."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.compile(pattern).search(self.output, self._seen)
            if found:
                self._seen = found.end()
                return found
            if time.monotonic() > deadline:
                tail = self.output[-3000:]
                raise AssertionError(f"no {pattern!r} within {timeout}s; the screen:\n{tail}")
            try:
                self.read_some(0.2)
            except EOFError:
                raise AssertionError(f"the console ended; the screen:\n{self.output[-3000:]}")

    def send(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                return os.waitstatus_to_exitcode(status)
            try:
                self.read_some(0.1)
            except EOFError:
                time.sleep(0.05)
        return None

    def kill(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0
        os.close(self.fd)


def start_console(cwd: Path) -> Terminal:
    """`python -m bot console` with no SLACK_*, TICKET_* or REDIS_URL settings and no
    .env (`cwd` is empty): its own fake Slack and the embedded sandbox helpdesk."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TICKET_"))}
    env.pop("REDIS_URL", None)
    env.update(NO_COLOR="1", PYTHONPATH=str(CHECKOUT), COLUMNS="120", LINES="40")
    return Terminal([sys.executable, "-m", "bot", "console"], cwd, env)


def wait_for_page(http: httpx.Client, path: str, text: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if text in http.get(path).text:
            return
        time.sleep(0.5)
    raise AssertionError(f"{text!r} never appeared on the helpdesk's page {path}")
