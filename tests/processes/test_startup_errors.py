"""Broken configuration and dependencies at start-up, as real processes tell them: one line
naming each variable, a non-zero exit, no traceback, no secret."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.processes.test_entry_points import (
    APP_TOKEN,
    Fakes,
    fakes,  # noqa: F401 (fixture)
)
from tests.support.processes import EXIT_SECONDS, BotProcess, bot_env, free_port
from tests.support.redis_server import RedisServer

REDIS_PASSWORD = "hunter2-redis-pass"


def run_to_exit(args: list[str], env: dict[str, str], workdir: Path) -> tuple[int, str]:
    bot = BotProcess(args, env, workdir)
    try:
        code = bot.proc.wait(timeout=EXIT_SECONDS * 3)
    finally:
        bot.kill()
    return code, bot.output()


def lines_naming(output: str, variable: str) -> list[str]:
    return [line for line in output.splitlines() if variable in line]


def dead_redis_url() -> str:
    return f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        (["worker"], {}),
        (["serve", "--no-worker"], {"SLACK_SIGNING_SECRET": "s"}),
        (["socket"], {"SLACK_APP_TOKEN": APP_TOKEN}),
    ],
)
def test_redis_not_answering_at_start_is_one_line_and_exit_1(
    fakes: Fakes,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
    command: list[str],
    extra: dict[str, str],
) -> None:
    env = bot_env(fakes.slack, fakes.helpdesk, redis_url, redis_prefix, **extra)
    env["REDIS_URL"] = dead_redis_url()
    if command == ["serve", "--no-worker"]:
        command = [*command, "--port", str(free_port())]
    code, output = run_to_exit(command, env, tmp_path)
    assert code == 1, output
    (line,) = lines_naming(output, "REDIS_URL")
    assert "no Redis answers" in line and "Fix:" in line
    assert "Traceback" not in output
    assert REDIS_PASSWORD not in output


def test_a_refused_app_token_is_one_line_and_exit_1(
    fakes: Fakes,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    env = bot_env(
        fakes.slack, fakes.helpdesk, redis_url, redis_prefix, SLACK_APP_TOKEN="xapp-1-A1-1-revoked"
    )
    code, output = run_to_exit(["socket"], env, tmp_path)
    assert code == 1, output
    (line,) = lines_naming(output, "SLACK_APP_TOKEN")
    assert "refused" in line and "invalid_auth" in line
    assert "Traceback" not in output and "xapp-1-A1-1-revoked" not in output


@pytest.mark.parametrize(
    ("command", "unset", "bad", "named"),
    [
        (
            ["serve"],
            ["SLACK_BOT_TOKEN"],
            {"TICKET_SYNC_INTERVAL": "often", "PORT": "99999"},
            ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "TICKET_SYNC_INTERVAL", "PORT"],
        ),
        (
            ["socket"],
            ["SLACK_BOT_TOKEN"],
            {"REDIS_URL": "http://not-redis"},
            ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "REDIS_URL"],
        ),
        (
            ["worker"],
            [],
            {"OUTBOX_LANES": "many"},
            ["OUTBOX_LANES"],
        ),
    ],
)
def test_every_configuration_problem_is_named_at_once(
    fakes: Fakes,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
    command: list[str],
    unset: list[str],
    bad: dict[str, str],
    named: list[str],
) -> None:
    env = bot_env(fakes.slack, fakes.helpdesk, redis_url, redis_prefix, **bad)
    for variable in unset:
        del env[variable]
    code, output = run_to_exit(command, env, tmp_path)
    assert code == 2, output
    for variable in named:
        said = [ln for ln in output.splitlines() if ln.startswith(f"ticket-bot: {variable} ")]
        assert len(said) == 1, (variable, output)
    assert "Traceback" not in output


def test_variables_set_in_dotenv_are_not_called_missing(
    fakes: Fakes,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    env = bot_env(fakes.slack, fakes.helpdesk, redis_url, redis_prefix, PORT="0")
    (tmp_path / ".env").write_text("SLACK_SIGNING_SECRET=from-dotenv\n")
    code, output = run_to_exit(["serve"], env, tmp_path)
    assert code == 2, output
    assert lines_naming(output, "PORT") and not lines_naming(output, "SLACK_SIGNING_SECRET")


def test_a_worker_losing_redis_says_so_once_and_carries_on(
    fakes: Fakes,  # noqa: F811
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path).start()
    env = bot_env(fakes.slack, fakes.helpdesk, server.url, "lost", TICKET_SYNC_INTERVAL="1")
    bot = BotProcess(["worker"], env, tmp_path)
    try:
        wait_for_output(bot, "outbox worker")
        server.kill()
        wait_for_output(bot, "cannot reach Redis")
        time.sleep(3)  # outbox reads (each second) and poll cycles (each second) keep failing
        server.start()  # the same port
        wait_for_output(bot, "answers again")
        bot.assert_running()
    finally:
        bot.kill()
        server.stop()
    output = bot.output()
    assert output.count("cannot reach Redis") == 1, output
    assert "Traceback" not in output, output


def wait_for_output(bot: BotProcess, text: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in bot.output():
        bot.assert_running()
        assert time.monotonic() < deadline, f"never said {text!r}:\n{bot.output()}"
        time.sleep(0.05)
