"""Attachments from the modal, /healthz, and `ticket-bot check` against the fakes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bot.runtime.check import run_check
from tests.support.fakes.epixel import FakeEpixel
from tests.support.fakes.slack import FakeSlack
from tests.support.flows import open_form, submit
from tests.support.harness import BOT_TOKEN, Harness

#: Points the environment at a fake Slack and a fake helpdesk for `ticket-bot check`.
CheckEnv = Callable[[FakeSlack, FakeEpixel], None]


def test_modal_attachment_reaches_the_helpdesk(live: Harness) -> None:
    file = live.slack.add_file("F1", "screenshot.png", b"\x89PNG fake", "image/png")
    view = open_form(live, "With a file")
    submit(live, view, description_input="see file", category_input="1", attachment_input=[file])
    live.slack.wait_for("chat.postMessage")
    create = live.helpdesk.requests_to("create/ticket")[0]
    assert create.files["attachment"] == ("screenshot.png", b"\x89PNG fake")


def test_too_large_attachment_is_refused_in_the_ack(live: Harness) -> None:
    file = live.slack.add_file("F2", "huge.bin", b"x" * (2 * 1024 * 1024 + 1))
    view = open_form(live, "Huge")
    body = submit(
        live, view, description_input="d", category_input="1", attachment_input=[file]
    ).json()
    assert body["response_action"] == "errors"
    assert "2 MiB" in body["errors"]["attachment"]
    assert live.helpdesk.requests_to("create/ticket") == []


def test_healthz_answers_503_while_the_helpdesk_is_down_then_200(live: Harness) -> None:
    assert httpx.get(live.url + "/healthz").status_code == 503  # no check finished yet
    live.helpdesk.fail_next(50, status=503)
    live.health.check_now()
    down = httpx.get(live.url + "/healthz", timeout=30)
    assert down.status_code == 503 and "helpdesk" in down.text
    live.helpdesk.reset()
    live.health.check_now()
    assert httpx.get(live.url + "/healthz").status_code == 200
    assert httpx.get(live.url + "/livez").status_code == 200
    assert httpx.get(live.url + "/nothing").status_code == 404


@pytest.fixture()
def check_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str) -> CheckEnv:
    monkeypatch.chdir(tmp_path)

    def configure(slack: FakeSlack, helpdesk: FakeEpixel) -> None:
        values = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_API_URL": slack.api_url,
            "TICKET_API_URL": helpdesk.base_url,
            "TICKET_API_KEY": "test-api-key",
            "TICKET_API_USERNAME": "bot@example.com",
            "TICKET_API_PASSWORD": "s3cret-pass",
            "REDIS_URL": redis_url,
        }
        for key, value in values.items():
            monkeypatch.setenv(key, value)

    return configure


def test_check_all_well(check_env: CheckEnv) -> None:
    lines: list[str] = []
    with FakeSlack(bot_token=BOT_TOKEN) as slack, FakeEpixel() as helpdesk:
        check_env(slack, helpdesk)
        assert run_check(lines.append) == 0
    # the test Redis keeps nothing on disk: a warning, which does not fail the check
    assert all(line.startswith(("ok", "warning")) for line in lines), lines
    assert any("3 categories" in line for line in lines)


def test_check_names_a_missing_scope_and_a_dead_helpdesk(check_env: CheckEnv) -> None:
    lines: list[str] = []
    with (
        FakeSlack(
            bot_token=BOT_TOKEN, scopes=("commands", "chat:write", "users:read", "users:read.email")
        ) as slack,
        FakeEpixel(api_key="other-key") as helpdesk,
    ):
        check_env(slack, helpdesk)
        assert run_check(lines.append) == 1
    problems = [line for line in lines if line.startswith("PROBLEM")]
    assert any("`files:read`" in p and "reinstall the app" in p for p in problems)
    assert any("helpdesk (epixel)" in p and "TICKET_API" in p for p in problems)
    assert not any("test-api-key" in line or BOT_TOKEN in line for line in lines)


def test_check_with_a_bad_token(check_env: CheckEnv) -> None:
    lines: list[str] = []
    with FakeSlack(bot_token="xoxb-the-right-one") as slack, FakeEpixel() as helpdesk:
        check_env(slack, helpdesk)
        assert run_check(lines.append) == 1
    assert any("invalid_auth" in line and "SLACK_BOT_TOKEN" in line for line in lines)


def test_no_token_warning_when_the_token_is_in_the_environment(
    live: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Deployments set SLACK_BOT_TOKEN; Bolt would warn at every start that it is unused."""
    from bot.runtime.after_ack import AfterAck
    from bot.runtime.wiring import build_slack_app

    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    with caplog.at_level(logging.WARNING):
        build_slack_app(live.settings, live.gateway, live.store, AfterAck())
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_check_says_the_embedded_sandbox_is_a_problem_outside_the_console(
    check_env: CheckEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    with FakeSlack(bot_token=BOT_TOKEN) as slack, FakeEpixel() as helpdesk:
        check_env(slack, helpdesk)
        monkeypatch.delenv("TICKET_API_URL")
        assert run_check(lines.append) == 1
    sandbox_lines = [line for line in lines if "embedded sandbox" in line]
    assert len(sandbox_lines) == 1, lines
    assert sandbox_lines[0].startswith("PROBLEM") and "set TICKET_API_URL" in sandbox_lines[0]
    assert any("helpdesk (epixel): answering" in line for line in lines), lines
