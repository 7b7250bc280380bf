"""The ISPCRM backend through the real Slack path: /ticket new → modal → card → thread,
/ticket list and /ticket show, with the UI following ISPCRM's capabilities."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot.slack import ids
from bot.store import ThreadRef
from tests.support.fakes.ispcrm import FakeIspcrm
from tests.support.flows import HOSTILE, linked_card, open_form, submit, texts, wait_for_view
from tests.support.harness import Harness, running_bot
from tests.support.outbound import reply, wait_until


@pytest.fixture()
def live(redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    # The backend reads its own section (ISPCRM_*) from the environment.
    for name, value in FakeIspcrm.section_env().items():
        monkeypatch.setenv(name, value)
    with running_bot(redis_url, redis_prefix, helpdesk=FakeIspcrm(), TICKET_AGENTS="U1") as harness:
        yield harness


def thread_notes(live: Harness, thread: ThreadRef) -> list[str]:
    return [
        texts(c.args)
        for c in live.slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") == thread.ts
    ]


def test_new_ticket_card_list_show_and_thread(live: Harness) -> None:
    fake: FakeIspcrm = live.helpdesk

    # The modal: subjects as categories, the configured priorities, no file input.
    view = open_form(live, HOSTILE, channel="C7")
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert ids.CATEGORY_BLOCK in blocks and ids.PRIORITY_BLOCK in blocks
    assert ids.ATTACHMENT_BLOCK not in blocks
    assert not any(b.get("element", {}).get("type") == "file_input" for b in view["blocks"])
    options = blocks[ids.CATEGORY_BLOCK]["element"]["options"]
    assert [o["text"]["text"] for o in options] == [
        "Technical Support",
        "Billing Issue",
        "New Connection",
    ]
    priorities = blocks[ids.PRIORITY_BLOCK]["element"]["options"]
    assert [o["value"] for o in priorities] == ["low", "medium", "high"]

    # Submitting creates the ticket with the configured ids and the composed message.
    response = submit(
        live,
        view,
        description_input="Router light is red",
        category_input="2",
        priority_input="high",
    )
    assert response.json()["response_action"] == "update"
    card = linked_card(live)
    (ticket,) = fake.tickets.values()
    assert (ticket["subject_id"], ticket["priority_id"]) == (2, 3)
    assert (ticket["type_id"], ticket["status_id"], ticket["group_id"]) == (1, 1, 1)
    message = ticket["message"]
    assert message.splitlines()[0] == HOSTILE  # the typed subject: the message's first line
    assert "Router light is red" in message
    assert "Ada Lovelace" in message and "ada@example.com" in message

    # The card: what ISPCRM knows, and no control it cannot serve.
    assert card.args["channel"] == "C7"
    shown = texts(card.args["blocks"])
    assert "Ticket #101" in shown and "Billing Issue" in shown
    assert "High" in shown and "Open" in shown
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown
    assert not [b for b in card.args["blocks"] if b["type"] == "actions"]
    assert not any(
        e.get("type") in ("button", "static_select", "multi_static_select")
        for b in card.args["blocks"]
        for e in [*b.get("elements", []), b.get("accessory") or {}]
    )
    wait_for_view(live, "ticket_new_result", "was created")
    thread = live.store.thread_for_ticket("101")
    assert thread is not None and thread.ts == card.response["ts"]

    # /ticket list all reads getCustomerTickets (subject names, status and priority names).
    fake.add_ticket(3, status_id=2, priority_id=1)
    live.client.command("list all")  # U1 is an agent
    listed = texts(live.slack.wait_for("response_url")[0].args["blocks"])
    assert "#102" in listed and "New Connection" in listed and "Processing" in listed
    assert "#101" in listed and "Billing Issue" in listed and "High" in listed

    # /ticket show is not available, and asks nothing of the helpdesk.
    before = len(fake.requests)
    said = texts(live.client.command("show 101").json())
    assert "`/ticket show` is not available with this helpdesk" in said
    assert len(fake.requests) == before

    # Replies in the thread stay in Slack: exactly one note per thread, nothing sent.
    for text in ("first reply", "second reply", "third reply"):
        reply(live.client, live.slack, thread, text)
    wait_until(lambda: thread_notes(live, thread), what="the thread note")
    time.sleep(0.3)
    (note,) = thread_notes(live, thread)
    assert "does not take replies" in note
    assert len(fake.requests) == before
    assert fake.requests_to("CreateTicket") and len(fake.tickets) == 2


def test_list_with_a_status_filters_in_the_bot(live: Harness) -> None:
    fake: FakeIspcrm = live.helpdesk
    fake.add_ticket(1, status_id=1)
    fake.add_ticket(2, status_id=3)
    live.client.command("list closed all")
    listed = texts(live.slack.wait_for("response_url")[0].args["blocks"])
    assert "#102" in listed and "#101" not in listed


def test_a_wrong_configured_id_keeps_the_form_filled(live: Harness) -> None:
    fake: FakeIspcrm = live.helpdesk
    view = open_form(live, "No internet")
    fake.subjects[:] = [s for s in fake.subjects if s["subject_id"] != 3]  # gone meanwhile
    submit(live, view, description_input="Since yesterday", category_input="3")
    form = wait_for_view(live, "ticket_new", "refused")
    blocks = {b.get("block_id"): b for b in form["blocks"]}
    assert blocks["subject"]["element"]["initial_value"] == "No internet"
    assert "Invalid request data" in texts(form["blocks"])
    assert fake.tickets == {}


def test_help_offers_only_what_ispcrm_allows(live: Harness) -> None:
    said = texts(live.client.command("help").json())
    assert "/ticket new" in said and "/ticket list" in said
    assert "/ticket show" not in said
    assert "reply in its thread" not in said
