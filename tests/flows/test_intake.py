"""A reaction with TICKET_REACTION makes a ticket of a message: signed events into the
Bolt app, the fake Slack, the fake Epixel helpdesk and real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.store import ThreadRef
from bot.sync.outbox import JOB, IntakeJob
from tests.support.flows import CHANNEL, make_desk, make_poller, texts
from tests.support.harness import Harness, running_bot
from tests.support.outbound import (
    conversations,
    outbox_drained,
    reply_while_backfilled,
    wait_until,
)


@pytest.fixture()
def quiet(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    """The bot without its outbox worker: what the listener wrote stays to be read."""
    with running_bot(redis_url, redis_prefix, outbox=None) as harness:
        yield harness


def reaction(message: dict[str, Any], *, user: str = "U2", name: str = "ticket") -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": name,
        "item_user": message.get("user"),
        "item": {"type": "message", "channel": CHANNEL, "ts": message["ts"]},
        "event_ts": "1700000000.000100",
    }


def intake_jobs(live: Harness) -> list[IntakeJob]:
    entries: Any = live.store.redis.xrange(live.store.outbox_stream())
    jobs = [JOB.validate_json(fields["job"]) for _, fields in entries]
    return [job for job in jobs if isinstance(job, IntakeJob)]


def cards_in_thread(live: Harness, ts: str) -> list[dict[str, Any]]:
    return [m for m in live.slack.messages[CHANNEL] if m.get("thread_ts") == ts and m.get("bot_id")]


def test_a_reaction_makes_one_ticket_with_its_card_in_the_message_thread(live: Harness) -> None:
    message = live.slack.add_message(CHANNEL, "Printer on floor 2 jams\nEvery second page.")

    assert live.client.event(reaction(message)).status_code == 200
    [card] = live.slack.wait_for("chat.postMessage")

    [ticket_id] = live.helpdesk.tickets
    ticket = live.helpdesk.tickets[ticket_id]
    assert card.args["thread_ts"] == message["ts"]
    assert "Printer on floor 2 jams" in texts(ticket)
    assert "Every second page." in texts(ticket)
    assert f"/archives/{CHANNEL}/p{message['ts'].replace('.', '')}" in texts(ticket)
    assert "Grace Hopper" in texts(ticket)  # who reacted
    assert live.store.requester_id_of(str(ticket_id)) == "U1"  # the message's author
    thread = ThreadRef(CHANNEL, message["ts"])
    wait_until(lambda: live.store.ticket_for_thread(thread), what="the thread linked")
    assert live.store.ticket_for_thread(thread) == str(ticket_id)
    assert live.store.card_for_ticket(str(ticket_id)) == ThreadRef(CHANNEL, card.response["ts"])


def test_app_home_links_the_card_inside_the_messages_thread(live: Harness) -> None:
    message = live.slack.add_message(CHANNEL, "Printer jams")
    assert live.client.event(reaction(message)).status_code == 200
    [card] = live.slack.wait_for("chat.postMessage")
    [ticket_id] = live.helpdesk.tickets
    wait_until(lambda: live.store.card_for_ticket(str(ticket_id)), what="the card linked")

    live.client.event({"type": "app_home_opened", "user": "U1", "tab": "home"})
    home = texts(live.slack.wait_for("views.publish")[0].args["view"])
    card_link = f"/archives/{CHANNEL}/p{card.response['ts'].replace('.', '')}"
    assert f"{card_link}?thread_ts={message['ts']}" in home


def test_simultaneous_reactions_and_a_redelivery_make_one_ticket(quiet: Harness) -> None:
    message = quiet.slack.add_message(CHANNEL, "VPN is down")
    first = quiet.client.event_envelope(reaction(message, user="U2"))
    events = [first, quiet.client.event_envelope(reaction(message, user="U1")), first]

    with ThreadPoolExecutor(len(events)) as pool:
        answers = list(pool.map(quiet.client.post_json, events))

    assert [a.status_code for a in answers] == [200, 200, 200]
    [job] = intake_jobs(quiet)
    desk = make_desk(quiet)
    desk.intake.create(job)
    desk.intake.create(job, redelivered=True)  # a worker died after creating: no second one
    assert len(quiet.helpdesk.tickets) == 1
    assert len(cards_in_thread(quiet, message["ts"])) == 1


def test_another_emoji_or_an_already_ticketed_message_writes_nothing(quiet: Harness) -> None:
    message = quiet.slack.add_message(CHANNEL, "Coffee machine broken")
    quiet.store.link_thread("42", ThreadRef(CHANNEL, message["ts"]))
    other = quiet.slack.add_message(CHANNEL, "Lunch?")

    quiet.client.event(reaction(message))
    quiet.client.event(reaction(other, name="thumbsup"))
    quiet.client.event({**reaction(other), "type": "reaction_removed"})

    assert intake_jobs(quiet) == []


def test_a_reaction_on_the_bots_own_message_makes_no_ticket(quiet: Harness) -> None:
    posted = make_desk(quiet).cards.slack.chat_postMessage(channel=CHANNEL, text="I am a bot")
    message = {"ts": posted["ts"], "user": quiet.slack.bot_user_id}

    quiet.client.event(reaction(message))
    [job] = intake_jobs(quiet)
    make_desk(quiet).intake.create(job)

    assert quiet.helpdesk.tickets == {}
    assert cards_in_thread(quiet, posted["ts"]) == []


def test_a_reply_in_the_new_thread_reaches_the_ticket(live: Harness) -> None:
    message = live.slack.add_message(CHANNEL, "Badge reader rejects me")
    live.client.event(reaction(message))
    live.slack.wait_for("chat.postMessage")
    [ticket_id] = live.helpdesk.tickets
    thread = ThreadRef(CHANNEL, message["ts"])
    wait_until(lambda: live.store.ticket_for_thread(thread), what="the thread linked")

    reply = live.slack.add_message(CHANNEL, "Still broken", user="U2", thread_ts=message["ts"])
    live.client.event({"type": "message", "channel": CHANNEL, **reply})
    live.slack.wait_for("reactions.add")

    mine = [c for c in live.helpdesk.conversations if c["ticket"] == ticket_id]
    assert "Grace Hopper: Still broken" in texts(mine)


def test_reactions_do_nothing_when_ticket_reaction_is_empty(
    redis_url: str, redis_prefix: str
) -> None:
    with running_bot(redis_url, redis_prefix, outbox=None, TICKET_REACTION="") as bot:
        message = bot.slack.add_message(CHANNEL, "Anything")
        assert bot.client.event(reaction(message)).status_code == 200
        assert intake_jobs(bot) == []


def test_the_poller_updates_the_card_inside_the_thread(quiet: Harness) -> None:
    message = quiet.slack.add_message(CHANNEL, "Projector flickers")
    quiet.client.event(reaction(message))
    [job] = intake_jobs(quiet)
    make_desk(quiet).intake.create(job)
    [card] = quiet.slack.calls_to("chat.postMessage")
    [ticket_id] = quiet.helpdesk.tickets
    quiet.helpdesk.set_status(ticket_id, 3)

    make_poller(quiet).poll_once()

    [update] = quiet.slack.calls_to("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (CHANNEL, card.response["ts"])
    assert "Closed" in texts(update.args["blocks"])


# --- intake channels ------------------------------------------------------------------


@pytest.fixture()
def intake_quiet(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    """The bot with CHANNEL as an intake channel and no outbox worker."""
    with running_bot(redis_url, redis_prefix, outbox=None, TICKET_INTAKE_CHANNELS=CHANNEL) as bot:
        yield bot


def message_event(fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "message", "channel": CHANNEL, **fields, **extra}


def test_a_persons_message_in_an_intake_channel_becomes_one_ticket(
    redis_url: str, redis_prefix: str
) -> None:
    with running_bot(redis_url, redis_prefix, TICKET_INTAKE_CHANNELS=CHANNEL) as bot:
        message = bot.slack.add_message(CHANNEL, "Laptop will not boot\nSince this morning.")
        first = bot.client.event_envelope(message_event(message))
        with ThreadPoolExecutor(2) as pool:  # the event and Slack's redelivery of it
            answers = list(pool.map(bot.client.post_json, [first, first]))
        assert [a.status_code for a in answers] == [200, 200]

        [card] = bot.slack.wait_for("chat.postMessage")
        thread = ThreadRef(CHANNEL, message["ts"])
        wait_until(lambda: bot.store.ticket_for_thread(thread), what="the thread linked")
        [ticket_id] = bot.helpdesk.tickets
        assert card.args["thread_ts"] == message["ts"]
        assert bot.helpdesk.tickets[ticket_id]["subject"] == "Laptop will not boot"
        assert bot.store.requester_id_of(str(ticket_id)) == "U1"


def test_a_reply_written_while_an_intake_ticket_backfills_comes_after_the_earlier_ones(
    redis_url: str, redis_prefix: str
) -> None:
    with running_bot(redis_url, redis_prefix, TICKET_INTAKE_CHANNELS=CHANNEL) as bot:
        message = bot.slack.add_message(CHANNEL, "VPN refuses me")
        bot.slack.add_message(CHANNEL, "Same here", user="U2", thread_ts=message["ts"])
        thread = ThreadRef(CHANNEL, message["ts"])

        reply_while_backfilled(
            bot, thread, lambda: bot.client.event(message_event(message)), "And now 2FA fails"
        )

        [ticket_id] = bot.helpdesk.tickets
        wait_until(lambda: outbox_drained(bot), what="every reply delivered")
        assert conversations(bot.helpdesk, ticket_id) == [
            "Grace Hopper: Same here",
            "Grace Hopper: And now 2FA fails",
        ]


def test_intake_channels_leave_out_bots_subtypes_edits_and_thread_replies(
    intake_quiet: Harness,
) -> None:
    bot = intake_quiet
    top = bot.slack.add_message(CHANNEL, "A question")
    reply = bot.slack.add_message(CHANNEL, "An answer", thread_ts=top["ts"])
    events = [
        message_event({"ts": "1.000001", "text": "hi", "bot_id": "B9", "user": "U9"}),
        message_event({"ts": "1.000002", "text": "beep", "subtype": "bot_message"}),
        message_event({"ts": "1.000003", "user": "U2", "subtype": "channel_join"}),
        message_event(
            {"ts": "1.000004", "subtype": "message_changed"},
            message={**top, "text": "A better question"},
            previous_message=top,
        ),
        message_event(reply),
    ]
    for event in events:
        assert bot.client.event(event).status_code == 200

    assert intake_jobs(bot) == []


def test_a_reply_in_an_intake_channels_ticket_thread_is_still_mirrored(
    intake_quiet: Harness,
) -> None:
    bot = intake_quiet
    top = bot.slack.add_message(CHANNEL, "Printer out of toner")
    bot.client.event(message_event(top))
    [job] = intake_jobs(bot)
    make_desk(bot).intake.create(job)
    reply = bot.slack.add_message(CHANNEL, "It is the one on floor 3", thread_ts=top["ts"])

    bot.client.event(message_event(reply))

    entries: Any = bot.store.redis.xrange(bot.store.outbox_stream())
    kinds = [JOB.validate_json(fields["job"]).kind for _, fields in entries]
    assert kinds == ["intake", "backfill", "reply"]  # behind the replies it had before


def test_a_retired_intake_tickets_card_keys_expire_with_it(quiet: Harness) -> None:
    message = quiet.slack.add_message(CHANNEL, "Wifi drops")
    quiet.client.event(reaction(message))
    [job] = intake_jobs(quiet)
    make_desk(quiet).intake.create(job)
    [card] = quiet.slack.calls_to("chat.postMessage")
    [ticket_id] = quiet.helpdesk.tickets

    quiet.store.retire_from_polling(str(ticket_id), keep_seconds=60)

    keys = quiet.store.keys
    for key in (keys.card_link(str(ticket_id)), keys.thread_link(CHANNEL, card.response["ts"])):
        assert 0 < quiet.store.redis.ttl(key) <= 60
