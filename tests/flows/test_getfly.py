"""The Getfly backend through the real Slack path: /ticket new → modal → card → thread
replies (one note) → Close/Reopen → /ticket show and list, with the UI following
Getfly's capabilities (no priority, no tags, no file input, status not read back)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.slack import ids
from tests.support.fakes.getfly import FakeGetfly
from tests.support.flows import (
    card_button,
    linked_card,
    notes_in,
    open_form,
    submit,
    texts,
    wait_for_view,
)
from tests.support.harness import Harness, running_bot
from tests.support.outbound import reply, wait_until

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


@pytest.fixture
def getfly(redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    fake = FakeGetfly()
    for name, value in fake.section_env().items():  # a settings section: from the environment
        monkeypatch.setenv(name, value)
    with running_bot(redis_url, redis_prefix, helpdesk=fake, TICKET_AGENTS="U1") as harness:
        yield harness


def block_ids(view: dict[str, Any]) -> set[str]:
    return {b.get("block_id", "") for b in view["blocks"]}


def elements(call: Any) -> list[dict[str, Any]]:
    return [e for b in call.args["blocks"] for e in b.get("elements", []) if "type" in e]


def create(live: Harness) -> tuple[Any, str]:
    view = open_form(live, "Printer jam")
    response = submit(live, view, description_input=f"{HOSTILE}\nsecond line", category_input="2")
    assert response.status_code == 200
    card = linked_card(live)
    fake: FakeGetfly = live.helpdesk
    [code] = fake.tickets
    return card, code


def test_the_form_offers_only_what_getfly_takes(getfly: Harness) -> None:
    view = open_form(getfly, "Printer jam")
    shown = block_ids(view)
    assert ids.CATEGORY_BLOCK in shown
    assert ids.PRIORITY_BLOCK not in shown and ids.ATTACHMENT_BLOCK not in shown
    assert "Feature Explanation" in texts(view)


def test_new_ticket_card_replies_close_and_reopen(getfly: Harness) -> None:
    live = getfly
    fake: FakeGetfly = live.helpdesk
    card, code = create(live)

    # The ticket, as Getfly stored it: escaped HTML, the requester, the configured extras.
    stored = fake.tickets[code]
    assert stored["ticket_title"] == "Printer jam" and stored["cate_id"] == 2
    assert (
        "&lt;script&gt;" in stored["ticket_content"] and "<script>" not in stored["ticket_content"]
    )
    assert "<br>second line" in stored["ticket_content"]
    assert stored["contact_name"] == "Ada Lovelace" and stored["account_email"] == "ada@example.com"
    assert stored["custom_fields"] == {"source": "Slack"} and stored["expected_at"]
    assert stored["status_name"] == "New"
    assert all("cookie" not in r.headers for r in fake.requests)

    # The card: the code as its id, a Close button, no priority or tags select.
    shown = texts(card.args["blocks"])
    assert f"Ticket #{code}" in shown and "Feature Explanation" in shown and "Open" in shown
    assert [e["type"] for e in elements(card)] == ["button"]
    close = card_button(card, "Close")
    assert close["value"] == code and close["block_id"].endswith(code)
    wait_for_view(live, "ticket_new_result", "was created")

    # Two replies in the thread: one note, nothing sent to Getfly.
    thread = live.store.thread_for_ticket(code)
    assert thread is not None
    requests_before = len(fake.requests)
    for text in ("first reply", "second reply"):
        reply(live.client, live.slack, thread, text)
    wait_until(lambda: notes_in(live, thread), what="the note")
    time.sleep(0.3)
    notes = notes_in(live, thread)
    assert len(notes) == 1 and "does not take replies" in notes[0]
    assert len(fake.requests) == requests_before

    # An agent edits the ticket in Getfly; Close must not wipe it.
    stored["ticket_content"] = "<p>Agent's notes</p>"
    stored["custom_fields"] = {"source": "Slack", "sla": "gold"}
    live.client.block_action(close, message=card.response["message"])
    updated = live.slack.wait_for("chat.update")[0]
    [put] = fake.requests_to("PUT", "ticket")
    assert fake.json_of(put) == {"ticket_code": code, "status_name": "Closed"}
    assert stored["status_name"] == "Closed"
    assert stored["ticket_content"] == "<p>Agent's notes</p>"
    assert stored["custom_fields"] == {"source": "Slack", "sla": "gold"}
    assert "Closed" in texts(updated.args["blocks"])
    wait_until(
        lambda: any("Ada Lovelace closed the ticket" in n for n in notes_in(live, thread)),
        what="the closing note",
    )

    # Reopen: the configured open name, the card back to Open with a Close button.
    live.client.block_action(card_button(updated, "Reopen"), message=card.response["message"])
    reopened = live.slack.wait_for("chat.update", count=2)[1]
    assert fake.json_of(fake.requests_to("PUT", "ticket")[1]) == {
        "ticket_code": code,
        "status_name": "New",
    }
    assert "Open" in texts(reopened.args["blocks"])
    card_button(reopened, "Close")


def test_show_and_list_take_ticket_codes(getfly: Harness) -> None:
    live = getfly
    fake: FakeGetfly = live.helpdesk
    code = fake.add_ticket("VPN down <!here>", "<p>Since Monday</p>", cate_id=3)
    live.client.command(f"show {code}")
    shown = texts(live.slack.wait_for("response_url")[0].args["blocks"])
    assert f"Ticket #{code}" in shown and "VPN down &lt;!here&gt;" in shown
    assert "Since Monday" in shown and "Urgent Support Request" in shown
    assert "— Open" not in shown  # Getfly does not say the status: none is shown
    live.client.command("show TICKET-99999")
    missing = texts(live.slack.wait_for("response_url", count=2)[1].args)
    assert "#TICKET-99999" in missing and "does not know" in missing
    assert "/ticket show &lt;id&gt;" in texts(live.client.command("show <bad id>").json())

    live.client.command("list all")  # U1 is an agent
    listed = texts(live.slack.wait_for("response_url", count=3)[2].args["blocks"])
    assert f"#{code}" in listed and "Urgent Support Request" in listed
    live.client.command("list open all")
    refused = texts(live.slack.wait_for("response_url", count=4)[3].args)
    assert "status" in refused


def test_the_poller_leaves_getfly_tickets_alone(getfly: Harness) -> None:
    """Nothing comes back from Getfly (no conversations, no status): a poll cycle sends
    no request and never turns a card closed from Slack back to Open."""
    from tests.support.flows import make_poller

    live = getfly
    fake: FakeGetfly = live.helpdesk
    card, _ = create(live)
    live.client.block_action(card_button(card, "Close"), message=card.response["message"])
    live.slack.wait_for("chat.update")
    before = len(fake.requests)
    report = make_poller(live).poll_once()
    assert report.polled == 0 and report.requests == 0
    assert len(fake.requests) == before
    assert len(live.slack.calls_to("chat.update")) == 1
