"""Helpers the flow and sync tests share: driving the modal and the card through the
real Slack path, and reading what reached the fake Slack."""

from __future__ import annotations

import time
from typing import Any

from bot.desk import Desk, build_desk
from bot.desk.cards import ticket_state
from bot.runtime.executors import Executors
from bot.slack.client import build_client
from bot.store import ThreadRef
from bot.sync.poller import Poller
from tests.support.harness import BOT_TOKEN, Harness
from tests.support.slack_requests import state_values


def texts(blob: Any) -> str:
    """Every string inside a call's args, for 'does X appear anywhere' checks."""
    if isinstance(blob, dict):
        return " ".join(texts(v) for v in blob.values())
    if isinstance(blob, list):
        return " ".join(texts(v) for v in blob)
    return str(blob)


HOSTILE = '<!channel> <@U1> & "x"'


def open_form(live: Harness, text: str = "", channel: str = "C1") -> dict[str, Any]:
    """The new-ticket modal as Slack holds it after `/ticket new`, id included."""
    before = len(live.slack.calls_to("views.open")) + len(live.slack.calls_to("views.update"))
    live.client.command(f"new {text}".strip(), channel_id=channel)
    deadline = time.monotonic() + 5
    while True:
        calls = [c for c in live.slack.calls if c.method in ("views.open", "views.update")]
        if len(calls) > before and calls[-1].response["view"]["callback_id"] == "ticket_new":
            return dict(calls[-1].response["view"])
        assert time.monotonic() < deadline, "the form never opened"
        time.sleep(0.02)


def submit(live: Harness, view: dict[str, Any], **answers: Any) -> Any:
    filled = {**view, "state": {"values": state_values(view, answers)}}
    return live.client.view_submission(filled)


def create(live: Harness, subject: str = "Printer jam", **extra: Any) -> Any:
    view = open_form(live)
    answers = {
        "subject_input": subject,
        "description_input": "It jams on page 2",
        "category_input": "1",
        "priority_input": "high",
        **extra,
    }
    response = submit(live, view, **answers)
    assert response.status_code == 200
    return linked_card(live)


def linked_card(live: Harness) -> Any:
    """The first card posted, once it is linked to its ticket: its buttons work from then
    on (a person cannot click in the moment between Slack's answer and the link)."""
    card = live.slack.wait_for("chat.postMessage")[0]
    if card.status == 200 and card.response["ok"]:
        posted = ThreadRef(card.response["channel"], card.response["ts"])
        deadline = time.monotonic() + 5
        while live.store.ticket_for_thread(posted) is None:
            assert time.monotonic() < deadline, "the card was never linked to its ticket"
            time.sleep(0.02)
    return card


def wait_for_view(live: Harness, callback_id: str, containing: str = "") -> dict[str, Any]:
    """The latest views.update that shows `callback_id` with `containing` in it."""
    deadline = time.monotonic() + 10
    while True:
        for call in reversed(live.slack.calls_to("views.update")):
            view = call.args["view"]
            if view["callback_id"] == callback_id and containing in texts(view):
                return dict(view)
        assert time.monotonic() < deadline, f"no {callback_id} view with {containing!r}"
        time.sleep(0.02)


def card_button(card_call: Any, label: str) -> dict[str, Any]:
    for block in card_call.args["blocks"]:
        for element in block.get("elements", []):
            if element.get("type") == "button" and element["text"]["text"] == label:
                return {**element, "block_id": block["block_id"]}
    raise AssertionError(f"no {label} button on the card")


CHANNEL = "C1"


def make_desk(live: Harness) -> Desk:
    client = build_client(BOT_TOKEN, live.settings.SLACK_API_URL)
    return build_desk(
        live.gateway,
        live.store,
        client,
        Executors.create().defer,
        ticket_channel=live.settings.TICKET_CHANNEL,
        dm_window=live.settings.TICKET_DM_WINDOW,
    )


def make_poller(live: Harness, **settings: Any) -> Poller:
    chosen = live.settings.model_copy(update=settings)
    desk = make_desk(live)
    return Poller(chosen, live.gateway, live.store, desk.cards.slack, desk.cards)


def linked_ticket(live: Harness, subject: str = "Printer jam", *, legacy: bool = False) -> str:
    """A helpdesk ticket with its card posted and linked, as the desk leaves it, made
    for U1 (Ada);
    `legacy`: linked before any poller existed (no sync state)."""
    ticket_id = str(live.helpdesk.add_ticket(subject, tags=[1]))
    desk = make_desk(live)
    ticket = live.gateway.get_ticket(ticket_id).ticket
    posted = desk.cards.slack.chat_postMessage(channel=CHANNEL, **desk.cards.render(ticket))
    live.store.link_thread(ticket_id, ThreadRef(posted["channel"], posted["ts"]))
    live.store.remember_requester(ticket_id, "Ada Lovelace", "U1")
    if not legacy:
        live.store.start_sync(ticket_id, *ticket_state(ticket))
    return ticket_id


def thread_of(live: Harness, ticket_id: str) -> ThreadRef:
    thread = live.store.thread_for_ticket(ticket_id)
    assert thread is not None
    return thread


def replies(live: Harness, ticket_id: str) -> list[dict[str, Any]]:
    """Messages in the ticket's thread, the card itself left out, in order."""
    thread = thread_of(live, ticket_id)
    return [
        m
        for m in live.slack.messages[thread.channel]
        if m.get("thread_ts") == thread.ts and m["ts"] != thread.ts
    ]


def shown(message: dict[str, Any]) -> str:
    return texts(message.get("blocks", [])) + " " + str(message.get("text", ""))


def notes_in(live: Harness, thread: ThreadRef) -> list[str]:
    return [
        texts(c.args)
        for c in live.slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") == thread.ts
    ]
