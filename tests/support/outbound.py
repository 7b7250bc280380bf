"""Helpers for the Slack → helpdesk tests: linked threads, replies as Slack sends them,
and `python -m bot` processes pointed at the fakes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import httpx

from bot.store import ThreadRef
from tests.support.fakes.epixel import FakeEpixel
from tests.support.fakes.slack import FakeSlack
from tests.support.harness import BOT_TOKEN, SIGNING_SECRET, Harness
from tests.support.processes import BotProcess
from tests.support.slack_requests import SignedClient

OWN_ENV_PREFIXES = ("SLACK_", "TICKET_", "REDIS_", "OUTBOX_", "PORT", "LOG_LEVEL")


def wait_until(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        time.sleep(0.02)


def linked_thread(live: Harness, channel: str = "C1", subject: str = "Printer jam") -> ThreadRef:
    """A helpdesk ticket and its card's thread, linked as the desk links them."""
    ticket_id = live.helpdesk.add_ticket(subject)
    card = live.slack.add_message(channel, f"Ticket #{ticket_id}", user="UBOT")
    thread = ThreadRef(channel, card["ts"])
    live.store.link_thread(str(ticket_id), thread)
    return thread


def ticket_of(live: Harness, thread: ThreadRef) -> int:
    found = live.store.ticket_for_thread(thread)
    assert found is not None
    return int(found)


def conversations(helpdesk: FakeEpixel, ticket_id: int) -> list[str]:
    return [c["comment"] for c in list(helpdesk.conversations) if c["ticket"] == ticket_id]


def message_event(
    slack: FakeSlack, thread: ThreadRef, text: str, *, user: str = "U1", **extra: Any
) -> dict[str, Any]:
    """A person's reply in `thread`, stored in FakeSlack, as the `message` event Slack sends."""
    stored = slack.add_message(thread.channel, text, user=user, thread_ts=thread.ts)
    return {
        "type": "message",
        "channel": thread.channel,
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": stored["ts"],
        "thread_ts": thread.ts,
        **extra,
    }


def reply(
    client: SignedClient, slack: FakeSlack, thread: ThreadRef, text: str, **extra: Any
) -> dict[str, Any]:
    event = message_event(slack, thread, text, **extra)
    response = client.event(event)
    assert response.status_code == 200
    return event


def delivered_reactions(slack: FakeSlack, name: str = "white_check_mark") -> set[str]:
    return {ts for (_, ts, reaction) in set(slack.reactions) if reaction == name}


def bot_env(
    slack: FakeSlack, helpdesk: FakeEpixel, redis_url: str, prefix: str, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_ENV_PREFIXES)}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        TICKET_API_URL=helpdesk.base_url,
        TICKET_API_KEY="test-api-key",
        TICKET_API_USERNAME="bot@example.com",
        TICKET_API_PASSWORD="s3cret-pass",
        TICKET_SYNC_INTERVAL="3600",
        REDIS_URL=redis_url,
        REDIS_PREFIX=prefix,
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        OUTBOX_BLOCK_MS="100",
        OUTBOX_CLAIM_IDLE_MS="700",
        OUTBOX_CLAIM_EVERY="0.2",
        OUTBOX_BACKOFF_BASE="0.05",
        OUTBOX_BACKOFF_CAP="0.4",
    )
    env.update(extra)
    return env


def wait_for_http(url: str, proc: BotProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.proc.poll() is None, f"exited early:\n{proc.output()}"
        with suppress(httpx.HTTPError):
            httpx.get(url, timeout=1.0)
            return
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered:\n{proc.output()}")
