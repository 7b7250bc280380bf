"""A requester's direct messages come one per burst of news on a ticket (bot/desk/news.py),
through the real path: the poller reads the fake Epixel helpdesk (or a card's button is
clicked in the Bolt app), the outbox worker delivers to the fake Slack, on a real Redis.

U1 (Ada) is the requester; U2 (Grace) is an agent. "Exactly one" is checked once nothing
more can come: the outbox drained and no news left pending for the ticket."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack import ids
from bot.store import ThreadRef
from bot.sync.outbox import Outbox, SyncJob
from tests.support.flows import (
    card_button,
    create,
    linked_ticket,
    make_poller,
    replies,
    shown,
    texts,
    thread_of,
)
from tests.support.harness import TEST_OUTBOX, Harness, running_bot
from tests.support.outbound import (
    conversations,
    linked_thread,
    reply,
    serving_env,
    ticket_of,
    wait_until,
)
from tests.support.processes import BotProcess

#: seconds: long enough for a few polls in a row on a slow machine, short enough to wait for
WINDOW = 2.0


def direct_messages(live: Harness, user_id: str = "U1") -> list[dict[str, Any]]:
    """Messages the bot posted to `user_id`'s IM, in order."""
    return [
        c.args
        for c in live.slack.calls_to("chat.postMessage")
        if c.args["channel"] == user_id and c.response.get("ok")
    ]


def wait_for_direct_messages(live: Harness, count: int, timeout: float = 15) -> None:
    wait_until(
        lambda: len(direct_messages(live)) >= count, timeout, what=f"{count} direct messages"
    )


def wait_until_settled(live: Harness, ticket_id: str) -> None:
    """Until no direct message about the ticket can still come: nothing in the outbox, no
    news waiting for one."""
    wait_until(
        lambda: live.store.outbox_figures().depth == 0 and not live.store.pending_news(ticket_id),
        what="the outbox drained",
    )


def wait_for_thread_reply(live: Harness, ticket_id: str, text: str) -> None:
    def posted() -> bool:
        return any(text in shown(m) for m in replies(live, ticket_id))

    wait_until(posted, what=f"{text} in the thread")


def switch_off_on_app_home(live: Harness, user_id: str = "U1") -> None:
    """Ada unticks the setting on her Home tab, as Slack sends it."""
    before = len(live.slack.calls_to("views.publish"))
    live.client.event({"type": "app_home_opened", "user": user_id, "tab": "home"})
    view = live.slack.wait_for("views.publish", count=before + 1)[before].args["view"]
    action = {
        "action_id": ids.HOME_DM_SETTING,
        "block_id": ids.HOME_SETTINGS_BLOCK,
        "type": "checkboxes",
        "selected_options": [],
    }
    live.client.block_action(action, user_id=user_id, view=view)
    live.slack.wait_for("views.publish", count=before + 2)
    assert not live.store.wants_direct_messages(user_id)


def wait_for_conversation(live: Harness, thread: ThreadRef) -> None:
    ticket_id = ticket_of(live, thread)
    wait_until(lambda: conversations(live.helpdesk, ticket_id), what="the reply in the helpdesk")


@pytest.fixture()
def bursts(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    with running_bot(redis_url, redis_prefix, TICKET_DM_WINDOW=WINDOW) as harness:
        yield harness


@pytest.fixture()
def agents(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    with running_bot(redis_url, redis_prefix, TICKET_AGENTS="U2") as harness:
        yield harness


# --- bursts ---------------------------------------------------------------------------


def test_replies_read_in_separate_polls_within_the_window_are_one_message(
    bursts: Harness,
) -> None:
    live = bursts
    ticket_id = linked_ticket(live)
    poller = make_poller(live)
    started = time.monotonic()
    for text in ("First, restart it.", "Second, check the cable.", "Third, call me."):
        live.helpdesk.add_agent_conversation(int(ticket_id), text)
        poller.poll_once()
    live.helpdesk.tickets[int(ticket_id)]["status"] = "3"
    poller.poll_once()

    wait_for_direct_messages(live, 1)
    assert time.monotonic() - started >= WINDOW  # held for the rest of the burst
    wait_until_settled(live, ticket_id)
    (dm,) = direct_messages(live)
    message = texts(dm)
    first, second, third = (message.index(t) for t in ("First,", "Second,", "Third,"))
    assert first < second < third < message.index("in the helpdesk")
    thread = thread_of(live, ticket_id)
    assert f"/archives/{thread.channel}/p{thread.ts.replace('.', '')}" in message


def test_replies_read_by_separate_webhook_syncs_are_one_message(bursts: Harness) -> None:
    """What a helpdesk's webhook writes (bot/sync/webhooks.py): a sync job per change."""
    live = bursts
    ticket_id = linked_ticket(live)
    for text in ("Pushed one", "Pushed two", "Pushed three"):
        live.helpdesk.add_agent_conversation(int(ticket_id), text)
        Outbox(live.store).put(SyncJob(ticket_id=ticket_id))
        wait_for_thread_reply(live, ticket_id, text)  # read by its own sync, not the next

    wait_for_direct_messages(live, 1)
    wait_until_settled(live, ticket_id)
    (dm,) = direct_messages(live)
    message = texts(dm)
    assert message.index("Pushed one") < message.index("Pushed two") < message.index("Pushed three")


def test_news_after_the_message_went_is_a_second_message(bursts: Harness) -> None:
    live = bursts
    ticket_id = linked_ticket(live)
    poller = make_poller(live)
    live.helpdesk.add_agent_conversation(int(ticket_id), "Before")
    poller.poll_once()
    wait_for_direct_messages(live, 1)

    live.helpdesk.add_agent_conversation(int(ticket_id), "After")
    poller.poll_once()
    wait_for_direct_messages(live, 2)
    wait_until_settled(live, ticket_id)

    first, second = (texts(dm) for dm in direct_messages(live))
    assert "Before" in first and "After" not in first
    assert "After" in second and "Before" not in second


def test_waiting_messages_hold_no_lane_from_other_tickets(
    redis_url: str, redis_prefix: str
) -> None:
    """One lane reading 4 entries ahead; 5 messages waiting for their window."""
    outbox = TEST_OUTBOX.model_copy(update={"lanes": 1, "read_ahead": 4})
    with running_bot(redis_url, redis_prefix, outbox, TICKET_DM_WINDOW=600) as live:
        waiting = [linked_ticket(live, f"Waiting {n}") for n in range(5)]
        for ticket_id in waiting:
            live.helpdesk.add_agent_conversation(int(ticket_id), "Held for the burst")
        make_poller(live).poll_once()
        wait_until(lambda: live.store.outbox_pending() == 5, what="the worker holds the jobs")

        for number in range(2):
            thread = linked_thread(live, subject=f"Other {number}")
            reply(live.client, live.slack, thread, f"Reply {number}")
            wait_for_conversation(live, thread)
        for ticket_id in waiting:
            assert live.store.pending_news(ticket_id) == [
                "agent@example.com replied: Held for the burst"
            ]
        assert not direct_messages(live)


# --- the card's buttons -----------------------------------------------------------------


def close_from_card(live: Harness, card: Any, user_id: str) -> None:
    before = len(live.slack.calls_to("chat.postMessage"))
    live.client.block_action(
        card_button(card, "Close"), user_id=user_id, message=card.response["message"]
    )
    live.slack.wait_for("chat.postMessage", count=before + 1)  # the note: closed by …


def test_an_agent_closing_from_the_card_tells_the_requester_once(agents: Harness) -> None:
    live = agents
    card = create(live)  # by U1, so she is the requester
    ticket_id = str(next(iter(live.helpdesk.tickets)))
    poller = make_poller(live)
    poller.poll_once()  # the poller's first sight of it

    close_from_card(live, card, "U2")
    wait_for_direct_messages(live, 1)
    poller.sync_ticket(ticket_id)  # reads the close: the card made it, no news again
    wait_until_settled(live, ticket_id)

    (dm,) = direct_messages(live)
    assert "Grace Hopper closed the ticket." in texts(dm)
    assert "in the helpdesk" not in texts(dm)
    thread = thread_of(live, ticket_id)
    assert f"/archives/{thread.channel}/p{thread.ts.replace('.', '')}" in texts(dm)


def test_the_requester_closing_her_own_ticket_gets_none(agents: Harness) -> None:
    live = agents
    card = create(live)
    ticket_id = str(next(iter(live.helpdesk.tickets)))
    make_poller(live).poll_once()

    close_from_card(live, card, "U1")
    wait_until_settled(live, ticket_id)

    assert live.helpdesk.tickets[int(ticket_id)]["status"] == "3"  # the close happened
    assert not direct_messages(live)


def test_none_from_the_card_when_switched_off_on_app_home(agents: Harness) -> None:
    live = agents
    card = create(live)
    ticket_id = str(next(iter(live.helpdesk.tickets)))
    switch_off_on_app_home(live)

    close_from_card(live, card, "U2")
    wait_until_settled(live, ticket_id)

    assert not direct_messages(live)


def test_switched_off_during_the_window_sends_none(bursts: Harness) -> None:
    live = bursts
    ticket_id = linked_ticket(live)
    live.helpdesk.add_agent_conversation(int(ticket_id), "Too late to stop?")
    make_poller(live).poll_once()
    switch_off_on_app_home(live)

    wait_until_settled(live, ticket_id)

    assert not direct_messages(live)


# --- crashes ----------------------------------------------------------------------------


def test_a_message_slack_failed_once_is_sent_once_with_its_lines(bursts: Harness) -> None:
    live = bursts
    ticket_id = linked_ticket(live)
    live.helpdesk.add_agent_conversation(int(ticket_id), "Slack hiccup")
    make_poller(live).poll_once()  # the reply is in the thread; its message waits the window
    live.slack.fail_next("chat.postMessage", "internal_error")  # the message's first attempt

    wait_for_direct_messages(live, 1)
    wait_until_settled(live, ticket_id)
    (dm,) = direct_messages(live)
    assert dm["blocks"][0]["text"]["text"].count("Slack hiccup") == 1
    attempts = [c for c in live.slack.calls_to("chat.postMessage") if c.args["channel"] == "U1"]
    assert [c.response["ok"] for c in attempts] == [False, True]


@pytest.fixture()
def idle(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    """The bot without an outbox worker of its own: worker processes deliver."""
    with running_bot(redis_url, redis_prefix, outbox=None) as harness:
        yield harness


def test_a_worker_killed_while_a_burst_waits_leaves_it_to_the_next_once(
    idle: Harness, tmp_path: Path, redis_url: str
) -> None:
    live = idle
    ticket_id = linked_ticket(live)
    live.helpdesk.add_agent_conversation(int(ticket_id), "Survives a crash")
    env = serving_env(live.slack, live.helpdesk, redis_url, live.store.prefix, TICKET_DM_WINDOW="4")
    first = BotProcess(["worker"], env, tmp_path, "worker-1")
    try:
        # its poller stored the line and the job; its outbox read the job and holds it
        wait_until(
            lambda: live.store.outbox_pending() == 1,
            timeout=30,
            what=f"the first worker holding the job\n{first.output()}",
        )
        first.kill()  # SIGKILL: nothing handed back
    finally:
        first.kill()
    assert live.store.pending_news(ticket_id) == ["agent@example.com replied: Survives a crash"]
    assert not direct_messages(live)

    second = BotProcess(["worker"], env, tmp_path, "worker-2")
    try:
        wait_for_direct_messages(live, 1, timeout=30)
        wait_until_settled(live, ticket_id)
        assert "took over entry" in second.output()
        assert second.terminate() == 0
    finally:
        second.kill()
    (dm,) = direct_messages(live)
    assert "Survives a crash" in texts(dm)
