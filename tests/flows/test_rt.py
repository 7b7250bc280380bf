"""Request Tracker through the real Slack path, against a REAL RT (tests/servers/rt):
/ticket new with a file → a ticket with the Slack e-mail as Requestor → a thread reply
becomes a Correspond → an agent's Correspond (with a file) comes back into the thread,
a Comment never does → Close and Reopen → a status set in RT is announced → an idle poll
reads nothing (the change feed)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from tests.support.flows import (
    card_button,
    linked_card,
    make_poller,
    notes_in,
    open_form,
    submit,
    texts,
)
from tests.support.harness import Harness, running_bot
from tests.support.outbound import reply, wait_until
from tests.support.server_rt import RtServer, rt_server  # noqa: F401  (the session fixture)

SCREENSHOT = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture
def rt_live(
    rt_server: RtServer,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
) -> Iterator[Harness]:
    # Grace (U2) is an agent: she may act on any card; Ada (U1) is the requester.
    with running_bot(redis_url, redis_prefix, helpdesk=rt_server, TICKET_AGENTS="U2") as harness:
        yield harness
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{redis_prefix}:*"):
        client.delete(key)


@pytest.fixture
def agent(rt_server: RtServer) -> Iterator[httpx.Client]:  # noqa: F811
    with rt_server.client() as client:
        yield client


def history(agent: httpx.Client, ticket_id: str) -> list[dict[str, Any]]:
    """The ticket's Correspond and Comment transactions with their texts, as RT has them."""
    found = agent.get(
        "transactions",
        params={
            "query": f"ObjectId = {ticket_id} AND (Type = 'Correspond' OR Type = 'Comment')",
            "fields": "Type",
            "orderby": "id",
        },
    ).json()["items"]
    for item in found:
        parts = agent.get(
            f"transaction/{item['id']}/attachments", params={"fields": "Content,ContentType"}
        ).json()["items"]
        item["text"] = " ".join(p["Content"] for p in parts if p["ContentType"] == "text/plain")
    return list(found)


def in_thread(live: Harness, ticket_id: str, needle: str) -> int:
    """How many of the bot's messages in the ticket's thread contain `needle`."""
    thread = live.store.thread_for_ticket(ticket_id)
    assert thread is not None
    return sum(needle in note for note in notes_in(live, thread))


def test_a_ticket_round_trip_through_slack_and_rt(
    rt_live: Harness,
    agent: httpx.Client,
    rt_server: RtServer,  # noqa: F811
) -> None:
    live = rt_live
    queue_id = next(q.id for q in live.gateway.list_categories() if q.name == rt_server.queue)

    # /ticket new with a file: the ticket in RT, the Slack e-mail as Requestor, a number
    # as Priority, the file as an attachment.
    file = live.slack.add_file("F1", "screen.png", SCREENSHOT, "image/png")
    view = open_form(live, "Printer jam")
    response = submit(
        live,
        view,
        description_input="It jams on page 2",
        category_input=queue_id,
        priority_input="100",
        attachment_input=[file],
    )
    assert response.status_code == 200
    card = linked_card(live)
    ticket_id = card_button(card, "Close")["value"]
    stored = agent.get(f"ticket/{ticket_id}").json()
    assert stored["Subject"] == "Printer jam" and stored["Priority"] == "100"
    assert [r["id"] for r in stored["Requestor"]] == ["ada@example.com"]
    files = agent.get(f"ticket/{ticket_id}/attachments", params={"fields": "Filename"}).json()
    assert "screen.png" in [f["Filename"] for f in files["items"]]
    assert "High" in texts(card.args["blocks"])

    # A reply in the card's thread becomes a Correspond.
    thread = live.store.thread_for_ticket(ticket_id)
    assert thread is not None
    reply(live.client, live.slack, thread, "Still jammed after a restart")
    wait_until(
        lambda: any("Still jammed after a restart" in h["text"] for h in history(agent, ticket_id)),
        what="the Correspond in RT",
    )
    assert history(agent, ticket_id)[-1]["Type"] == "Correspond"

    # An agent answers in RT with a file, and writes an internal comment.
    agent.post(
        f"ticket/{ticket_id}/correspond",
        json={
            "Content": "Please try the other tray",
            "ContentType": "text/plain",
            "Attachments": [
                {
                    "FileName": "tray.txt",
                    "FileType": "text/plain",
                    "FileContent": base64.b64encode(b"tray 2\n").decode(),
                }
            ],
        },
    ).raise_for_status()
    agent.post(
        f"ticket/{ticket_id}/comment",
        json={"Content": "Internal: the printer is out of warranty", "ContentType": "text/plain"},
    ).raise_for_status()
    poller = make_poller(live)
    report = poller.poll_once()
    assert in_thread(live, ticket_id, "Please try the other tray") == 1
    assert in_thread(live, ticket_id, "out of warranty") == 0  # a Comment never does
    assert in_thread(live, ticket_id, "Still jammed after a restart") == 0  # not echoed
    assert [(u["filename"], u["content"]) for u in live.slack.uploads] == [
        ("tray.txt", b"tray 2\n")
    ]
    assert report.internal == 1

    # Close and Reopen on the card: RT's resolved and open.
    updates = len(live.slack.calls_to("chat.update"))
    live.client.block_action(card_button(card, "Close"), message=card.response["message"])
    closed = live.slack.wait_for("chat.update", count=updates + 1)[-1]
    assert agent.get(f"ticket/{ticket_id}").json()["Status"] == "resolved"
    assert "Resolved" in texts(closed.args["blocks"])
    live.client.block_action(card_button(closed, "Reopen"), message=card.response["message"])
    reopened = live.slack.wait_for("chat.update", count=updates + 2)[-1]
    assert agent.get(f"ticket/{ticket_id}").json()["Status"] == "open"
    card_button(reopened, "Close")

    # An agent stalls it in RT: the thread says so, once.
    before = poller.poll_once()  # the bot's own close and reopen: nothing to announce
    assert before.changes == 0
    agent.put(f"ticket/{ticket_id}", json={"Status": "stalled"}).raise_for_status()
    poller.poll_once()
    assert in_thread(live, ticket_id, "Set to Stalled in the helpdesk.") == 1

    # Nothing changed since: the feed says so and no ticket is read.
    idle = poller.poll_once()
    assert (idle.polled, idle.posted, idle.changes) == (0, 0, 0)


def test_assign_to_me_makes_the_clicking_agent_the_rt_owner(
    rt_live: Harness,
    agent: httpx.Client,
    rt_server: RtServer,  # noqa: F811
) -> None:
    live = rt_live
    queue_id = next(q.id for q in live.gateway.list_categories() if q.name == rt_server.queue)
    view = open_form(live, "Monitor flickers")
    submit(live, view, description_input="Since this morning", category_input=queue_id)
    card = linked_card(live)
    assign = card_button(card, "Assign to me")
    ticket_id = assign["value"]

    # Ada is the requester: in RT an unprivileged user, who may not own tickets.
    live.client.block_action(assign, user_id="U1", message=card.response["message"])
    told = texts(live.slack.wait_for("response_url")[0].args)
    assert "may not own tickets" in told
    assert agent.get(f"ticket/{ticket_id}").json()["Owner"]["id"] == "Nobody"

    # Grace is an RT agent with the same e-mail address as in Slack.
    updates = len(live.slack.calls_to("chat.update"))
    live.client.block_action(assign, user_id="U2", message=card.response["message"])
    updated = live.slack.wait_for("chat.update", count=updates + 1)[-1]
    assert agent.get(f"ticket/{ticket_id}").json()["Owner"]["id"] == "grace"
    assert "grace" in texts(updated.args["blocks"])
    thread = live.store.thread_for_ticket(ticket_id)
    assert thread is not None
    wait_until(
        lambda: any("Grace Hopper took the ticket" in n for n in notes_in(live, thread)),
        what="the note",
    )


def test_comments_go_both_ways_in_the_agents_channel_only(
    rt_server: RtServer,  # noqa: F811
    agent: httpx.Client,
    redis_url: str,
    redis_prefix: str,
) -> None:
    """TICKET_AGENT_CHANNEL on RT: a reply in the ticket's announcement thread becomes a
    Comment (never a Correspond); an agent's Comment is posted there and nowhere else."""
    with running_bot(
        redis_url, redis_prefix, helpdesk=rt_server, TICKET_AGENT_CHANNEL="GAGENTS1"
    ) as live:
        queue_id = next(q.id for q in live.gateway.list_categories() if q.name == rt_server.queue)
        view = open_form(live, "Monitor flickers")
        answers = {"description_input": "Since Monday", "category_input": queue_id}
        assert submit(live, view, **answers).status_code == 200
        card = linked_card(live)
        ticket_id = card_button(card, "Close")["value"]
        agents_thread = wait_until(
            lambda: live.store.agents_thread_for_ticket(ticket_id), what="the announcement"
        )

        event = reply(live.client, live.slack, agents_thread, "Cable is loose", user="U2")
        wait_until(
            lambda: (
                (agents_thread.channel, event["ts"], "white_check_mark") in live.slack.reactions
            ),
            what="the reply delivered",
        )
        agent.post(
            f"ticket/{ticket_id}/comment",
            json={"Content": "Internal: spare monitor in room 4", "ContentType": "text/plain"},
        ).raise_for_status()
        make_poller(live).poll_once()

        kinds = {h["text"].strip(): h["Type"] for h in history(agent, ticket_id)}
        assert kinds["Grace Hopper: Cable is loose"] == "Comment"
        assert in_thread(live, ticket_id, "spare monitor") == 0
        assert in_thread(live, ticket_id, "Cable is loose") == 0
        in_agents = notes_in(live, agents_thread)
        assert sum("spare monitor" in n for n in in_agents) == 1
        assert sum("Cable is loose" in n for n in in_agents) == 0  # the bot's own: not back
        dms = [c for c in live.slack.calls_to("chat.postMessage") if c.args["channel"] == "U1"]
        assert not any("spare monitor" in texts(c.args) for c in dms)
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{redis_prefix}:*"):
        client.delete(key)
