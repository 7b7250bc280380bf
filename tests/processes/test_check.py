"""`ticket-bot check` on what a production setup gets wrong: the app token, a Redis that
evicts or keeps nothing, and URLs whose userinfo (a proxy's password) must never be printed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runtime.check import run_check
from tests.processes.test_operations import (  # noqa: F401 (fixture)
    CheckEnv,
    check_env,
)
from tests.support.fakes.epixel import FakeEpixel
from tests.support.fakes.slack import FakeSlack
from tests.support.fakes.socket_mode import FakeSocketMode
from tests.support.harness import BOT_TOKEN
from tests.support.processes import free_port
from tests.support.redis_server import RedisServer, redis_server

APP_TOKEN = "xapp-1-A1-1-check"
PROXY_PASSWORD = "pr0xy-passw0rd"


@pytest.fixture()
def fakes() -> Iterator[tuple[FakeSlack, FakeEpixel]]:
    with (
        FakeSlack(bot_token=BOT_TOKEN) as slack,
        FakeSocketMode(app_token=APP_TOKEN) as socket_mode,
        FakeEpixel() as helpdesk,
    ):
        slack.socket_mode = socket_mode
        yield slack, helpdesk


def checked() -> tuple[int, list[str]]:
    lines: list[str] = []
    code = run_check(lines.append)
    return code, lines


def test_the_app_token_is_tried_when_set(
    check_env: CheckEnv,  # noqa: F811
    fakes: tuple[FakeSlack, FakeEpixel],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slack, helpdesk = fakes
    check_env(slack, helpdesk)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    code, lines = checked()
    assert code == 0, lines
    assert any(ln.startswith("ok") and "SLACK_APP_TOKEN" in ln for ln in lines), lines
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-A1-1-revoked")
    code, lines = checked()
    assert code == 1
    (problem,) = [ln for ln in lines if ln.startswith("PROBLEM")]
    assert "SLACK_APP_TOKEN" in problem and "invalid_auth" in problem
    assert "xapp-1-A1-1-revoked" not in "\n".join(lines)
    assert len(slack.calls_to("apps.connections.open")) == 2


def _redis_lines(lines: list[str]) -> list[str]:
    return [ln for ln in lines if "Redis" in ln]


def test_a_redis_that_evicts_and_keeps_nothing_is_warned_about(
    check_env: CheckEnv,  # noqa: F811
    fakes: tuple[FakeSlack, FakeEpixel],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    slack, helpdesk = fakes
    check_env(slack, helpdesk)
    options = ("--save", "", "--appendonly", "no", "--maxmemory-policy", "allkeys-lru")
    with redis_server(tmp_path, *options) as server:
        monkeypatch.setenv("REDIS_URL", server.url)
        code, lines = checked()
    assert code == 0, lines  # warnings: the bot works, but should not run like this
    warnings = [ln for ln in lines if ln.startswith("warning")]
    assert len(warnings) == 2, lines
    assert "maxmemory-policy allkeys-lru" in warnings[0] and "noeviction" in warnings[0]
    assert "does not persist" in warnings[1]


def test_a_durable_redis_passes_without_warnings(
    check_env: CheckEnv,  # noqa: F811
    fakes: tuple[FakeSlack, FakeEpixel],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    slack, helpdesk = fakes
    check_env(slack, helpdesk)
    options = ("--appendonly", "yes", "--maxmemory-policy", "noeviction")
    with redis_server(tmp_path, *options) as server:
        monkeypatch.setenv("REDIS_URL", server.url)
        code, lines = checked()
    assert code == 0, lines
    assert not [ln for ln in lines if not ln.startswith("ok")], lines
    assert any("persists, maxmemory-policy noeviction" in ln for ln in _redis_lines(lines))


def test_no_userinfo_of_a_url_is_printed(
    check_env: CheckEnv,  # noqa: F811
    fakes: tuple[FakeSlack, FakeEpixel],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    slack, helpdesk = fakes
    check_env(slack, helpdesk)
    dead = free_port()
    monkeypatch.setenv("SLACK_API_URL", f"http://proxy-user:{PROXY_PASSWORD}@127.0.0.1:{dead}/api/")
    monkeypatch.setenv("REDIS_URL", f"redis://:{PROXY_PASSWORD}x@127.0.0.1:{free_port()}/0")
    code, lines = checked()
    output = "\n".join(lines)
    assert code == 1
    assert PROXY_PASSWORD not in output and "proxy-user" not in output, output
    assert f"http://***@127.0.0.1:{dead}/api/" in output


def test_a_dead_redis_is_a_problem_naming_redis_url(
    check_env: CheckEnv,  # noqa: F811
    fakes: tuple[FakeSlack, FakeEpixel],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    slack, helpdesk = fakes
    check_env(slack, helpdesk)
    server = RedisServer(tmp_path).start()
    monkeypatch.setenv("REDIS_URL", server.url)
    server.kill()
    code, lines = checked()
    assert code == 1
    assert any(ln.startswith("PROBLEM") and "REDIS_URL" in ln for ln in lines), lines


def test_the_agent_channel_is_checked_when_set(
    check_env: CheckEnv,  # noqa: F811
    fakes: tuple[FakeSlack, FakeEpixel],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slack, helpdesk = fakes
    check_env(slack, helpdesk)
    monkeypatch.setenv("TICKET_AGENT_CHANNEL", "G0AGENTS")
    code, lines = checked()
    assert code == 0, lines
    [warning] = [ln for ln in lines if "TICKET_AGENT_CHANNEL" in ln]
    assert warning.startswith("warning") and "has no internal notes" in warning  # Epixel

    monkeypatch.setenv("TICKET_AGENT_CHANNEL", "C0AGENTS")
    slack.channels_without_bot.add("C0AGENTS")
    code, lines = checked()
    assert code == 1
    agent_lines = [ln for ln in lines if "TICKET_AGENT_CHANNEL" in ln]
    assert agent_lines[0].startswith("PROBLEM") and "/invite @ticket-bot" in agent_lines[0]
    assert agent_lines[1].startswith("warning") and "public channel" in agent_lines[1]

    monkeypatch.setenv("TICKET_AGENT_CHANNEL", "G0AGENTS")
    monkeypatch.setenv("TICKET_INTAKE_CHANNELS", "C0HELP,G0AGENTS")
    code, lines = checked()
    assert code == 0, lines
    assert any("requesters there read the internal notes" in ln for ln in lines), lines
