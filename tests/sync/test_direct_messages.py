"""Direct messages to the requester (bot/sync/poller.py collects, an outbox job delivers),
through the real path: the poller reads the fake Epixel helpdesk, the harness's worker
delivers from the outbox to the fake Slack, on a real Redis. U1 (Ada) is the requester.

A ticket's jobs share one outbox lane, delivered in order: a later direct message that
arrived shows that an earlier poll put none."""

from __future__ import annotations

from typing import Any

from tests.support.flows import card_button, create, linked_ticket, make_poller, texts, thread_of
from tests.support.harness import Harness
from tests.support.outbound import wait_until


def direct_messages(live: Harness, count: int) -> list[dict[str, Any]]:
    """Waits for `count` messages to U1 and returns them all."""

    def to_ada() -> list[Any]:
        return [c for c in live.slack.calls_to("chat.postMessage") if c.args["channel"] == "U1"]

    wait_until(lambda: len(to_ada()) >= count, what=f"{count} direct messages")
    return [c.args for c in to_ada()]


def test_a_burst_of_agent_replies_and_a_status_change_is_one_direct_message(
    live: Harness,
) -> None:
    ticket_id = linked_ticket(live)
    live.helpdesk.add_agent_conversation(int(ticket_id), "Have you tried turning it off?")
    live.helpdesk.add_agent_conversation(int(ticket_id), "And on again?")
    live.helpdesk.tickets[int(ticket_id)]["status"] = "3"

    make_poller(live).poll_once()

    (dm,) = direct_messages(live, 1)
    shown = texts(dm)
    assert f"Ticket #{ticket_id}" in shown
    assert "Have you tried turning it off?" in shown and "And on again?" in shown
    assert "in the helpdesk" in shown  # the status change
    thread = thread_of(live, ticket_id)
    assert f"/archives/{thread.channel}/p{thread.ts.replace('.', '')}" in shown


def test_none_when_switched_off_on_app_home(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    poller = make_poller(live)
    live.store.set_direct_messages("U1", False)
    live.helpdesk.add_agent_conversation(int(ticket_id), "Quiet reply")
    poller.poll_once()

    live.store.set_direct_messages("U1", True)
    live.helpdesk.add_agent_conversation(int(ticket_id), "Loud reply")
    poller.poll_once()

    (dm,) = direct_messages(live, 1)
    assert "Loud reply" in texts(dm) and "Quiet reply" not in texts(dm)


def test_nothing_new_sends_nothing(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    poller = make_poller(live)
    poller.poll_once()
    live.helpdesk.add_agent_conversation(int(ticket_id), "The only news")
    poller.poll_once()
    (dm,) = direct_messages(live, 1)
    assert "The only news" in texts(dm)


def test_the_requesters_own_close_from_the_card_sends_none(live: Harness) -> None:
    card = create(live)  # by U1, so she is the requester
    ticket_id = str(next(iter(live.helpdesk.tickets)))
    poller = make_poller(live)
    poller.poll_once()  # the poller's first sight of it
    live.client.block_action(
        card_button(card, "Close"), user_id="U1", message=card.response["message"]
    )
    live.slack.wait_for("chat.postMessage", count=2)  # the card's note: closed by Ada
    poller.sync_ticket(ticket_id)  # sees the change already made from the card: no news

    live.helpdesk.add_agent_conversation(int(ticket_id), "Closed, as you asked")
    poller.sync_ticket(ticket_id)  # a closed ticket is read only every few polls

    (dm,) = direct_messages(live, 1)
    assert "Closed, as you asked" in texts(dm) and "in the helpdesk" not in texts(dm)
