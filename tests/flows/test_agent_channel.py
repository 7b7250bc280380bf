"""The agents' channel (TICKET_AGENT_CHANNEL): each new ticket announced there with a link
to its card; the helpdesk's internal notes posted only in that announcement's thread;
replies there become internal notes, never public conversations. Signed requests into
the Bolt app, the fake Slack, real Redis, and the fake Epixel helpdesk (no internal
notes) or a real django-helpdesk (internal notes; skipped where it cannot run)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.store import ThreadRef
from bot.sync.outbox import JOB, CreateJob
from bot.sync.worker import SyncWorker
from tests.support.fakes.slack import Call
from tests.support.flows import CHANNEL, create, make_desk, open_form, submit, texts
from tests.support.harness import TEST_OUTBOX, Harness, running_bot
from tests.support.outbound import conversations, deleted, edited, reply, wait_until
from tests.support.server_django_helpdesk import (
    DjangoHelpdesk,
    create_through_slack,
    django_helpdesk_bot_running,
)

AGENTS = "GAGENTS1"
FORM_ANSWERS = {
    "subject_input": "Printer jam",
    "description_input": "It jams on page 2",
    "category_input": "1",
    "priority_input": "high",
}


@pytest.fixture()
def agents_live(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    """The bot on the fake Epixel helpdesk (which has no internal notes), with an
    agents' channel."""
    with running_bot(redis_url, redis_prefix, TICKET_AGENT_CHANNEL=AGENTS) as harness:
        yield harness


@pytest.fixture()
def agents_django(
    django_helpdesk: DjangoHelpdesk,
    redis_url: str,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Harness]:
    """The bot on a real django-helpdesk (internal notes; webhooks drive the sync)."""
    with django_helpdesk_bot_running(
        django_helpdesk, redis_url, redis_prefix, monkeypatch, TICKET_AGENT_CHANNEL=AGENTS
    ) as harness:
        yield harness


def posts_in(live: Harness, channel: str) -> list[Call]:
    return [
        c
        for c in live.slack.calls_to("chat.postMessage")
        if c.args["channel"] == channel and c.status == 200 and c.response.get("ok")
    ]


def announcement(live: Harness, ticket_id: str) -> ThreadRef:
    found = wait_until(
        lambda: live.store.agents_thread_for_ticket(ticket_id), what="the announcement linked"
    )
    assert isinstance(found, ThreadRef)
    return found


def in_thread(live: Harness, thread: ThreadRef) -> list[str]:
    """What the bot posted in `thread`, each message's texts."""
    return [
        texts(c.args)
        for c in posts_in(live, thread.channel)
        if c.args.get("thread_ts") == thread.ts
    ]


def direct_messages(live: Harness) -> list[str]:
    return [
        texts(c.args)
        for c in live.slack.calls_to("chat.postMessage")
        if c.args["channel"][:1] in "UD"
    ]


def outbox_drained(live: Harness) -> bool:
    """Every job written so far was delivered (a finished job's follow-ups are written
    before it is acknowledged, so they are counted too)."""
    return live.store.redis.xlen(live.store.outbox_stream()) == 0


def reaction(channel: str, ts: str) -> dict[str, Any]:
    """Grace reacts with :ticket: (TICKET_REACTION) to the message at `ts`."""
    return {
        "type": "reaction_added",
        "user": "U2",
        "reaction": "ticket",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": "1700000000.000100",
    }


# --- announcements --------------------------------------------------------------------


def test_a_new_ticket_is_announced_with_a_link_to_its_card(agents_live: Harness) -> None:
    live = agents_live
    card = create(live, "Printer <!channel> jams")
    [ticket_id] = [str(t) for t in live.helpdesk.tickets]

    thread = announcement(live, ticket_id)
    [post] = posts_in(live, AGENTS)
    shown = texts(post.args)
    assert thread == ThreadRef(post.response["channel"], post.response["ts"])
    assert f"New ticket #{ticket_id}" in shown and "Ada Lovelace" in shown
    assert "Printer &lt;!channel&gt; jams" in shown  # escaped: nothing pings
    permalink = (
        f"https://example.slack.com/archives/{CHANNEL}/p{card.response['ts'].replace('.', '')}"
    )
    assert f"<{permalink}|Open the card>" in shown
    # the announcement's thread is not the ticket's thread: replies there are not public
    assert live.store.ticket_for_thread(thread) is None
    assert live.store.thread_for_ticket(ticket_id) == ThreadRef(CHANNEL, card.response["ts"])


def test_an_announcement_slack_fails_is_posted_by_a_retry_once(agents_live: Harness) -> None:
    live = agents_live
    # more 5xx answers than the Slack client's own retries: the job itself must retry
    live.slack.server_error_next("chat.postMessage", 503, count=6, channel=AGENTS)
    create(live, "VPN is down")
    [ticket_id] = [str(t) for t in live.helpdesk.tickets]

    announcement(live, ticket_id)
    wait_until(lambda: outbox_drained(live), what="the outbox drained")
    failed = [c for c in live.slack.calls_to("chat.postMessage") if c.status == 503]
    assert len(failed) == 6 and {c.args["channel"] for c in failed} == {AGENTS}
    assert len(posts_in(live, AGENTS)) == 1
    assert live.store.redis.xlen(live.store.outbox_dead_stream()) == 0


def test_a_create_job_taken_over_after_its_card_was_posted_still_announces_once(
    redis_url: str, redis_prefix: str
) -> None:
    """A worker that died between the card and the announcement's job: the next one
    takes the create job over, posts no second card and announces the ticket."""
    with running_bot(redis_url, redis_prefix, outbox=None, TICKET_AGENT_CHANNEL=AGENTS) as live:
        response = submit(live, open_form(live), **FORM_ANSWERS)
        assert response.status_code == 200
        entries: Any = live.store.redis.xrange(live.store.outbox_stream())
        [job] = [JOB.validate_json(fields["job"]) for _, fields in entries]
        assert isinstance(job, CreateJob)
        make_desk(live).creation.create(job.draft, job.user_id, job.view_id, job.context)
        assert len(posts_in(live, CHANNEL)) == 1 and posts_in(live, AGENTS) == []

        worker = SyncWorker(live.settings, live.gateway, live.store, outbox=TEST_OUTBOX, poll=False)
        worker.start()
        try:
            [ticket_id] = [str(t) for t in live.helpdesk.tickets]
            announcement(live, ticket_id)
            wait_until(lambda: outbox_drained(live), what="the outbox drained")
        finally:
            worker.stop()
        assert len(posts_in(live, CHANNEL)) == 1 and len(posts_in(live, AGENTS)) == 1


def test_a_ticket_made_by_a_reaction_is_announced(agents_live: Harness) -> None:
    live = agents_live
    message = live.slack.add_message(CHANNEL, "Badge reader rejects me")
    assert live.client.event(reaction(CHANNEL, message["ts"])).status_code == 200

    ticket_id = wait_until(lambda: [str(t) for t in live.helpdesk.tickets], what="a ticket")[0]
    announcement(live, ticket_id)
    [post] = posts_in(live, AGENTS)
    assert "Badge reader rejects me" in texts(post.args) and "Ada Lovelace" in texts(post.args)
    card = live.store.card_for_ticket(ticket_id)
    assert card is not None and card.ts.replace(".", "") in texts(post.args)


def test_a_reaction_in_an_agents_thread_makes_no_ticket(agents_live: Harness) -> None:
    """An agents' thread stays internal: no other ticket's card (and public thread) in it."""
    live = agents_live
    create(live, "Printer jam")
    [ticket_id] = [str(t) for t in live.helpdesk.tickets]
    thread = announcement(live, ticket_id)
    message = live.slack.add_message(AGENTS, "Toner is out", user="U2", thread_ts=thread.ts)

    live.client.event(reaction(AGENTS, message["ts"]))
    wait_until(lambda: outbox_drained(live), what="the outbox drained")

    assert [str(t) for t in live.helpdesk.tickets] == [ticket_id]
    assert in_thread(live, thread) == []


def test_nothing_reaches_an_agents_channel_that_is_unset(live: Harness) -> None:
    create(live, "Printer jam")
    [ticket_id] = [str(t) for t in live.helpdesk.tickets]
    wait_until(lambda: outbox_drained(live), what="the outbox drained")

    assert live.store.agents_thread_for_ticket(ticket_id) is None
    assert {c.args["channel"] for c in live.slack.calls_to("chat.postMessage")} == {CHANNEL}


# --- replies in the announcement's thread, on a helpdesk without internal notes ---------


def test_replies_in_the_agents_thread_get_one_note_where_there_are_no_internal_notes(
    agents_live: Harness,
) -> None:
    live = agents_live
    create(live, "Printer jam")
    [ticket_id] = [str(t) for t in live.helpdesk.tickets]
    thread = announcement(live, ticket_id)

    reply(live.client, live.slack, thread, "Toner is out, ordering", user="U2")
    reply(live.client, live.slack, thread, "Ordered", user="U2")

    wait_until(lambda: len(in_thread(live, thread)) >= 1, what="the note")
    wait_until(lambda: outbox_drained(live), what="the outbox drained")
    [note] = in_thread(live, thread)
    assert "no internal notes" in note and "nothing was sent" in note
    assert conversations(live.helpdesk, int(ticket_id)) == []  # never a public reply
    assert live.slack.reactions == set()


def test_an_announcement_outside_the_agents_channel_takes_no_replies(
    agents_live: Harness,
) -> None:
    """Only members of TICKET_AGENT_CHANNEL write internal notes: an announcement left in
    a channel that is no longer the agents' one (the variable changed) takes nothing."""
    live = agents_live
    create(live, "Printer jam")
    [ticket_id] = [str(t) for t in live.helpdesk.tickets]
    thread = announcement(live, ticket_id)
    old = live.slack.add_message("GOLDAGENTS", "New ticket #" + ticket_id, user="UBOT")
    old_thread = ThreadRef("GOLDAGENTS", old["ts"])
    live.store.link_agents_thread(ticket_id, old_thread)

    reply(live.client, live.slack, old_thread, "Toner is out", user="U2")
    reply(live.client, live.slack, thread, "Toner is out", user="U2")

    wait_until(lambda: in_thread(live, thread), what="the note in the agents' thread")
    assert in_thread(live, old_thread) == []
    assert conversations(live.helpdesk, int(ticket_id)) == []


# --- a helpdesk with internal notes: a real django-helpdesk --------------------------


def test_an_internal_note_goes_only_to_the_agents_thread(agents_django: Harness) -> None:
    live = agents_django
    agent = live.helpdesk.agent
    _, ticket_id, requester_thread = create_through_slack(live, "VPN is down")
    agents_thread = announcement(live, ticket_id)

    agent.followup(ticket_id, "Internal: the concentrator is flapping", public=False)
    agent.followup(ticket_id, "Try the other profile", public=True)

    wait_until(lambda: direct_messages(live), what="the requester's direct message")
    wait_until(lambda: in_thread(live, agents_thread), what="the note in the agents' thread")
    [note] = in_thread(live, agents_thread)
    assert "concentrator is flapping" in note and "internal note" in note
    assert "Try the other profile" not in note
    requester_side = in_thread(live, requester_thread) + direct_messages(live)
    assert any("Try the other profile" in t for t in requester_side)
    assert not any("concentrator" in t for t in requester_side)


def note_delivered(live: Harness, subject: str, text: str) -> tuple[str, ThreadRef, ThreadRef, Any]:
    """A ticket made in Slack, and `text` written in its agents' thread by Grace, once in
    the helpdesk: the ticket id, the requester's and the agents' threads, the event."""
    _, ticket_id, requester_thread = create_through_slack(live, subject)
    agents_thread = announcement(live, ticket_id)
    event = reply(live.client, live.slack, agents_thread, text, user="U2")
    wait_until(
        lambda: (agents_thread.channel, event["ts"], "white_check_mark") in live.slack.reactions,
        what="the note delivered",
    )
    return ticket_id, requester_thread, agents_thread, event


def test_a_reply_in_the_agents_thread_becomes_an_internal_note(agents_django: Harness) -> None:
    live = agents_django
    agent = live.helpdesk.agent
    ticket_id, requester_thread, agents_thread, event = note_delivered(
        live, "Laptop will not boot", "Disk is failing, swap it"
    )
    change = edited(event, "Disk is failing, swap it today")
    assert live.client.event(change).status_code == 200
    wait_until(
        lambda: [
            c for c in live.gateway.get_ticket(ticket_id).conversations if "(edited)" in c.text
        ],
        what="the edit in the helpdesk",
    )
    # a public reply after them: once it is in the requester's thread, the poll has read
    # the internal notes before it too
    agent.followup(ticket_id, "We will swap the disk", public=True)
    wait_until(
        lambda: any("swap the disk" in t for t in in_thread(live, requester_thread)),
        what="the public reply in the requester's thread",
    )

    followups = live.gateway.get_ticket(ticket_id).conversations
    [note, edit] = [c for c in followups if "Disk is failing" in c.text]
    assert "Grace Hopper: Disk is failing, swap it" in note.text and note.public is False
    assert "Grace Hopper: (edited) Disk is failing, swap it today" in edit.text
    assert edit.public is False
    shown = in_thread(live, requester_thread) + in_thread(live, agents_thread)
    shown += direct_messages(live)
    assert not any("Disk is failing" in t for t in shown)  # not posted back anywhere


def test_a_note_deleted_in_the_agents_thread_is_said_to_stay_as_an_internal_note(
    agents_django: Harness,
) -> None:
    live = agents_django
    ticket_id, requester_thread, agents_thread, event = note_delivered(
        live, "VPN drops every hour", "Known issue, patch Friday"
    )

    assert live.client.event(deleted(event)).status_code == 200

    wait_until(lambda: any("deleted here" in t for t in in_thread(live, agents_thread)))
    [said] = [t for t in in_thread(live, agents_thread) if "deleted here" in t]
    assert f"internal note on ticket #{ticket_id}" in said and "delete it there" in said
    assert "Ask an agent" not in said
    assert not any("deleted here" in t for t in in_thread(live, requester_thread))


def test_an_internal_note_is_posted_nowhere_without_an_agents_channel(
    django_helpdesk_bot: Harness,
) -> None:
    live = django_helpdesk_bot
    agent = live.helpdesk.agent
    _, ticket_id, requester_thread = create_through_slack(live, "Printer jam")

    agent.followup(ticket_id, "Internal: blame the toner", public=False)
    agent.followup(ticket_id, "A technician is on the way", public=True)
    wait_until(
        lambda: any("technician" in t for t in in_thread(live, requester_thread)),
        what="the public reply",
    )

    posted: Any = [texts(c.args) for c in live.slack.calls_to("chat.postMessage")]
    assert not any("toner" in t for t in posted)
    assert live.store.agents_thread_for_ticket(ticket_id) is None
