"""Slack → helpdesk: replies in a ticket's thread become conversations, once each.

The bot runs over HTTP with its outbox worker in-process (tests/support/harness.py), against
FakeSlack, FakeEpixel and a real Redis; the crash test runs the worker as a process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import make_server

import pytest
import redis

from bot.runtime.executors import Executors
from bot.runtime.health import HealthProbe
from bot.runtime.web import WebApp
from bot.runtime.wiring import build_slack_app
from bot.store import Store, ThreadRef
from bot.sync.worker import OutboxSettings, SyncWorker
from tests.support.flows import CHANNEL, create, notes_in
from tests.support.harness import (
    SIGNING_SECRET,
    TEST_OUTBOX,
    Harness,
    QuietHandler,
    ThreadingWSGIServer,
    running_bot,
)
from tests.support.outbound import (
    conversations,
    deleted,
    delivered_reactions,
    edited,
    linked_thread,
    message_event,
    reaction_on,
    reply,
    serving_env,
    ticket_of,
    wait_until,
)
from tests.support.processes import BotProcess
from tests.support.slack_requests import SignedClient

TWO_MIB = 2 * 1024 * 1024


@pytest.fixture()
def idle(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    """The bot without an outbox worker: what is written stays in the outbox."""
    with running_bot(redis_url, redis_prefix, outbox=None) as harness:
        yield harness


def start_worker(live: Harness, **timings: object) -> SyncWorker:
    outbox = TEST_OUTBOX.model_copy(update=timings)
    return SyncWorker(live.settings, live.gateway, live.store, outbox=outbox, poll=False).start()


# --- replies ---------------------------------------------------------------------------


def test_text_reply_becomes_one_conversation_with_the_authors_name(live: Harness) -> None:
    thread = linked_thread(live)
    ticket_id = ticket_of(live, thread)
    slack_text = (
        "Hi <@U2>, see <https://example.com/doc|the doc> and <https://example.com/raw> "
        "in <#C9|general> :thumbsup: &amp; &lt;b&gt; <!here>"
    )
    event = reply(live.client, live.slack, thread, slack_text)
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack), what="the ✅ reaction")
    assert conversations(live.helpdesk, ticket_id) == [
        "Ada Lovelace: Hi @Grace Hopper, see the doc (https://example.com/doc) and "
        "https://example.com/raw in #general 👍 & <b> @here"
    ]
    assert live.store.was_sent(str(ticket_id), conversations(live.helpdesk, ticket_id)[0])


def test_reply_with_files_one_conversation_per_file(live: Harness) -> None:
    thread = linked_thread(live)
    ticket_id = ticket_of(live, thread)
    log = live.slack.add_file("F1", "log.txt", b"line 1\n", "text/plain")
    shot = live.slack.add_file("F2", "shot.png", b"\x89PNG fake", "image/png")
    event = reply(
        live.client, live.slack, thread, "Here you are", subtype="file_share", files=[log, shot]
    )
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack))
    assert conversations(live.helpdesk, ticket_id) == [
        "Ada Lovelace: Here you are",
        "Ada Lovelace: (file 2 of 2: shot.png)",
    ]
    stored = sorted(live.helpdesk.attachments.values(), key=lambda a: a["id"])
    assert [(a["filename"], a["content"]) for a in stored] == [
        ("log.txt", b"line 1\n"),
        ("shot.png", b"\x89PNG fake"),
    ]


def test_too_large_file_gets_a_note_naming_the_limit(live: Harness) -> None:
    thread = linked_thread(live)
    ticket_id = ticket_of(live, thread)
    big = live.slack.add_file("F3", "dump.bin", b"x" * (TWO_MIB + 1))
    event = reply(live.client, live.slack, thread, "The dump", subtype="file_share", files=[big])
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack))
    assert conversations(live.helpdesk, ticket_id) == [
        "Ada Lovelace: The dump [not attached: dump.bin]"
    ]
    assert live.helpdesk.attachments == {}
    assert any("dump.bin" in n and "2 MiB" in n for n in notes_in(live, thread))


def test_slack_retries_and_duplicate_event_ids_give_one_conversation(live: Harness) -> None:
    thread = linked_thread(live)
    ticket_id = ticket_of(live, thread)
    event = message_event(live.slack, thread, "Only once")
    for retry in (None, 1, 2):
        response = live.client.event(event, event_id="EvSAME", retry_num=retry)
        assert response.status_code == 200
    assert live.client.event(event, event_id="EvOTHER").status_code == 200
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack))
    time.sleep(0.3)
    assert conversations(live.helpdesk, ticket_id) == ["Ada Lovelace: Only once"]


def test_bot_messages_and_other_subtypes_are_not_mirrored(live: Harness) -> None:
    thread = linked_thread(live)
    ticket_id = ticket_of(live, thread)
    card = {"type": "message", "channel": thread.channel, "user": "UBOT", "text": "card"}
    ignored = [
        message_event(live.slack, thread, "from a bot", bot_id="B9"),
        message_event(live.slack, thread, "bot message", subtype="bot_message"),
        message_event(live.slack, thread, "joined", subtype="channel_join"),
        {**card, "ts": thread.ts, "thread_ts": thread.ts},  # the card itself
        {**card, "user": "U1", "ts": "1700000099.000100"},  # not in a thread
    ]
    other = live.slack.add_message(thread.channel, "elsewhere")
    ignored.append(message_event(live.slack, ThreadRef(thread.channel, other["ts"]), "no ticket"))
    for event in ignored:
        assert live.client.event(event).status_code == 200
    last = reply(live.client, live.slack, thread, "a person")
    wait_until(lambda: last["ts"] in delivered_reactions(live.slack))
    assert conversations(live.helpdesk, ticket_id) == ["Ada Lovelace: a person"]


def test_the_bots_own_thread_notes_are_not_mirrored(live: Harness) -> None:
    thread = linked_thread(live)
    ticket_id = ticket_of(live, thread)
    posted = live.slack.add_message(thread.channel, "x", thread_ts=thread.ts)
    own = {
        "type": "message",
        "channel": thread.channel,
        "text": "Ada Lovelace closed the ticket.",
        "ts": posted["ts"],
        "thread_ts": thread.ts,
        "bot_id": "BBOT",
        "app_id": "A1",
        "user": "UBOT",
    }
    assert live.client.event(own).status_code == 200
    time.sleep(0.5)
    assert conversations(live.helpdesk, ticket_id) == []
    assert live.store.outbox_pending() == 0


# --- edits and deletions -----------------------------------------------------------


def test_edit_before_delivery_sends_the_new_text_only(idle: Harness) -> None:
    thread = linked_thread(idle)
    ticket_id = ticket_of(idle, thread)
    event = reply(idle.client, idle.slack, thread, "Printer on floor 2")
    assert idle.client.event(edited(event, "Printer on floor 3")).status_code == 200
    worker = start_worker(idle)
    try:
        wait_until(lambda: event["ts"] in delivered_reactions(idle.slack))
        time.sleep(0.3)
        assert conversations(idle.helpdesk, ticket_id) == ["Ada Lovelace: Printer on floor 3"]
    finally:
        worker.stop()


def test_edit_after_delivery_is_sent_as_an_edited_conversation(live: Harness) -> None:
    thread = linked_thread(live)
    ticket_id = ticket_of(live, thread)
    event = reply(live.client, live.slack, thread, "Printer on floor 2")
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack))
    change = edited(event, "Printer on floor 3")
    assert live.client.event(change).status_code == 200
    assert live.client.event(change, retry_num=1).status_code == 200  # a retry: still one
    wait_until(lambda: len(conversations(live.helpdesk, ticket_id)) == 2)
    time.sleep(0.3)
    assert conversations(live.helpdesk, ticket_id) == [
        "Ada Lovelace: Printer on floor 2",
        "Ada Lovelace: (edited) Printer on floor 3",
    ]


def test_deletion_after_delivery_notes_that_the_helpdesk_keeps_it(live: Harness) -> None:
    thread = linked_thread(live)
    ticket_id = ticket_of(live, thread)
    event = reply(live.client, live.slack, thread, "my password is hunter2")
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack))
    assert live.client.event(deleted(event)).status_code == 200
    wait_until(lambda: any("stays in the helpdesk" in n for n in notes_in(live, thread)))
    assert len(conversations(live.helpdesk, ticket_id)) == 1


def test_deletion_before_delivery_sends_nothing(idle: Harness) -> None:
    thread = linked_thread(idle)
    ticket_id = ticket_of(idle, thread)
    event = reply(idle.client, idle.slack, thread, "oops, wrong thread")
    assert idle.client.event(deleted(event)).status_code == 200
    worker = start_worker(idle)
    try:
        wait_until(lambda: idle.store.outbox_pending() == 0 and _stream_empty(idle))
        time.sleep(0.3)
        assert conversations(idle.helpdesk, ticket_id) == []
        assert not any("stays in the helpdesk" in n for n in notes_in(idle, thread))
    finally:
        worker.stop()


def _stream_empty(live: Harness) -> bool:
    return int(live.store.redis.xlen(live.store.outbox_stream())) == 0


# --- an unwell helpdesk --------------------------------------------------------------


def test_helpdesk_503_for_seconds_then_recovering_delivers_once(
    redis_url: str, redis_prefix: str
) -> None:
    patient = TEST_OUTBOX.model_copy(update={"max_attempts": 100, "backoff_cap": 0.3})
    with running_bot(redis_url, redis_prefix, outbox=patient) as live:
        thread = linked_thread(live)
        ticket_id = ticket_of(live, thread)
        live.helpdesk.fail_next(100_000, 503, path_contains="ticket/conversation")
        event = reply(live.client, live.slack, thread, "Still broken")
        time.sleep(2.5)
        failed = len(live.helpdesk.requests_to("ticket/conversation"))
        assert failed >= 3  # it kept trying, with backoff
        for fault in live.helpdesk._failures:  # the helpdesk recovers
            fault.remaining = 0
        wait_until(lambda: event["ts"] in delivered_reactions(live.slack), timeout=10)
        time.sleep(0.3)
        assert conversations(live.helpdesk, ticket_id) == ["Ada Lovelace: Still broken"]


def test_dead_letter_after_the_bound_shows_in_the_thread(redis_url: str, redis_prefix: str) -> None:
    brief = TEST_OUTBOX.model_copy(update={"max_attempts": 3})
    with running_bot(redis_url, redis_prefix, outbox=brief) as live:
        thread = linked_thread(live)
        ticket_id = ticket_of(live, thread)
        live.helpdesk.fail_next(100_000, 503, path_contains="ticket/conversation")
        event = reply(live.client, live.slack, thread, "Hello?")
        wait_until(lambda: event["ts"] in delivered_reactions(live.slack, "x"), timeout=10)
        assert event["ts"] not in delivered_reactions(live.slack)
        note = wait_until(lambda: [n for n in notes_in(live, thread) if "could not reach" in n])
        assert "not answering" in note[0]
        assert len(live.helpdesk.requests_to("ticket/conversation")) == 3
        dead = live.store.outbox_dead_letters()
        assert len(dead) == 1 and "not answering" in dead[0].fields["reason"]
        assert live.store.outbox_pending() == 0
        assert conversations(live.helpdesk, ticket_id) == []


def test_refused_reply_is_dead_lettered_at_once(live: Harness) -> None:
    foreign = live.helpdesk.add_foreign_ticket()
    card = live.slack.add_message("C1", "card", user="UBOT")
    thread = ThreadRef("C1", card["ts"])
    live.store.link_thread(str(foreign), thread)
    event = reply(live.client, live.slack, thread, "Hello")
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack, "x"))
    assert len(live.helpdesk.requests_to("ticket/conversation")) == 1
    note = wait_until(lambda: [n for n in notes_in(live, thread) if "could not reach" in n])
    assert "belongs to another account" in note[0]


# --- crashes and several workers ------------------------------------------------------


def test_worker_killed_mid_delivery_and_restarted_delivers_once(
    idle: Harness, tmp_path: Path, redis_url: str
) -> None:
    thread = linked_thread(idle)
    ticket_id = ticket_of(idle, thread)
    env = serving_env(idle.slack, idle.helpdesk, redis_url, idle.store.prefix)
    idle.helpdesk.hang_next(1, 1.5, path_contains="ticket/conversation")
    first = BotProcess(["worker"], env, tmp_path, "worker-1")
    try:
        event = reply(idle.client, idle.slack, thread, "Mid-flight")
        wait_until(
            lambda: idle.helpdesk.requests_to("ticket/conversation"),
            timeout=30,
            what=f"the worker's request\n{first.output()}",
        )
        first.kill()  # SIGKILL while the helpdesk is still answering
    finally:
        first.kill()
    wait_until(lambda: conversations(idle.helpdesk, ticket_id), timeout=5)  # it did land
    assert idle.store.outbox_pending() == 1
    second = BotProcess(["worker"], env, tmp_path, "worker-2")
    try:
        wait_until(
            lambda: event["ts"] in delivered_reactions(idle.slack),
            timeout=30,
            what=f"delivery after the restart\n{second.output()}",
        )
        assert "took over entry" in second.output()
        assert second.terminate() == 0  # SIGTERM: a clean stop
    finally:
        second.kill()
    assert conversations(idle.helpdesk, ticket_id) == ["Ada Lovelace: Mid-flight"]
    assert idle.store.outbox_pending() == 0


def test_worker_killed_mid_backfill_leaves_every_earlier_reply_once_in_order(
    idle: Harness, tmp_path: Path, redis_url: str
) -> None:
    """A reaction makes a ticket of a thread with three replies; the worker dies while the
    helpdesk takes the second. The next worker adds the rest once, then a reply written
    while no worker ran."""
    message = idle.slack.add_message(CHANNEL, "Scanner offline")
    thread = ThreadRef(CHANNEL, message["ts"])
    for text in ("one", "two", "three"):
        idle.slack.add_message(CHANNEL, text, user="U2", thread_ts=thread.ts)
    env = serving_env(idle.slack, idle.helpdesk, redis_url, idle.store.prefix)
    idle.slack.hold("reactions.add")  # the first reply's ✅: the worker waits after it
    first = BotProcess(["worker"], env, tmp_path, "worker-1")
    try:
        idle.client.event(reaction_on(message))
        ticket_id = wait_until(lambda: ticket_of_thread(idle, thread), timeout=30)
        wait_until(lambda: conversations(idle.helpdesk, ticket_id), timeout=30)
        idle.helpdesk.hang_next(1, 1.0, path_contains="ticket/conversation")
        idle.slack.release("reactions.add")
        wait_until(lambda: len(idle.helpdesk.requests_to("ticket/conversation")) == 2)
        first.kill()  # SIGKILL while the helpdesk is still taking the second
    finally:
        first.kill()
    wait_until(lambda: len(conversations(idle.helpdesk, ticket_id)) == 2)  # it did land
    reply(idle.client, idle.slack, thread, "four", user="U2")
    second = BotProcess(["worker"], env, tmp_path, "worker-2")
    try:
        wait_until(lambda: _stream_empty(idle), timeout=30, what=f"the rest\n{second.output()}")
        assert second.terminate() == 0
    finally:
        second.kill()
    assert conversations(idle.helpdesk, ticket_id) == [
        f"Grace Hopper: {text}" for text in ("one", "two", "three", "four")
    ]


def ticket_of_thread(live: Harness, thread: ThreadRef) -> int | None:
    found = live.store.ticket_for_thread(thread)
    return None if found is None else int(found)


def test_two_workers_in_parallel_deliver_each_reply_once_in_order(idle: Harness) -> None:
    threads = [linked_thread(idle, subject=f"T{n}") for n in range(4)]
    idle.helpdesk.delay = 0.01
    workers = [start_worker(idle), start_worker(idle)]
    try:
        sent: dict[int, list[str]] = {ticket_of(idle, t): [] for t in threads}
        for n in range(40):
            thread = threads[n % 4]
            text = f"reply {n}"
            reply(idle.client, idle.slack, thread, text)
            sent[ticket_of(idle, thread)].append(f"Ada Lovelace: {text}")
        wait_until(lambda: len(delivered_reactions(idle.slack)) == 40, timeout=30)
        time.sleep(0.3)
        for ticket_id, texts_sent in sent.items():
            assert conversations(idle.helpdesk, ticket_id) == texts_sent
    finally:
        for worker in workers:
            worker.stop()


def test_a_reply_read_by_a_second_worker_waits_for_the_first_ones_delivery(
    idle: Harness,
) -> None:
    """The first reply is in flight in one worker (the helpdesk slow to take it) when
    another worker reads the second: the second reaches the helpdesk after the first."""
    thread = linked_thread(idle)
    ticket_id = ticket_of(idle, thread)
    idle.helpdesk.hang_next(1, 0.8, path_contains="conversation")
    first = start_worker(idle, lanes=1, read_ahead=1)  # holding the first, it reads no more
    second: SyncWorker | None = None
    try:
        reply(idle.client, idle.slack, thread, "first")
        wait_until(lambda: any("conversation" in r.path for r in idle.helpdesk.requests))
        second = start_worker(idle)
        later = reply(idle.client, idle.slack, thread, "second")
        wait_until(lambda: later["ts"] in delivered_reactions(idle.slack), timeout=10)
        assert conversations(idle.helpdesk, ticket_id) == [
            "Ada Lovelace: first",
            "Ada Lovelace: second",
        ]
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()


def test_a_stopping_worker_keeps_its_delivery_under_way_from_being_taken_over(
    idle: Harness,
) -> None:
    """Stopped while the helpdesk takes 2 s over a reply, a worker finishes it (the
    drain); another worker running meanwhile must not take it over and send it again."""
    thread = linked_thread(idle)
    ticket_id = ticket_of(idle, thread)
    idle.helpdesk.hang_next(1, 2.0, path_contains="conversation")
    stopping = start_worker(idle)
    other: SyncWorker | None = None
    try:
        event = reply(idle.client, idle.slack, thread, "Under way")
        wait_until(lambda: any("conversation" in r.path for r in idle.helpdesk.requests))
        stopping.stop_event.set()  # as at SIGTERM: the lanes drain, nothing new is read
        other = start_worker(idle)  # takes over what is idle for claim_idle_ms (1 s)
        stopping.stop()
        wait_until(lambda: event["ts"] in delivered_reactions(idle.slack), timeout=10)
        wait_until(lambda: idle.store.outbox_pending() == 0, timeout=10)
        assert conversations(idle.helpdesk, ticket_id) == ["Ada Lovelace: Under way"]
    finally:
        stopping.stop()
        if other is not None:
            other.stop()


def test_thread_link_survives_a_restart_of_the_bot(
    live: Harness, redis_url: str, redis_prefix: str
) -> None:
    create(live)
    card = live.slack.calls_to("chat.postMessage")[0]
    thread = ThreadRef(card.response["channel"], card.response["ts"])
    ticket_id = int(next(iter(live.helpdesk.tickets)))
    # a new app instance on a new connection to the same Redis, as after a restart
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), redis_prefix)
    app = build_slack_app(live.settings, live.gateway, store, Executors.create())
    server = make_server(
        "127.0.0.1",
        0,
        WebApp(app, SIGNING_SECRET, HealthProbe(store, live.gateway)),
        ThreadingWSGIServer,
        QuietHandler,
    )
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        with SignedClient(
            f"http://127.0.0.1:{server.server_port}/slack/events", SIGNING_SECRET
        ) as client:
            event = reply(client, live.slack, thread, "After the restart")
        wait_until(lambda: event["ts"] in delivered_reactions(live.slack))
        assert conversations(live.helpdesk, ticket_id) == ["Ada Lovelace: After the restart"]
    finally:
        server.shutdown()
        server.server_close()
        store.close()


def test_no_conversations_out_says_so_once_per_thread(live: Harness) -> None:
    caps = live.gateway.capabilities
    live.gateway.capabilities = caps.model_copy(update={"conversations_out": False})  # type: ignore[misc]
    try:
        thread = linked_thread(live)
        for text in ("one", "two", "three"):
            reply(live.client, live.slack, thread, text)
        wait_until(lambda: notes_in(live, thread))
        time.sleep(0.3)
        notes = notes_in(live, thread)
        assert len(notes) == 1 and "does not take replies" in notes[0]
        assert live.helpdesk.requests_to("ticket/conversation") == []
    finally:
        live.gateway.capabilities = caps  # type: ignore[misc]


def test_outbox_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOX_CLAIM_IDLE_MS", "1234")
    monkeypatch.setenv("OUTBOX_LANES", "3")
    settings = OutboxSettings()
    assert settings.claim_idle_ms == 1234 and settings.lanes == 3
    assert 0.5 <= OutboxSettings(backoff_base=1, backoff_cap=60).backoff(1) <= 1.0
    assert OutboxSettings(backoff_base=1, backoff_cap=60).backoff(20) <= 60
