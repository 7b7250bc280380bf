"""The message shortcut "Create ticket" (ticket_from_message): signed message_action
payloads into the Bolt app, the fake Slack, the fake Epixel helpdesk and real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.gateway.epixel import MAX_SUBJECT_CHARS
from bot.slack import ids
from bot.store import ThreadRef
from bot.sync.outbox import JOB, BackfillJob, CreateJob, ReplyJob
from bot.sync.worker import SyncWorker
from tests.support.fakes.slack import Call
from tests.support.flows import (
    CHANNEL,
    card_button,
    make_desk,
    notes_in,
    texts,
    wait_for_view,
)
from tests.support.harness import TEST_OUTBOX, Harness, running_bot
from tests.support.outbound import (
    conversations,
    delivered_reactions,
    outbox_drained,
    reaction_on,
    reply_while_backfilled,
    wait_until,
)
from tests.support.slack_requests import state_values

ANSWERS = {"category_input": "1"}


@pytest.fixture()
def quiet(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    """The bot without its outbox worker: what the listener wrote stays to be read."""
    with running_bot(redis_url, redis_prefix, outbox=None) as harness:
        yield harness


def use_shortcut(live: Harness, message: dict[str, Any], user_id: str = "U2") -> None:
    """The shortcut on `message` as Slack sends it (the message as the payload carries it)."""
    kept = ("ts", "user", "text", "thread_ts", "files", "bot_id", "subtype")
    shown = {k: v for k, v in message.items() if k in kept}
    response = live.client.message_shortcut(ids.MESSAGE_SHORTCUT, shown, user_id=user_id)
    assert response.status_code == 200 and response.text == ""


def submit(live: Harness, view: dict[str, Any], user_id: str = "U2", **answers: Any) -> Any:
    """The form submitted by `user_id` (who used the shortcut: the modal is theirs)."""
    filled = {**view, "state": {"values": state_values(view, {**ANSWERS, **answers})}}
    return live.client.view_submission(filled, user_id=user_id)


def completed_form(live: Harness, message: dict[str, Any], user_id: str = "U2") -> dict[str, Any]:
    """The shortcut used, and its form as Slack holds it once the permalink is in."""
    use_shortcut(live, message, user_id)
    wait_for_view(live, ids.NEW_TICKET_VIEW, containing=permalink_of(message))
    opened = live.slack.calls_to("views.open")[-1]
    return dict(live.slack.views[opened.response["view"]["id"]])


def permalink_of(message: dict[str, Any]) -> str:
    return f"/archives/{CHANNEL}/p{message['ts'].replace('.', '')}"


def field(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return dict(next(b for b in view["blocks"] if b.get("block_id") == block_id)["element"])


def made_ticket(live: Harness) -> str:
    [ticket_id] = wait_until(lambda: list(live.helpdesk.tickets), what="the ticket")
    return str(ticket_id)


def card_posted(live: Harness) -> Call:
    [card] = live.slack.wait_for("chat.postMessage")
    ticket_id = made_ticket(live)
    wait_until(lambda: live.store.thread_for_ticket(ticket_id), what="the card linked")
    return card


def outbox_jobs(live: Harness) -> list[Any]:
    entries: Any = live.store.redis.xrange(live.store.outbox_stream())
    return [JOB.validate_json(fields["job"]) for _, fields in entries]


def warm_lookups(live: Harness) -> None:
    assert make_desk(live).lookups.form_lists() is not None


# --- the modal ----------------------------------------------------------------------------


def test_the_form_opens_before_anything_else_is_asked_and_fills_in_after(
    live: Harness,
) -> None:
    first_line = "Printer" + " jam" * 200  # longer than Epixel's subject
    message = live.slack.add_message(CHANNEL, f"{first_line}\nAsk <@U1> &amp; me")
    warm_lookups(live)

    view = completed_form(live, message)

    [opened] = live.slack.calls_to("views.open")
    [asked] = live.slack.calls_to("chat.getPermalink")
    assert opened.time < asked.time  # the permalink did not hold the modal
    assert opened.args["view"]["callback_id"] == ids.NEW_TICKET_VIEW  # the form, at once
    at_once = field(opened.args["view"], ids.DESCRIPTION_BLOCK)["initial_value"]
    assert at_once.startswith(first_line + "\nAsk @")  # prefilled at once (names: cached)
    subject = field(view, ids.SUBJECT_BLOCK)["initial_value"]
    assert len(subject) == MAX_SUBJECT_CHARS and subject.endswith("…")
    assert subject.startswith("Printer jam jam")
    description = field(view, ids.DESCRIPTION_BLOCK)["initial_value"]
    assert description.startswith(first_line + "\nAsk @Ada Lovelace & me\n\nhttps://")
    assert description.endswith(permalink_of(message))
    [update] = live.slack.calls_to("views.update")
    assert update.args["hash"] == opened.response["view"]["hash"]  # the view it opened


def test_cold_lookups_open_a_loading_view_at_once_then_the_full_form(live: Harness) -> None:
    message = live.slack.add_message(CHANNEL, "VPN drops every hour")

    view = completed_form(live, message)

    [opened] = live.slack.calls_to("views.open")
    assert opened.args["view"]["callback_id"] == ids.LOADING_VIEW
    assert opened.time < live.slack.calls_to("chat.getPermalink")[0].time
    assert field(view, ids.SUBJECT_BLOCK)["initial_value"] == "VPN drops every hour"


def test_only_files_the_bot_may_fetch_and_send_are_offered(live: Harness) -> None:
    log = live.slack.add_file("F1", "log.txt", b"line 1\n", "text/plain")
    big = live.slack.add_file("F2", "dump.bin", b"x" * (2 * 1024 * 1024 + 1))
    elsewhere = {**log, "id": "F3", "name": "evil.txt", "url_private": "https://x.example/f"}
    del elsewhere["url_private_download"]
    message = live.slack.add_message(
        CHANNEL, "Crash on start", files=[log, big, elsewhere], user="U1"
    )

    view = completed_form(live, message)

    offered = field(view, ids.MESSAGE_FILES_BLOCK)
    assert [o["value"] for o in offered["options"]] == ["F1"]
    assert [o["value"] for o in offered["initial_options"]] == ["F1"]
    assert "dump.bin (over 2 MiB)" in texts(view)
    assert "evil.txt (not stored in Slack)" in texts(view)
    assert live.slack.downloads == []  # nothing fetched to offer them

    submit(live, view)
    card_posted(live)
    [stored] = live.helpdesk.attachments.values()
    assert (stored["filename"], stored["content"]) == ("log.txt", b"line 1\n")


def test_unticked_message_files_are_not_sent(live: Harness) -> None:
    log = live.slack.add_file("F1", "log.txt", b"line 1\n", "text/plain")
    message = live.slack.add_message(CHANNEL, "Crash on start", files=[log])
    view = completed_form(live, message)

    submit(live, view, message_files_input=[])

    card_posted(live)
    assert live.helpdesk.attachments == {}
    assert live.slack.downloads == []


def test_more_files_than_a_new_ticket_takes_follow_as_a_conversation(live: Harness) -> None:
    log = live.slack.add_file("F1", "log.txt", b"line 1\n", "text/plain")
    shot = live.slack.add_file("F2", "shot.png", b"\x89PNG fake", "image/png")
    message = live.slack.add_message(CHANNEL, "Crash on start", files=[log, shot])
    view = completed_form(live, message)

    submit(live, view)

    card_posted(live)
    ticket_id = int(made_ticket(live))
    wait_until(lambda: message["ts"] in delivered_reactions(live.slack), what="the second file")
    assert conversations(live.helpdesk, ticket_id) == ["Ada Lovelace: (shared shot.png)"]
    stored = sorted(live.helpdesk.attachments.values(), key=lambda a: a["id"])
    assert [a["filename"] for a in stored] == ["log.txt", "shot.png"]


# --- the submission -----------------------------------------------------------------------


def test_the_ticket_is_the_authors_its_card_in_the_messages_thread(live: Harness) -> None:
    message = live.slack.add_message(CHANNEL, "Badge reader rejects me\nSince Monday.")
    view = completed_form(live, message, user_id="U2")

    assert submit(live, view).status_code == 200

    card = card_posted(live)
    ticket_id = made_ticket(live)
    ticket = live.helpdesk.tickets[int(ticket_id)]
    assert ticket["subject"] == "Badge reader rejects me"
    assert "Since Monday." in ticket["comment"] and permalink_of(message) in ticket["comment"]
    assert "Ticket made in Slack by Grace Hopper." in ticket["comment"]
    assert live.store.requester_id_of(ticket_id) == "U1"  # the author, not who used it
    assert "Ada Lovelace" in texts(card.args["blocks"])
    assert card.args["thread_ts"] == message["ts"]
    thread = ThreadRef(CHANNEL, message["ts"])
    assert live.store.ticket_for_thread(thread) == ticket_id
    assert live.store.card_for_ticket(ticket_id) == ThreadRef(CHANNEL, card.response["ts"])
    result = wait_for_view(live, ids.RESULT_VIEW, containing=f"#{ticket_id}")
    assert f"<#{CHANNEL}>" in texts(result)

    reply = live.slack.add_message(CHANNEL, "Still broken", user="U1", thread_ts=message["ts"])
    live.client.event({"type": "message", "channel": CHANNEL, **reply})
    wait_until(lambda: reply["ts"] in delivered_reactions(live.slack), what="the reply sent")
    assert conversations(live.helpdesk, int(ticket_id)) == ["Ada Lovelace: Still broken"]


def test_on_a_reply_the_card_goes_in_its_thread_and_the_reply_is_not_sent_twice(
    live: Harness,
) -> None:
    root = live.slack.add_message(CHANNEL, "Lunch?", user="U2")
    message = live.slack.add_message(CHANNEL, "Oven is broken", thread_ts=root["ts"])
    view = completed_form(live, message)

    submit(live, view)

    card = card_posted(live)
    ticket_id = made_ticket(live)
    assert card.args["thread_ts"] == root["ts"]
    assert live.store.ticket_for_thread(ThreadRef(CHANNEL, root["ts"])) == ticket_id
    assert live.store.requester_id_of(ticket_id) == "U1"
    after = live.slack.add_message(CHANNEL, "Really", user="U1", thread_ts=root["ts"])
    live.client.event({"type": "message", "channel": CHANNEL, **after})
    wait_until(lambda: after["ts"] in delivered_reactions(live.slack), what="the reply sent")
    # the message itself is the description, the root is not the ticket's
    assert conversations(live.helpdesk, int(ticket_id)) == ["Ada Lovelace: Really"]


def test_a_stranger_who_uses_it_gets_no_say_over_the_ticket(live: Harness) -> None:
    message = live.slack.add_message(CHANNEL, "Screen is black", user="U1")
    live.slack.add_user("U3", "alan", "Alan Turing")

    submit(live, completed_form(live, message, user_id="U3"), user_id="U3")  # a stranger

    card = card_posted(live)
    ticket_id = made_ticket(live)
    assert live.store.requester_id_of(ticket_id) == "U1"
    assert "made in Slack by Alan Turing." in live.helpdesk.tickets[int(ticket_id)]["comment"]
    live.client.block_action(
        card_button(card, "Close"), user_id="U3", message=card.response["message"]
    )
    [refused] = live.slack.wait_for("response_url")
    assert "Only the requester or an agent" in texts(refused.args)


def test_an_agent_who_uses_it_makes_the_ticket_the_authors_all_the_same(
    redis_url: str, redis_prefix: str
) -> None:
    with running_bot(redis_url, redis_prefix, TICKET_AGENTS="U2") as live:
        message = live.slack.add_message(CHANNEL, "Screen is black", user="U1")

        submit(live, completed_form(live, message, user_id="U2"), user_id="U2")

        card_posted(live)
        ticket_id = made_ticket(live)
        assert live.store.requester_id_of(ticket_id) == "U1"
        assert live.store.tickets_requested_by("U1") == [ticket_id]
        assert live.store.tickets_requested_by("U2") == []


def test_on_a_bots_message_whoever_used_it_is_the_requester(live: Harness) -> None:
    posted = make_desk(live).cards.slack.chat_postMessage(channel=CHANNEL, text="Deploy failed")

    submit(live, completed_form(live, dict(posted["message"]), user_id="U2"), user_id="U2")

    card_posted(live)
    assert live.store.requester_id_of(made_ticket(live)) == "U2"


# --- the thread's earlier replies ---------------------------------------------------------


def test_earlier_replies_reach_the_ticket_once_in_order_without_the_bots(
    live: Harness,
) -> None:
    message = live.slack.add_message(CHANNEL, "Wifi drops")
    thread_ts = message["ts"]
    live.slack.add_message(CHANNEL, "Me too", user="U2", thread_ts=thread_ts)
    bot = make_desk(live).cards.slack
    bot.chat_postMessage(channel=CHANNEL, thread_ts=thread_ts, text="I am a bot")
    live.slack.add_message(CHANNEL, "Since 9:00", user="U1", thread_ts=thread_ts)
    view = completed_form(live, message)

    submit(live, view)

    ticket_id = int(made_ticket(live))
    wait_until(lambda: len(conversations(live.helpdesk, ticket_id)) == 2, what="the backfill")
    assert conversations(live.helpdesk, ticket_id) == [
        "Grace Hopper: Me too",
        "Ada Lovelace: Since 9:00",
    ]


def test_every_page_of_a_long_thread_is_backfilled_once_and_a_retry_adds_none(
    quiet: Harness,
) -> None:
    message = quiet.slack.add_message(CHANNEL, "Wifi drops")
    replies = [
        quiet.slack.add_message(CHANNEL, f"reply {n}", user="U2", thread_ts=message["ts"])
        for n in range(205)  # more than a page of conversations.replies (200)
    ]
    view = completed_form(quiet, message)
    submit(quiet, view)
    [job] = outbox_jobs(quiet)
    assert isinstance(job, CreateJob)
    desk = make_desk(quiet)

    desk.creation.create(job.draft, job.user_id, job.view_id, job.context)
    desk.creation.create(job.draft, job.user_id, job.view_id, job.context, redelivered=True)

    ticket_id = made_ticket(quiet)
    [backfill] = [j for j in outbox_jobs(quiet) if isinstance(j, BackfillJob)]
    assert backfill.lane == f"ticket:{ticket_id}"
    assert not [j for j in outbox_jobs(quiet) if isinstance(j, ReplyJob)]
    worker = SyncWorker(quiet.settings, quiet.gateway, quiet.store, outbox=TEST_OUTBOX, poll=False)
    worker.start()  # delivers the creation entry a third time, and the backfill
    try:
        wait_until(lambda: outbox_drained(quiet), what="the backfill delivered")
    finally:
        worker.stop()
    assert conversations(quiet.helpdesk, int(ticket_id)) == [
        f"Grace Hopper: {r['text']}" for r in replies
    ]
    assert len(quiet.helpdesk.tickets) == 1
    assert len(quiet.slack.calls_to("conversations.replies")) == 2  # 2 pages, read once


def test_a_reaction_made_ticket_backfills_its_thread_too(live: Harness) -> None:
    message = live.slack.add_message(CHANNEL, "Projector flickers")
    live.slack.add_message(CHANNEL, "Room 4", user="U2", thread_ts=message["ts"])

    live.client.event(reaction_on(message))

    ticket_id = int(made_ticket(live))
    wait_until(lambda: conversations(live.helpdesk, ticket_id), what="the backfill")
    assert conversations(live.helpdesk, ticket_id) == ["Grace Hopper: Room 4"]


@pytest.mark.parametrize("made_with", ["shortcut", "reaction"])
def test_a_reply_written_during_the_backfill_reaches_the_ticket_after_the_earlier_ones(
    live: Harness, made_with: str
) -> None:
    message = live.slack.add_message(CHANNEL, "Wifi drops")
    live.slack.add_message(CHANNEL, "Me too", user="U2", thread_ts=message["ts"])
    live.slack.add_message(CHANNEL, "Since 9:00", user="U1", thread_ts=message["ts"])
    view = completed_form(live, message) if made_with == "shortcut" else {}

    def make_ticket() -> object:
        if made_with == "shortcut":
            return submit(live, view)
        return live.client.event(reaction_on(message))

    reply_while_backfilled(live, ThreadRef(CHANNEL, message["ts"]), make_ticket, "Down again")

    ticket_id = int(made_ticket(live))
    wait_until(lambda: outbox_drained(live), what="every reply delivered")
    assert conversations(live.helpdesk, ticket_id) == [
        "Grace Hopper: Me too",
        "Ada Lovelace: Since 9:00",
        "Grace Hopper: Down again",
    ]


def test_a_backfill_the_helpdesk_refuses_is_given_up_with_a_note_in_the_thread(
    live: Harness,
) -> None:
    message = live.slack.add_message(CHANNEL, "Projector flickers")
    live.slack.add_message(CHANNEL, "Room 4", user="U2", thread_ts=message["ts"])
    live.helpdesk.fail_next(1, 404, path_contains="ticket/conversation")

    live.client.event(reaction_on(message))

    thread = ThreadRef(CHANNEL, message["ts"])
    [note] = wait_until(lambda: [n for n in notes_in(live, thread) if "did not reach" in n])
    assert "Replies written here before the ticket was made did not reach it" in note
    wait_until(lambda: outbox_drained(live), what="the backfill given up")
    assert live.store.redis.xlen(live.store.outbox_dead_stream()) == 1


# --- a thread that is a ticket's already --------------------------------------------------


def test_on_a_ticket_thread_it_answers_with_a_link_instead_of_a_form(live: Harness) -> None:
    message = live.slack.add_message(CHANNEL, "Printer jam")
    card = live.slack.add_message(CHANNEL, "Ticket #42", user="UBOT", thread_ts=message["ts"])
    live.store.link_thread("42", ThreadRef(CHANNEL, message["ts"]), ThreadRef(CHANNEL, card["ts"]))
    reply = live.slack.add_message(CHANNEL, "Any news?", thread_ts=message["ts"])

    use_shortcut(live, reply)

    [answer] = live.slack.wait_for("response_url")
    assert answer.args["response_type"] == "ephemeral"
    assert "ticket *#42* already" in answer.args["text"]
    assert permalink_of(card) in texts(answer.args)
    assert live.slack.calls_to("views.open") == []


def test_in_an_announcement_thread_of_the_agents_channel_it_opens_no_form(
    live: Harness,
) -> None:
    announcement = live.slack.add_message("CAGENTS", "New ticket #42", user="UBOT")
    live.store.link_agents_thread("42", ThreadRef("CAGENTS", announcement["ts"]))
    note = live.slack.add_message("CAGENTS", "Internal: VIP", thread_ts=announcement["ts"])

    response = live.client.message_shortcut(
        ids.MESSAGE_SHORTCUT,
        {k: note[k] for k in ("ts", "user", "text", "thread_ts")},
        channel_id="CAGENTS",
    )

    assert response.status_code == 200
    [answer] = live.slack.wait_for("response_url")
    assert "ticket *#42* already" in answer.args["text"]
    assert live.slack.calls_to("views.open") == []


def test_a_thread_that_became_a_tickets_meanwhile_makes_no_second_ticket(
    live: Harness,
) -> None:
    message = live.slack.add_message(CHANNEL, "Printer jam")
    view = completed_form(live, message)
    live.store.link_thread("42", ThreadRef(CHANNEL, message["ts"]))  # a reaction, say

    submit(live, view)

    result = wait_for_view(live, ids.RESULT_VIEW, containing="#42")
    assert "belongs to ticket #42 already" in texts(result)
    assert live.helpdesk.tickets == {}  # decided before anything was sent to the helpdesk
