"""Installs, seeds, starts and stops a real django-helpdesk on loopback, for the tests.

    python3 tests/servers/django_helpdesk/server.py start [--port N] [--shell]
    python3 tests/servers/django_helpdesk/server.py stop

`start` makes a virtualenv with django-helpdesk, Django and DRF (requirements.txt) under
the cache dir (DH_CACHE, default .cache/django-helpdesk at the repository's root; reused
while requirements.txt is unchanged), migrates a SQLite site there, seeds it (seed.py),
starts `runserver` detached on 127.0.0.1:PORT, waits until the API answers and prints
where it is (`--shell`: as `export` lines for CI). A server already running from the same
cache dir is reused. HELPDESK_NEW_TICKET_WEBHOOK_URLS / HELPDESK_FOLLOWUP_WEBHOOK_URLS are
passed through to the server; the test site can also change them while it runs
(POST /test-control/webhooks/, loopback only), so tests need no restart.

Standard library only: the tests import this module to start the server themselves.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
REQUIREMENTS = HERE / "requirements.txt"
SITE_SOURCE = HERE / "site"
WEBHOOK_VARIABLES = ("HELPDESK_NEW_TICKET_WEBHOOK_URLS", "HELPDESK_FOLLOWUP_WEBHOOK_URLS")
READY_TIMEOUT = 60.0


class ServerUnavailable(RuntimeError):
    """The server cannot be installed or started on this machine (the message says why)."""


@dataclass(frozen=True)
class Running:
    url: str  # http://127.0.0.1:PORT/
    token: str  # the staff agent's DRF token
    queues: list[dict[str, object]]  # [{"id": 1, "slug": "it", "title": "IT Support"}, ...]
    pid: int
    site_dir: Path

    @property
    def api_url(self) -> str:
        return self.url + "helpdesk/api/"


def cache_dir() -> Path:
    return Path(os.environ.get("DH_CACHE") or REPO / ".cache" / "django-helpdesk")


def _venv() -> Path:
    return cache_dir() / "venv"


def _site() -> Path:
    return cache_dir() / "site"


def _venv_python() -> Path:
    return _venv() / "bin" / "python"


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            cwd=SITE_SOURCE,
            check=False,
        )
    except OSError as exc:
        raise ServerUnavailable(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        said = " / ".join(tail) or "no output"
        raise ServerUnavailable(f"{what} failed (exit {done.returncode}): {said}")
    return done.stdout


def ensure_venv() -> None:
    """Creates the venv and installs the pinned packages, unless requirements.txt is unchanged."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    marker = _venv() / ".requirements.sha256"
    if marker.exists() and marker.read_text() == digest and _venv_python().exists():
        return
    shutil.rmtree(_venv(), ignore_errors=True)
    python = os.environ.get("DH_PYTHON") or sys.executable
    _run([python, "-m", "venv", str(_venv())], "creating the django-helpdesk virtualenv")
    _run(
        [str(_venv_python()), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
        "pip install django-helpdesk",
    )
    marker.write_text(digest)


def _site_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DH_SITE_DIR=str(_site()),
        DJANGO_SETTINGS_MODULE="hdsite.settings",
        PYTHONPATH=str(SITE_SOURCE),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra or {})
    return env


def _manage(*args: str) -> str:
    return _run([str(_venv_python()), "manage.py", *args], f"manage.py {args[0]}", _site_env())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    """True when pid is a live runserver of ours (not a recycled pid of something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return b"runserver" in cmdline and str(_site()).encode() in environ


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "helpdesk/api/", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def running() -> Running | None:
    """The server started from this cache dir, when it still runs."""
    site = _site()
    try:
        pid = int((site / "server.pid").read_text())
        port = int((site / "server.port").read_text())
        seed = json.loads((site / "seed.json").read_text())
    except (OSError, ValueError):
        return None
    if not _pid_alive(pid):
        return None
    return Running(
        url=f"http://127.0.0.1:{port}/",
        token=seed["agent"]["token"],
        queues=seed["queues"],
        pid=pid,
        site_dir=site,
    )


def start(port: int | None = None, webhooks: dict[str, str] | None = None) -> Running:
    """Installs when needed, migrates, seeds, starts detached and waits until it answers."""
    already = running()
    if already is not None:
        return already
    if sys.version_info < (3, 10) and not os.environ.get("DH_PYTHON"):
        raise ServerUnavailable("django-helpdesk 2.6 needs Python 3.10 or later (set DH_PYTHON)")
    port = port or free_port()
    _site().mkdir(parents=True, exist_ok=True)
    (_site() / "mail").mkdir(exist_ok=True)
    ensure_venv()
    _manage("migrate", "--noinput", "-v", "0")
    _run([str(_venv_python()), "seed.py", str(port)], "seeding", _site_env())
    passed = {k: os.environ[k] for k in WEBHOOK_VARIABLES if k in os.environ}
    passed.update(webhooks or {})
    log = (_site() / "server.log").open("ab")
    proc = subprocess.Popen(
        [str(_venv_python()), "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=SITE_SOURCE,
        env=_site_env(passed),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    (_site() / "server.pid").write_text(str(proc.pid))
    (_site() / "server.port").write_text(str(port))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + READY_TIMEOUT
    while not _answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop()
            raise ServerUnavailable(f"runserver did not answer on {url}; see {_site()}/server.log")
        time.sleep(0.1)
    found = running()
    assert found is not None
    return found


def stop() -> int | None:
    """Stops the server started from this cache dir; returns its pid, None when none ran."""
    pid_file = _site() / "server.pid"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return None
    if _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return pid


def set_webhooks(url: str, new_ticket: str = "", followup: str = "") -> None:
    """Points the running server's webhooks elsewhere (empty: off), without a restart."""
    body = json.dumps(
        {"HELPDESK_NEW_TICKET_WEBHOOK_URLS": new_ticket, "HELPDESK_FOLLOWUP_WEBHOOK_URLS": followup}
    ).encode()
    request = urllib.request.Request(
        url + "test-control/webhooks/",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 204:
            raise RuntimeError(f"test-control/webhooks answered {response.status}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    starting = sub.add_parser("start")
    starting.add_argument("--port", type=int, default=None)
    starting.add_argument("--shell", action="store_true", help="print export lines for CI")
    sub.add_parser("stop")
    args = parser.parse_args(argv)
    if args.command == "stop":
        pid = stop()
        print(f"stopped pid {pid}" if pid else "no django-helpdesk server was running")
        return 0
    began = time.monotonic()
    try:
        server = start(args.port)
    except ServerUnavailable as exc:
        print(f"django-helpdesk server unavailable: {exc}", file=sys.stderr)
        return 1
    took = time.monotonic() - began
    if args.shell:
        print(f"export TEST_DJANGO_HELPDESK_URL={shlex.quote(server.url)}")
        print(f"export TEST_DJANGO_HELPDESK_TOKEN={shlex.quote(server.token)}")
        print(f"export TEST_DJANGO_HELPDESK_QUEUES={shlex.quote(json.dumps(server.queues))}")
    else:
        print(f"django-helpdesk ready in {took:.1f} s, pid {server.pid}")
        print(f"  API:    {server.api_url}")
        print(f"  token:  {server.token}   (Authorization: Token …)")
        for queue in server.queues:
            print(f"  queue:  id={queue['id']} slug={queue['slug']} title={queue['title']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
