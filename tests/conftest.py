"""Shared fixtures: a real redis-server, and a store on it under a fresh prefix."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from bot.store import Store
from tests.support.harness import Harness, running_bot
from tests.support.processes import free_port

__all__ = ["free_port"]  # also imported from here by older callers

#: fixtures of the real helpdesk servers the tests start (tests/servers/)
pytest_plugins = ["tests.support.server_django_helpdesk"]


@pytest.fixture(scope="session", autouse=True)
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The embedded sandbox keeps its file in $XDG_DATA_HOME/ticket-bot/: a temporary one,
    for this process and the bot processes tests start, never the user's own."""
    before = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("data-home"))
    yield
    if before is None:
        del os.environ["XDG_DATA_HOME"]
    else:
        os.environ["XDG_DATA_HOME"] = before


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """TEST_REDIS_URL when CI started one; otherwise a redis-server started here."""
    given = os.environ.get("TEST_REDIS_URL")
    if given:
        yield given
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="ticket-bot-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    _wait_for_redis(url)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _wait_for_redis(url: str) -> None:
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture()
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A fresh key prefix for one test; its keys are deleted after it, passed or not."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


@pytest.fixture()
def store(redis_url: str, redis_prefix: str) -> Iterator[Store]:
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), redis_prefix)
    yield store
    store.close()


@pytest.fixture()
def live(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    """The bot serving HTTP against fake Slack, the fake Epixel helpdesk and real Redis."""
    with running_bot(redis_url, redis_prefix) as harness:
        yield harness
