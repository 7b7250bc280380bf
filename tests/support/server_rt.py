"""A real Request Tracker 5 for the RT tests, once per session.

CI starts it before pytest (`.ci/run`, tests/servers/rt/setup.sh) and passes it in
TEST_RT_URL (the server's root URL) and TEST_RT_TOKEN; TEST_RT_QUEUE names the queue
(default "IT Support"). Without them, the fixture starts one itself with the same script
when it can (root, Debian packages reachable) and stops it at the end; when it cannot,
every RT test is skipped with one line saying why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "servers" / "rt"
DEFAULT_QUEUE = "IT Support"
#: a first install downloads ~56 MB and unpacks ~270 packages
SETUP_TIMEOUT = 900


@dataclass(frozen=True)
class RtServer:
    #: the server's root, e.g. http://127.0.0.1:9080/
    url: str
    token: str
    queue: str

    @property
    def api_url(self) -> str:
        """REST2's base URL, as TICKET_API_URL takes it."""
        return self.url + "REST/2.0/"

    # What tests/support/harness.running_bot asks of a helpdesk: RT is already running.
    def start(self) -> RtServer:
        return self

    def stop(self) -> None:
        pass

    def bot_settings(self) -> dict[str, str]:
        return {
            "TICKET_BACKEND": "rt",
            "TICKET_API_URL": self.api_url,
            "TICKET_API_TOKEN": self.token,
        }

    def client(self) -> httpx.Client:
        """A REST2 client for the tests' own setup calls (what an agent does in RT)."""
        return httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"token {self.token}"},
            timeout=30,
        )


class RtUnavailable(Exception):
    """RT cannot run here; the message says why, in one line."""


@contextmanager
def running_rt() -> Iterator[RtServer]:
    """The RT named by TEST_RT_URL/TEST_RT_TOKEN, else one started here with setup.sh
    (stopped at the end); RtUnavailable when neither is possible."""
    url = os.environ.get("TEST_RT_URL", "")
    token = os.environ.get("TEST_RT_TOKEN", "")
    queue = os.environ.get("TEST_RT_QUEUE", DEFAULT_QUEUE)
    if url and token:
        yield RtServer(url if url.endswith("/") else url + "/", token, queue)
        return
    reason = os.environ.get("TEST_RT_UNAVAILABLE") or _why_not_here()
    if reason:
        raise RtUnavailable(reason)
    state = tempfile.mkdtemp(prefix="ticket-bot-rt-")
    env = {**os.environ, "RT_STATE_DIR": state}
    try:
        done = subprocess.run(
            [str(SCRIPTS / "setup.sh"), str(_free_port()), "--background"],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SETUP_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise RtUnavailable(f"setup.sh took over {SETUP_TIMEOUT} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RtUnavailable(f"RT could not be started ({last})")
    printed = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    try:
        yield RtServer(printed["RT_URL"], printed["RT_TOKEN"], printed.get("RT_QUEUE", queue))
    finally:
        subprocess.run([str(SCRIPTS / "stop.sh")], env=env, capture_output=True, check=False)


@pytest.fixture(scope="session")
def rt_server() -> Iterator[RtServer]:
    try:
        with running_rt() as server:
            yield server
    except RtUnavailable as exc:
        pytest.skip(f"Request Tracker tests skipped: {exc}")


def _why_not_here() -> str:
    """Why this machine cannot run RT from Debian packages; "" when it may."""
    if os.geteuid() != 0:
        return "setting RT up needs root (or set TEST_RT_URL and TEST_RT_TOKEN)"
    if shutil.which("dpkg-query") is None or shutil.which("apt-get") is None:
        return "RT is installed from Debian packages and this machine has no apt-get"
    return ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
