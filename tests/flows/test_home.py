"""App Home (`app_home_opened` -> `views.publish`), through the real path: signed events into
the Bolt app, the fake Slack, the fake Epixel helpdesk and a real Redis.

U1 (Ada) creates the tickets, so she is their requester; U2 (Grace) is a stranger unless
the fixture makes her an agent. Statuses come from the store's cache only, so the first
opening shows them as unknown while they are read in the background."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.slack import ids
from tests.support.flows import create, texts
from tests.support.harness import Harness, running_bot


@pytest.fixture()
def agents_u2(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    with running_bot(redis_url, redis_prefix, TICKET_AGENTS="U2") as harness:
        yield harness


def open_home(live: Harness, user_id: str = "U1") -> dict[str, Any]:
    """The view published after `user_id` opens the Home tab."""
    before = len(live.slack.calls_to("views.publish"))
    response = live.client.event({"type": "app_home_opened", "user": user_id, "tab": "home"})
    assert response.status_code == 200
    call = live.slack.wait_for("views.publish", count=before + 1)[before]
    assert call.args["user_id"] == user_id and call.response["ok"]
    return dict(call.args["view"])


def wait_until_cached(live: Harness, *names: str) -> None:
    """Until the background reads App Home started have put `names` into the cache."""
    deadline = time.monotonic() + 5
    while any(live.store.peek(name) is None for name in names):
        assert time.monotonic() < deadline, f"{names} never cached"
        time.sleep(0.02)


def wait_until_linked(live: Harness, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(live.store.linked_tickets()) < count:
        assert time.monotonic() < deadline, "the cards were never linked"
        time.sleep(0.02)


def ticket_ids(live: Harness) -> list[str]:
    return sorted(live.helpdesk.tickets, key=int)


def setting(view: dict[str, Any]) -> dict[str, Any]:
    (block,) = [b for b in view["blocks"] if b.get("block_id") == ids.HOME_SETTINGS_BLOCK]
    return dict(block["elements"][0])


def test_the_requester_sees_her_tickets_open_first_with_status_and_link(live: Harness) -> None:
    create(live, subject="Old printer")
    create(live, subject="New laptop")
    live.slack.wait_for("chat.postMessage", count=2)  # create() waits for the first card only
    wait_until_linked(live, 2)
    first, second = ticket_ids(live)
    live.helpdesk.tickets[first]["status"] = "3"  # closed in the helpdesk

    cold = texts(open_home(live))
    assert "status unknown" in cold and f"#{first}" in cold and f"#{second}" in cold
    assert "slack.com/archives/C1/p" in cold  # each card's permalink

    wait_until_cached(live, f"home-ticket:{first}", f"home-ticket:{second}")
    warm = texts(open_home(live))
    assert "status unknown" not in warm
    assert warm.index("New laptop") < warm.index("Old printer")  # open first
    assert "Open tickets" not in warm  # not an agent


def test_a_stranger_sees_no_tickets(live: Harness) -> None:
    create(live)
    shown = texts(open_home(live, "U2"))
    assert "You have no tickets yet." in shown
    assert "Printer jam" not in shown and "Open tickets" not in shown
    assert setting(open_home(live, "U2")).get("initial_options")  # on by default


def test_an_agent_also_sees_the_open_tickets(agents_u2: Harness) -> None:
    live = agents_u2
    create(live, subject="Printer jam")
    cold = texts(open_home(live, "U2"))
    assert "Open tickets" in cold and "being read from the helpdesk" in cold
    wait_until_cached(live, "home-open-tickets")
    warm = texts(open_home(live, "U2"))
    assert "Printer jam" in warm and "You have no tickets yet." in warm


def test_the_direct_message_setting_is_kept_and_shown(live: Harness) -> None:
    view = open_home(live)
    assert setting(view).get("initial_options") and live.store.wants_direct_messages("U1")
    before = len(live.slack.calls_to("views.publish"))
    action = {
        "action_id": ids.HOME_DM_SETTING,
        "block_id": ids.HOME_SETTINGS_BLOCK,
        "type": "checkboxes",
        "selected_options": [],
    }
    live.client.block_action(action, view=view)
    republished = live.slack.wait_for("views.publish", count=before + 1)[before]
    assert "initial_options" not in setting(republished.args["view"])
    assert not live.store.wants_direct_messages("U1")
    assert "initial_options" not in setting(open_home(live))  # kept

    on = {**action, "selected_options": setting(view)["options"]}
    live.client.block_action(on, view=view)
    live.slack.wait_for("views.publish", count=before + 3)
    assert live.store.wants_direct_messages("U1")
