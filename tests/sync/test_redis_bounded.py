"""Redis stays bounded: dead letters capped, one dead-letter note per thread per outage, and
a retired ticket's keys expire (and are kept again when it comes back)."""

from __future__ import annotations

import time
from typing import Any

import redis

from bot.desk.cards import Click
from bot.store import Store, ThreadRef
from bot.store.poll import RETIRED_KEYS_TTL
from bot.store.streams import DEAD_LETTERS_KEPT
from bot.sync.poller import Poller
from tests.support.flows import linked_ticket, make_desk, make_poller, notes_in, thread_of
from tests.support.harness import TEST_OUTBOX, Harness, running_bot
from tests.support.outbound import (
    delivered_reactions,
    linked_thread,
    reply,
    wait_until,
)


def test_the_dead_letter_stream_is_capped(store: Store) -> None:
    extra = 1_000
    for n in range(DEAD_LETTERS_KEPT + extra):
        store.outbox_dead_letter(f"0-{n + 1}", {"kind": "reply", "n": str(n)}, "test")
    kept = store.redis.xlen(store.outbox_dead_stream())
    # MAXLEN ~ trims whole stream nodes (100 entries each by default): a few more may stay
    assert DEAD_LETTERS_KEPT <= kept < DEAD_LETTERS_KEPT + 200
    newest: Any = store.redis.xrevrange(store.outbox_dead_stream(), count=1)
    assert newest[0][1]["n"] == str(DEAD_LETTERS_KEPT + extra - 1)


def test_one_dead_letter_note_per_thread_per_outage(redis_url: str, redis_prefix: str) -> None:
    brief = TEST_OUTBOX.model_copy(update={"max_attempts": 2})
    with running_bot(redis_url, redis_prefix, outbox=brief) as live:
        thread = linked_thread(live)
        live.helpdesk.fail_next(100_000, 503, path_contains="ticket/conversation")
        failed = [reply(live.client, live.slack, thread, f"Hello {n}") for n in range(4)]
        failed_ts = {event["ts"] for event in failed}
        wait_until(lambda: failed_ts <= delivered_reactions(live.slack, "x"))
        assert len(live.store.outbox_dead_letters()) == 4
        assert len([n for n in notes_in(live, thread) if "could not reach" in n]) == 1

        for fault in live.helpdesk._failures:  # the helpdesk is back: the outage ends
            fault.remaining = 0
        ok = reply(live.client, live.slack, thread, "Back?")
        wait_until(lambda: ok["ts"] in delivered_reactions(live.slack))

        live.helpdesk.fail_next(100_000, 503, path_contains="ticket/conversation")
        again = reply(live.client, live.slack, thread, "Down again")
        wait_until(lambda: again["ts"] in delivered_reactions(live.slack, "x"))
        notes = wait_until(
            lambda: [n for n in notes_in(live, thread) if "could not reach" in n][1:]
        )
        assert len(notes) == 1  # the second outage: one more note
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{redis_prefix}:*"):
        client.delete(key)


def _ticket_ttls(live: Harness, ticket_id: str) -> dict[str, int]:
    thread = thread_of(live, ticket_id)
    announcement = live.store.agents_thread_for_ticket(ticket_id)
    keys = live.store.keys.per_ticket(ticket_id, thread, agents=announcement)
    return {key: int(live.store.redis.ttl(key)) for key in keys}


def test_a_retired_tickets_keys_expire_and_a_reopen_keeps_them_again(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    live.store.remember_requester(ticket_id, "Ada Lovelace")
    live.store.link_agents_thread(ticket_id, ThreadRef("GAGENTS1", "1700000000.000001"))
    live.helpdesk.set_status(int(ticket_id), 3)
    poller = make_poller(live)
    poller.poll_once()  # sees it closed
    assert set(_ticket_ttls(live, ticket_id).values()) == {-1}  # closed, not yet retired

    desk = make_desk(live)
    later = Poller(
        live.settings,
        live.gateway,
        live.store,
        desk.cards.slack,
        desk.cards,
        clock=lambda: time.time() + 8e5,  # 9+ days on: past the closed retention
    )
    later.owner = poller.owner
    assert later.poll_once().retired == 1
    ttls = _ticket_ttls(live, ticket_id)
    # links both ways (card, announcement), requester name and id, cursor, poll state
    assert len(ttls) == 8, ttls
    assert all(0 < ttl <= RETIRED_KEYS_TTL for ttl in ttls.values()), ttls

    click = Click("U1", thread_of(live, ticket_id), lambda **_: None, "1.1")
    desk.cards.change_status(False, click)  # reopened from the card
    assert ticket_id in live.store.tickets_to_poll()
    assert set(_ticket_ttls(live, ticket_id).values()) == {-1}
