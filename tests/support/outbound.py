"""Helpers for the Slack → helpdesk tests: linked threads, replies as Slack sends them,
and `python -m bot` processes pointed at the fakes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.store import ThreadRef
from tests.support.fakes.epixel import FakeEpixel
from tests.support.fakes.slack import FakeSlack
from tests.support.harness import SIGNING_SECRET, Harness
from tests.support.processes import bot_env
from tests.support.slack_requests import SignedClient


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


def edited(event: dict[str, object], text: str) -> dict[str, object]:
    message = {**event, "text": text, "edited": {"user": event["user"], "ts": f"{time.time()}"}}
    message.pop("channel", None)
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": event["channel"],
        "ts": f"{time.time():.6f}",
        "message": message,
        "previous_message": {k: v for k, v in event.items() if k != "channel"},
    }


def deleted(event: dict[str, object]) -> dict[str, object]:
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": event["channel"],
        "ts": f"{time.time():.6f}",
        "deleted_ts": event["ts"],
        "previous_message": {k: v for k, v in event.items() if k != "channel"},
    }


def delivered_reactions(slack: FakeSlack, name: str = "white_check_mark") -> set[str]:
    return {ts for (_, ts, reaction) in set(slack.reactions) if reaction == name}


def serving_env(
    slack: FakeSlack, helpdesk: FakeEpixel, redis_url: str, prefix: str, **extra: str
) -> dict[str, str]:
    """A bot serving HTTP with a quick outbox: redeliveries and retries in a fraction of a
    second, and no poller in the way (its interval is an hour)."""
    quick: dict[str, str] = {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "TICKET_SYNC_INTERVAL": "3600",
        "OUTBOX_BLOCK_MS": "100",
        "OUTBOX_CLAIM_IDLE_MS": "700",
        "OUTBOX_CLAIM_EVERY": "0.2",
        "OUTBOX_BACKOFF_BASE": "0.05",
        "OUTBOX_BACKOFF_CAP": "0.4",
    }
    return bot_env(slack, helpdesk, redis_url, prefix, **{**quick, **extra})


def reaction_on(message: dict[str, Any], channel: str = "C1") -> dict[str, Any]:
    """Grace reacts to `message` with the reaction that makes tickets (TICKET_REACTION)."""
    item = {"type": "message", "channel": channel, "ts": message["ts"]}
    return {"type": "reaction_added", "user": "U2", "reaction": "ticket", "item": item}


def reply_while_backfilled(
    live: Harness, thread: ThreadRef, make_ticket: Callable[[], object], text: str
) -> dict[str, Any]:
    """`make_ticket` makes a ticket that takes over `thread`; a person replies there once
    the thread is linked but before the thread's earlier replies are read (Slack holds
    `conversations.replies` until then). Returns the reply's event."""
    live.slack.hold("conversations.replies")
    try:
        make_ticket()
        wait_until(lambda: live.store.ticket_for_thread(thread), what="the thread linked")
        return reply(live.client, live.slack, thread, text, user="U2")
    finally:
        live.slack.release("conversations.replies")


def outbox_drained(live: Harness) -> bool:
    """Every outbox entry delivered (or given up): nothing left to reach the helpdesk."""
    return int(live.store.redis.xlen(live.store.outbox_stream())) == 0
