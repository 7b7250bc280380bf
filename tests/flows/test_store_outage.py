"""Redis lost while the bot runs: the person in Slack is told, the log says it once per
outage, and once Redis is back the bot works again.

The bot runs on a redis-server of this test's own, which is killed (SIGKILL, as a crash)
and started again on the same port."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.slack import ids
from tests.support.flows import linked_ticket, open_form, submit, texts, thread_of
from tests.support.harness import Harness, running_bot
from tests.support.redis_server import RedisServer

OUTAGE_LINE = "cannot reach Redis"
BACK_LINE = "answers again"


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture()
def bot(server: RedisServer) -> Iterator[Harness]:
    with running_bot(server.url, "outage", outbox=None) as harness:
        yield harness


def _outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if OUTAGE_LINE in r.getMessage()]


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.exc_text]


def test_ticket_new_with_redis_down_tells_the_person_and_logs_once(
    bot: Harness, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.kill()
    with caplog.at_level(logging.INFO):
        for attempt in range(1, 4):
            answer = bot.client.command("new Printer")
            assert answer.status_code == 200
            told = bot.slack.wait_for("response_url", count=attempt, timeout=10)[-1]
            assert "cannot reach my store" in texts(told.args)
            assert told.args.get("response_type") == "ephemeral"
        bot.health.check_now()  # the probe sees the same outage: still no second line
    assert len(_outage_lines(caplog)) == 1, caplog.text
    assert _tracebacks(caplog) == []
    assert bot.slack.calls_to("views.open") == []


def test_the_message_shortcut_with_redis_down_tells_the_person_and_logs_once(
    bot: Harness, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    message = bot.slack.add_message("C1", "Printer jam")
    server.kill()
    with caplog.at_level(logging.INFO):
        for attempt in (1, 2):
            answer = bot.client.message_shortcut(ids.MESSAGE_SHORTCUT, message)
            assert answer.status_code == 200
            told = bot.slack.wait_for("response_url", count=attempt, timeout=10)[-1]
            assert "cannot reach my store" in texts(told.args)
    assert len(_outage_lines(caplog)) == 1, caplog.text
    assert _tracebacks(caplog) == []
    assert bot.slack.calls_to("views.open") == []


def test_a_submitted_form_with_redis_down_stays_open_with_the_reason(
    bot: Harness, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    view = open_form(bot, "Printer")
    server.kill()
    with caplog.at_level(logging.INFO):
        answer = submit(bot, view, description_input="jam", category_input="1")
    assert answer.status_code == 200
    body = answer.json()
    assert body["response_action"] == "errors"
    assert "cannot reach my store" in body["errors"][ids.SUBJECT_BLOCK]
    assert len(_outage_lines(caplog)) == 1 and _tracebacks(caplog) == []


def test_an_event_with_redis_down_is_refused_for_slack_to_retry(
    bot: Harness, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.kill()
    reply = {
        "type": "message",
        "channel": "C1",
        "user": "U1",
        "text": "hello",
        "ts": f"{time.time():.6f}",
        "thread_ts": "1700000000.000100",
    }
    with caplog.at_level(logging.INFO):
        answers = [bot.client.event(reply).status_code for _ in range(3)]
    assert answers == [503, 503, 503]  # not a 500: no traceback; Slack retries later
    assert len(_outage_lines(caplog)) == 1 and _tracebacks(caplog) == []


def test_after_the_outage_the_bot_says_so_once_and_works_again(
    bot: Harness, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        server.kill()
        assert not bot.health.check_now().ok
        bot.client.command("new")
        bot.slack.wait_for("response_url", timeout=10)
        server.start()  # the same port, an empty Redis
        assert bot.health.check_now().ok
        bot.health.check_now()
        server.kill()  # a second outage is told again, once
        bot.client.command("new")
        bot.slack.wait_for("response_url", count=2, timeout=10)
        assert not bot.health.check_now().ok
    back = [r.getMessage() for r in caplog.records if BACK_LINE in r.getMessage()]
    assert len(back) == 1, caplog.text
    assert len(_outage_lines(caplog)) == 2, caplog.text
    server.start()
    bot.health.check_now()
    bot.client.command("new Printer")
    bot.slack.wait_for("views.open", timeout=10)


def test_a_card_click_with_redis_down_tells_the_clicker_and_logs_the_outage_once(
    bot: Harness, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    ticket_id = linked_ticket(bot)
    card = thread_of(bot, ticket_id)
    before = len(bot.slack.calls_to("response_url"))
    server.kill()
    action = {"action_id": ids.CLOSE, "block_id": f"card:{ticket_id}", "value": ticket_id}
    container = {"type": "message", "channel_id": card.channel, "message_ts": card.ts}
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            assert bot.client.block_action(action, container=container).status_code == 200
        told = bot.slack.wait_for("response_url", count=before + 3, timeout=10)[before:]
    for answer in told:
        assert "cannot reach my store" in texts(answer.args)
        assert "could not change the ticket" in texts(answer.args)
        assert answer.args.get("response_type") == "ephemeral"
    assert len(_outage_lines(caplog)) == 1, caplog.text
    assert _tracebacks(caplog) == []
    assert bot.slack.calls_to("chat.update") == []


@pytest.mark.parametrize("command", ["list", "show 1"])
def test_a_lookup_with_redis_down_tells_the_person(
    bot: Harness, server: RedisServer, caplog: pytest.LogCaptureFixture, command: str
) -> None:
    linked_ticket(bot)
    before = len(bot.slack.calls_to("response_url"))
    server.kill()
    with caplog.at_level(logging.INFO):
        assert bot.client.command(command).status_code == 200
        told = bot.slack.wait_for("response_url", count=before + 1, timeout=10)[-1]
    assert "cannot reach my store" in texts(told.args), texts(told.args)
    assert len(_outage_lines(caplog)) == 1, caplog.text
    assert _tracebacks(caplog) == []
