"""Issue 14 in `ticket-bot console`: a ticket made of a message (a reaction by its
number, the message shortcut), App Home, direct messages, another person (/as), and
the agents' channel (#agents, TICKET_AGENT_CHANNEL).

The terminal tests type at the console as a person does (tests/support/terminal.py);
the agent writes on the sandbox helpdesk's web page, whose address the console prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.runtime.console.fake_slack import AGENTS, GENERAL, ConsoleSlack
from bot.runtime.console.server import serve_app, serve_slack
from bot.runtime.console.signed import SlackSide
from tests.support.terminal import WAIT, Terminal, start_console, wait_for_page


def _first_category_and_the_rest_as_offered(console: Terminal) -> None:
    """The form's prompts after the description: category 1, the priority it offers, no
    attachment."""
    console.expect(r"Category \[1-\d+")
    console.send("1")
    console.expect(r"Priority \[1-\d+, Enter keeps \w+\]: ")
    console.send("")
    console.expect(r"Attachment[^\n]*Enter to skip\): ")
    console.send("")


def _post(console: Terminal, text: str) -> str:
    """Post `text` in #general; the number the console gave the message."""
    console.send(f"/post {text}")
    return console.expect(rf"\[m(\d+)\] you:\s+{text}").group(1)


def test_a_reaction_by_number_makes_a_ticket_with_its_card_in_the_thread(
    console: Terminal,
) -> None:
    web = console.expect(r"helpdesk web page: (http://\S+)").group(1)
    console.expect(r"#general> ")

    number = _post(console, "The VPN drops every hour")
    console.send(f"/react {number}")
    console.expect(rf"🎫 you reacted to \[m{number}\] \(ticket\)")
    ticket = console.expect(r"ticket-bot in the thread of ticket #(\d+):").group(1)
    console.expect(rf"│ Ticket #{ticket} \S+ Open")
    console.expect(r"│ The VPN drops every hour")
    console.expect(r"│ \[1\] Close")

    console.send("It happens on the hour")  # a reply in the message's thread, now the ticket's
    with httpx.Client(base_url=web, timeout=10) as http:
        wait_for_page(http, f"/tickets/{ticket}/", "It happens on the hour")

    console.send("/as sam")  # not the requester, not an agent: the card's buttons say no
    console.expect(r"You are @sam \(not an agent")
    console.send("1")
    console.expect(r"Only the requester or an agent can close")

    console.send(f"/react {number} eyes")  # sam's own reaction, any emoji
    console.expect(rf"👀 you reacted to \[m{number}\] \(eyes\)")
    console.send("/quit")
    assert console.wait_exit(WAIT) == 0


def test_app_home_and_a_direct_message_when_an_agent_replies(console: Terminal) -> None:
    web = console.expect(r"helpdesk web page: (http://\S+)").group(1)
    user = console.expect(r"You are @(\S+) in #general").group(1)
    console.expect(r"#general> ")
    number = _post(console, "Printer on fire")
    console.send(f"/react {number}")
    ticket = console.expect(r"ticket-bot in the thread of ticket #(\d+):").group(1)
    console.expect(r"│ \[1\] Close")

    console.send("/home")
    console.expect(rf"App Home of {user}")
    console.expect(r"\[1\] ☑ Send me a direct message when an agent replies")
    console.expect(r"Your tickets")
    console.expect(rf"#{ticket}\b")

    with httpx.Client(base_url=web, timeout=10) as http:
        reply = http.post(
            f"/tickets/{ticket}/reply", data={"text": "Extinguisher is on its way", "author": "Sam"}
        )
        assert reply.status_code < 400
    console.expect(rf"ticket-bot → direct message to @{user}:")
    console.expect(rf"✉ Ticket #{ticket}")
    console.expect(r"✉ Sam replied: Extinguisher is on its way")

    console.send("/dms")
    console.expect(rf"ticket-bot → direct message to @{user}:[^✉]*✉ Ticket #{ticket}")

    console.send("1")  # the Home tab's checkbox, the last controls shown
    console.expect(rf"App Home of {user}")
    console.expect(r"\[1\] ☐ Send me a direct message when an agent replies")
    console.send("/quit")
    assert console.wait_exit(WAIT) == 0


def test_the_message_shortcut_opens_the_form_prefilled_and_posts_the_card_in_the_thread(
    console: Terminal,
) -> None:
    console.expect(r"#general> ")
    number = _post(console, "Laptop will not boot")
    console.send(f"/shortcut {number}")
    console.expect(r"Subject \[Laptop will not boot\]: ")
    console.send("")
    console.expect(r"Description[^\n]*\[[^\n]*Laptop will not boot[^\n]*\]: ")
    console.send("")
    _first_category_and_the_rest_as_offered(console)
    ticket = console.expect(r"ticket-bot in the thread of ticket #(\d+):").group(1)
    console.expect(rf"│ Ticket #{ticket} \S+ Open")
    console.expect(r"│ Laptop will not boot")
    console.send("/quit")
    assert console.wait_exit(WAIT) == 0


def test_each_new_ticket_is_announced_in_agents_whose_thread_stays_apart(
    console: Terminal,
) -> None:
    """The sandbox speaks Epixel, which has no internal notes: a reply in the
    announcement's thread gets the app's one note saying so, and goes nowhere else."""
    web = console.expect(r"helpdesk web page: (http://\S+)").group(1)
    console.expect(r"TICKET_AGENT_CHANNEL G0AGENTS")
    console.expect(r"#general> ")
    console.send("/ticket new Paper tray broken")
    console.expect(r"Subject \[Paper tray broken\]: ")
    console.send("")
    console.expect(r"Description[^\n]*: ")
    console.send("The tray's spring snapped")
    _first_category_and_the_rest_as_offered(console)
    ticket = console.expect(r"\[m\d+\] ticket-bot:\s+Ticket #(\d+) \S+ Open").group(1)
    console.expect(rf"\[m\d+\] ticket-bot in #agents:\s+🎫 New ticket #{ticket}: Paper tray broken")
    console.expect(r"Requested by \S+")
    link = console.expect(r"Open the card \((\S+)\)").group(1)
    console.send("/home")  # its list links each card: the announcement links the same
    console.expect(rf"#{ticket} \({re.escape(link)}\)")

    console.send("/channel agents")
    console.expect(rf"You are in #agents: [^\n]*the thread of ticket #{ticket}'s announcement")
    console.send("Toner low, I ordered more")
    announcement_thread = rf"in the thread of ticket #{ticket}'s announcement in #agents:"
    console.expect(rf"you {announcement_thread}\s+│ Toner low, I ordered more")
    console.expect(rf"ticket-bot {announcement_thread}\s+│ This helpdesk has no internal notes")
    console.send("It arrives Monday")
    console.expect(rf"you {announcement_thread}\s+│ It arrives Monday")

    console.send("/general")  # the requester's thread: a reply there reaches the helpdesk
    console.expect(rf"You are in #general: [^\n]*the thread of ticket #{ticket} ")
    console.send("Still broken")
    with httpx.Client(base_url=web, timeout=10) as http:
        wait_for_page(http, f"/tickets/{ticket}/", "Still broken")
        assert "Toner low" not in http.get(f"/tickets/{ticket}/").text
    console.send(f"/thread {ticket}")
    console.send("/as")
    requester_thread = console.expect(rf"(?s)/thread {ticket}\n(.*?)You are @").group(1)
    assert "Still broken" in requester_thread
    assert "Toner low" not in requester_thread and "internal notes" not in requester_thread

    console.send("/agents")
    console.send(f"/thread {ticket}")
    console.send("/as")
    agents_thread = console.expect(rf"(?s)#agents> /thread {ticket}\n(.*?)You are @").group(1)
    assert "It arrives Monday" in agents_thread
    assert agents_thread.count("This helpdesk has no internal notes, so") == 1
    console.send("/quit")
    assert console.wait_exit(WAIT) == 0


def test_a_configured_agents_channel_is_the_one_the_console_announces_in(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text("TICKET_AGENT_CHANNEL=G0DESKTEAM\n")
    console = start_console(tmp_path)
    try:
        console.expect(r"TICKET_AGENT_CHANNEL G0DESKTEAM")
        console.expect(r"#general> ")
        number = _post(console, "Badge reader dead")
        console.send(f"/react {number}")
        ticket = console.expect(r"ticket-bot in the thread of ticket #(\d+):").group(1)
        console.expect(rf"ticket-bot in #agents:\s+🎫 New ticket #{ticket}: Badge reader dead")
        console.send("/quit")
        assert console.wait_exit(WAIT) == 0
    finally:
        console.kill()


# --- the console's side alone: what it sends, what its Slack keeps -------------------


@pytest.fixture()
def slack() -> Iterator[ConsoleSlack]:
    console_slack = ConsoleSlack("xoxb-console", "U1", "ada")
    server = serve_slack(console_slack)
    yield console_slack
    server.shutdown()


def test_the_shortcut_reaches_a_bolt_app_as_slack_sends_it(slack: ConsoleSlack) -> None:
    """Signed and shaped so that Bolt routes it to `app.shortcut(...)`, with a trigger
    the console's Slack takes for views.open."""
    client = WebClient(token="xoxb-console", base_url=slack.base_url + "/api/")
    app = App(signing_secret="console-secret", client=client)
    seen: list[dict[str, Any]] = []

    @app.shortcut("ticket_from_message")
    def shortcut(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        seen.append(body)
        client.views_open(trigger_id=body["trigger_id"], view=_modal())

    server = serve_app(SlackRequestHandler(app))
    side = SlackSide(
        f"http://127.0.0.1:{server.server_port}/slack/events",
        "console-secret",
        slack,
        "U1",
        GENERAL,
    )
    try:
        message = slack.post_as_user(GENERAL, "U1", "Laptop will not boot", None)
        side.shortcut(message, "ticket_from_message")
    finally:
        side.close()
        server.shutdown()
    (body,) = seen
    assert body["type"] == "message_action"
    assert body["callback_id"] == "ticket_from_message"
    assert body["message_ts"] == message["ts"]
    assert body["message"]["text"] == "Laptop will not boot"
    assert body["channel"] == {"id": GENERAL, "name": "general"}
    assert body["user"]["id"] == "U1"
    assert body["response_url"].startswith(slack.base_url)
    assert [v["title"]["text"] for v in slack.views.values()] == ["New ticket"]


def test_the_console_slack_keeps_direct_messages_history_and_reactions(
    slack: ConsoleSlack,
) -> None:
    posted = slack.call("chat.postMessage", {"channel": "U1", "text": "hi"}, "xoxb-console")
    assert posted["ok"] and posted["channel"] == "D1"
    assert slack.ims == {"D1": "U1"}
    info = slack.call("conversations.info", {"channel": "D1"}, "xoxb-console")
    assert info["channel"]["is_im"] is True

    first = slack.post_as_user(GENERAL, "U1", "first", None)
    slack.post_as_user(GENERAL, "U1", "in the thread", first["ts"])
    second = slack.post_as_user(GENERAL, "U1", "second", None)
    slack.react_as_user(GENERAL, first["ts"], "U1", "ticket")
    history = slack.call(
        "conversations.history",
        {"channel": GENERAL, "latest": first["ts"], "inclusive": "true", "limit": "1"},
        "xoxb-console",
    )
    assert [m["text"] for m in history["messages"]] == ["first"]
    assert history["messages"][0]["reactions"] == [{"name": "ticket", "users": ["U1"], "count": 1}]
    newest = slack.call("conversations.history", {"channel": GENERAL}, "xoxb-console")
    assert [m["ts"] for m in newest["messages"]] == [second["ts"], first["ts"]]
    again = slack.call(
        "reactions.add",
        {"channel": GENERAL, "timestamp": first["ts"], "name": "ticket"},
        "xoxb-console",
    )
    assert again["ok"], "the bot's reaction is its own, beside the person's"
    home = {"type": "home", "blocks": []}
    published = slack.call("views.publish", {"user_id": "U1", "view": home}, "xoxb-console")
    assert slack.homes["U1"]["id"] == published["view"]["id"]
    refused = slack.call(
        "views.publish", {"user_id": "U1", "view": json.dumps(_modal())}, "xoxb-console"
    )
    assert refused["error"] == "invalid_arguments"


def _modal() -> dict[str, Any]:
    return {"type": "modal", "title": {"type": "plain_text", "text": "New ticket"}, "blocks": []}


def test_the_console_slack_has_a_private_agents_channel(slack: ConsoleSlack) -> None:
    slack.add_channel(AGENTS, "agents")
    info = slack.call("conversations.info", {"channel": AGENTS}, "xoxb-console")
    assert info["channel"]["name"] == "agents" and info["channel"]["is_private"] is True
    general = slack.call("conversations.info", {"channel": GENERAL}, "xoxb-console")
    assert general["channel"]["is_private"] is False
    assert slack.channel_named("agents") == AGENTS
    slack.add_channel(GENERAL, "agents")  # a configured channel it has keeps its name
    assert slack.channels[GENERAL] == "general"
