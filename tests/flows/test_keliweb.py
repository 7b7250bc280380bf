"""The whole bot on the keliweb backend: `/ticket new` → modal → card → thread reply →
agent reply back, through the real Slack path against the fake Keliweb API v2; and a
UI that follows the capabilities (no Close button, no card selects, no `/ticket list`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.gateway.keliweb import KeliwebGateway
from bot.store import ThreadRef
from tests.support.fakes.keliweb import FakeKeliweb
from tests.support.flows import make_poller, open_form, replies, submit, texts
from tests.support.harness import Harness, running_bot
from tests.support.outbound import delivered_reactions, reply, wait_until


@pytest.fixture
def live(redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    fake = FakeKeliweb()
    # The KELIWEB_* section is read from the environment, as in a deployment.
    for name, value in fake.section_settings().items():
        monkeypatch.setenv(name, value)
    with running_bot(redis_url, redis_prefix, helpdesk=fake) as harness:
        yield harness


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        element["text"]["text"]
        for block in blocks
        for element in block.get("elements", [])
        if element.get("type") == "button"
    ]


def element_types(blocks: list[dict[str, Any]]) -> set[str]:
    return {element.get("type", "") for block in blocks for element in block.get("elements", [])}


def create_through_slack(live: Harness) -> tuple[Any, str, ThreadRef]:
    view = open_form(live, "Sito giù", channel="C7")
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    options = blocks["category"]["element"]["options"]
    assert [o["text"]["text"] for o in options] == ["Support", "Billing"]
    assert "attachment" in blocks  # attachments are taken: the file input is there
    response = submit(
        live,
        view,
        description_input="It answers 502 & <b>nothing</b> else",
        category_input="2",
        priority_input="high",
    )
    assert response.status_code == 200
    card = live.slack.wait_for("chat.postMessage")[0]
    ticket_id = next(iter(live.helpdesk.tickets))
    thread = wait_until(lambda: live.store.thread_for_ticket(str(ticket_id)), what="the link")
    assert thread.ts == card.response["ts"]
    return card, str(ticket_id), thread


def test_new_ticket_card_reply_and_agent_answer(live: Harness) -> None:
    assert isinstance(live.gateway, KeliwebGateway)
    card, ticket_id, thread = create_through_slack(live)

    stored = live.helpdesk.tickets[int(ticket_id)]
    assert stored["subject"] == "Sito giù" and stored["deptid"] == 2
    assert stored["priority"] == "High"
    assert stored["name"] == "Ada Lovelace" and stored["email"] == "ada@example.com"
    shown = texts(card.args["blocks"])
    assert f"Ticket #{ticket_id}" in shown and "Billing" in shown and "High" in shown

    # What the capabilities rule out is not offered on the card.
    assert "Close" not in buttons(card.args["blocks"])
    assert "Reopen" not in buttons(card.args["blocks"])
    assert not element_types(card.args["blocks"]) & {"static_select", "multi_static_select"}

    # A thread reply goes to add-ticket-reply.
    event = reply(live.client, live.slack, thread, "Still down <!here> & <b>")
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack), what="the ✅ reaction")
    [sent] = live.helpdesk.replies(int(ticket_id))
    assert sent["admin"] == "" and "Ada Lovelace: Still down" in sent["message"]

    # The poller: the agent's answer comes back into the thread, the bot's own does not.
    poller = make_poller(live)
    first = poller.poll_once()
    assert first.echoes == 1 and first.posted == 0, first
    live.helpdesk.add_agent_reply(int(ticket_id), "Riavviato il server <@U1>.", admin="Mario")
    report = poller.poll_once()
    assert report.posted == 1 and report.echoes == 0, report
    posted = [texts(m.get("blocks", [])) for m in replies(live, ticket_id)]
    assert any("Riavviato il server &lt;@U1&gt;." in p for p in posted), posted
    assert not any("Still down" in p for p in posted), posted
    # Status changes made in the helpdesk still show: read back, never set by the bot.
    assert first.changes + report.changes >= 1
    for update in live.slack.calls_to("chat.update"):
        assert "Close" not in buttons(update.args["blocks"])

    # An agent's file cannot be downloaded through the API: the thread is told its name.
    live.helpdesk.add_agent_reply(int(ticket_id), "Log attached", attachments=[("x.log", b"1")])
    poller.poll_once()
    notes = [texts(m) for m in replies(live, ticket_id)]
    assert any("could not fetch the file x.log" in n for n in notes), notes
    assert live.slack.calls_to("files.uploadV2") == []

    # Every call reached the API asking for JSON: the bot never met the login redirect.
    api = [r for r in live.helpdesk.requests if r.path.startswith("/api/")]
    assert api and all(r.headers["accept"] == "application/json" for r in api)
    assert all(r.headers["x-requested-with"] == "XMLHttpRequest" for r in live.helpdesk.requests)


def test_list_is_not_available_and_show_works(live: Harness) -> None:
    body = live.client.command("list").json()
    assert "`/ticket list` is not available with this helpdesk" in texts(body)
    help_text = texts(live.client.command("help").json())
    assert "/ticket list" not in help_text and "/ticket show" in help_text

    ticket_id = live.helpdesk.add_ticket("VPN down <!here>")
    live.helpdesk.add_agent_reply(ticket_id, "Have you tried turning it off?")
    live.store.remember_requester(str(ticket_id), "Ada Lovelace", "U1")
    live.client.command(f"show {ticket_id}")
    shown = texts(live.slack.wait_for("response_url")[0].args["blocks"])
    assert "VPN down &lt;!here&gt;" in shown and "Have you tried turning it off?" in shown
    assert not [r for r in live.helpdesk.requests if "list" in r.path]


def test_a_department_gone_from_the_helpdesk_keeps_the_form_filled(live: Harness) -> None:
    view = open_form(live, "Fattura")
    del live.helpdesk.departments[2]
    submit(live, view, description_input="Line one", category_input="2")
    from tests.support.flows import wait_for_view

    form = wait_for_view(live, "ticket_new", "refused")
    assert "Department ID not found" in texts(form["blocks"])
    assert live.helpdesk.tickets == {}
