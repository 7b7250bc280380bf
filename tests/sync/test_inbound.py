"""Helpdesk → Slack: the poller, against the fake helpdesk, fake Slack and real Redis.

Each test builds a `Poller` on the harness's gateway and store, with a Desk built
as bot/desk/__init__.py builds it, and calls `poll_once()` directly.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from bot.desk.cards import Click
from bot.gateway import Classic
from bot.slack.forms import Draft, ModalContext
from bot.slack.render import unescape_slack
from bot.store import ThreadRef
from bot.sync.poller import MAX_SECTIONS, SECTION_CHARS, Poller, split_text
from bot.sync.rate import TokenBucket
from tests.support.flows import (
    CHANNEL,
    linked_ticket,
    make_desk,
    make_poller,
    replies,
    shown,
    texts,
    thread_of,
)
from tests.support.harness import Harness


def body(message: dict[str, Any]) -> str:
    return " ".join(b["text"]["text"] for b in message["blocks"] if b["type"] == "section")


def count_in_thread(live: Harness, ticket_id: str, needle: str) -> int:
    return sum(needle in shown(m) for m in replies(live, ticket_id))


def detail_requests(live: Harness, ticket_id: str) -> int:
    return sum(
        r.query.get("ticket_id") == ticket_id for r in live.helpdesk.requests_to("detailed-view")
    )


def slack_errors(live: Harness) -> list[Any]:
    return [c for c in live.slack.calls if c.response is not None and not c.response.get("ok")]


# --- conversations ------------------------------------------------------------------


def test_an_agent_reply_appears_exactly_once(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    poller = make_poller(live)
    live.helpdesk.add_agent_conversation(int(ticket_id), "Have you tried turning it off?")

    first = poller.poll_once()
    second = poller.poll_once()

    assert (first.posted, second.posted) == (1, 0)
    assert count_in_thread(live, ticket_id, "Have you tried turning it off?") == 1
    assert count_in_thread(live, ticket_id, "agent@example.com") == 1
    assert not slack_errors(live)


def test_a_reply_to_a_ticket_created_from_slack_reaches_its_thread(live: Harness) -> None:
    draft = Draft(subject="Printer jam", description="Page 2", category_id="1", priority="high")
    make_desk(live).creation.create(draft, "U1", "V1", ModalContext(channel=CHANNEL))
    [card] = live.slack.calls_to("chat.postMessage")
    ticket_id = next(iter(live.helpdesk.tickets))
    assert thread_of(live, str(ticket_id)).ts == card.response["ts"]
    live.helpdesk.add_agent_conversation(ticket_id, "On my way.")

    make_poller(live).poll_once()

    assert count_in_thread(live, str(ticket_id), "On my way.") == 1


def test_several_replies_arrive_in_order(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    poller = make_poller(live)
    live.helpdesk.add_agent_conversation(int(ticket_id), "first")
    poller.poll_once()
    for text in ("second", "third", "fourth"):
        live.helpdesk.add_agent_conversation(int(ticket_id), text, author="grace@desk")

    report = poller.poll_once()

    assert report.posted == 3
    bodies = [body(m) for m in replies(live, ticket_id)]
    assert bodies == ["first", "second", "third", "fourth"]


def test_an_attachment_is_uploaded_to_the_thread(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    content = b"%PDF-1.4 fake invoice"
    live.helpdesk.add_agent_conversation(
        int(ticket_id), "Invoice attached.", attachment=("invoice.pdf", content)
    )

    report = make_poller(live).poll_once()

    assert (report.posted, report.files) == (1, 1)
    thread = thread_of(live, ticket_id)
    [upload] = live.slack.uploads
    assert upload["content"] == content
    assert upload["filename"] == "invoice.pdf"
    assert (upload["channel_id"], upload["thread_ts"]) == (thread.channel, thread.ts)
    assert "with 1 file" in shown(replies(live, ticket_id)[0])


def test_a_helpdesk_down_while_fetching_a_file_posts_nothing_then_everything_once(
    live: Harness,
) -> None:
    ticket_id = linked_ticket(live)
    live.helpdesk.add_agent_conversation(int(ticket_id), "See log.", attachment=("a.log", b"x"))
    poller = make_poller(live)
    live.helpdesk.fail_next(3, status=503, path_contains="download")  # the gateway's 3 tries

    failed = poller.poll_once()
    assert failed.errors == 1 and replies(live, ticket_id) == []

    poller.poll_once()
    assert count_in_thread(live, ticket_id, "See log.") == 1
    assert len(live.slack.uploads) == 1


def test_a_file_slack_refuses_gets_a_note_and_the_text_is_not_repeated(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    live.helpdesk.add_agent_conversation(int(ticket_id), "Photo.", attachment=("p.png", b"png"))
    poller = make_poller(live)
    live.slack.fail_next("files.getUploadURLExternal", "missing_scope")

    poller.poll_once()
    poller.poll_once()

    assert count_in_thread(live, ticket_id, "Photo.") == 1
    assert count_in_thread(live, ticket_id, "Slack refused the file p.png (missing_scope)") == 1
    assert live.slack.uploads == []


def test_the_bots_own_conversation_is_not_echoed(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    mine = "Ada Lovelace: the printer is on floor 3"
    live.store.remember_sent(ticket_id, mine)
    live.helpdesk.add_agent_conversation(int(ticket_id), mine, author="bot@example.com")
    live.helpdesk.add_agent_conversation(int(ticket_id), "Thanks, coming.")

    report = make_poller(live).poll_once()

    assert (report.echoes, report.posted) == (1, 1)
    assert count_in_thread(live, ticket_id, "floor 3") == 0
    assert count_in_thread(live, ticket_id, "Thanks, coming.") == 1


def test_conversations_from_before_the_poller_are_not_new(live: Harness) -> None:
    ticket_id = linked_ticket(live, legacy=True)
    live.helpdesk.add_agent_conversation(int(ticket_id), "old news")
    poller = make_poller(live)

    first = poller.poll_once()
    live.helpdesk.add_agent_conversation(int(ticket_id), "fresh news")
    second = poller.poll_once()

    assert (first.baselined, first.posted, second.posted) == (1, 0, 1)
    assert count_in_thread(live, ticket_id, "old news") == 0
    assert count_in_thread(live, ticket_id, "fresh news") == 1
    assert second.changes == 0


def test_a_slack_failure_is_retried_next_time_not_lost(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    live.helpdesk.add_agent_conversation(int(ticket_id), "one")
    live.helpdesk.add_agent_conversation(int(ticket_id), "two")
    poller = make_poller(live)
    live.slack.fail_next("chat.postMessage", "internal_error")

    assert poller.poll_once().errors == 1
    poller.poll_once()

    assert [body(m) for m in replies(live, ticket_id)] == ["one", "two"]


# --- hostile and long texts ---------------------------------------------------------------


def test_hostile_helpdesk_text_is_escaped_and_fits_slack(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    hostile = "<!here> <!channel> <script>alert(1)</script> <@U1> & <https://evil|click> "
    body = hostile + "x" * 10_000
    live.helpdesk.add_agent_conversation(int(ticket_id), body, author="<!channel> Mallory")

    make_poller(live).poll_once()

    posted = replies(live, ticket_id)
    assert posted and not slack_errors(live)
    for message in posted:
        raw = shown(message)
        for ping in ("<!here>", "<!channel>", "<@U1>", "<script>", "<https://"):
            assert ping not in raw
    assert "&lt;!here&gt;" in shown(posted[0])
    assert "&lt;!channel&gt; Mallory" in shown(posted[0])
    sections = [b["text"]["text"] for m in posted for b in m["blocks"] if b["type"] == "section"]
    assert "".join(unescape_slack(s) for s in sections) == body.strip()


def test_worst_case_escaping_is_split_over_several_messages(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    body = "<" * 10_000  # 40 000 characters once escaped
    live.helpdesk.add_agent_conversation(int(ticket_id), body)

    make_poller(live).poll_once()

    posted = replies(live, ticket_id)
    assert len(posted) > 1 and not slack_errors(live)
    assert "(part 1 of" in shown(posted[0])
    sections = [b["text"]["text"] for m in posted for b in m["blocks"] if b["type"] == "section"]
    assert all(len(s) <= 3000 for s in sections)
    assert "".join(unescape_slack(s) for s in sections) == body


def test_a_huge_text_is_cut_with_a_note(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    body = "word " * 40_000  # 200 000 characters
    live.helpdesk.add_agent_conversation(int(ticket_id), body)

    make_poller(live).poll_once()

    posted = replies(live, ticket_id)
    assert not slack_errors(live)
    sections = [b for m in posted for b in m["blocks"] if b["type"] == "section"]
    assert len(sections) == MAX_SECTIONS
    assert "Cut here" in shown(posted[-1]) and f"ticket #{ticket_id}" in shown(posted[-1])


def test_split_text_keeps_every_character_and_cuts_at_spaces() -> None:
    text = "alpha beta & gamma " * 500
    pieces = split_text(text, 100)
    assert "".join(pieces) == text
    assert all(len(p.replace("&", "&amp;")) <= 100 for p in pieces)
    assert all(p.endswith(" ") for p in pieces[:-1])
    assert split_text("😀" * 10, 4) == ["😀😀"] * 5  # UTF-16 units, as Slack counts
    assert SECTION_CHARS <= 3000


# --- status and priority ---------------------------------------------------------------


def test_closed_in_the_helpdesk_updates_the_card_and_says_so_once(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    poller = make_poller(live)
    live.helpdesk.set_status(int(ticket_id), 3)

    report = poller.poll_once()
    poller.poll_once()

    assert report.changes == 1
    thread = thread_of(live, ticket_id)
    [update] = live.slack.calls_to("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (thread.channel, thread.ts)
    assert "Closed" in texts(update.args["blocks"]) and "Reopen" in texts(update.args["blocks"])
    assert count_in_thread(live, ticket_id, "Closed in the helpdesk.") == 1


def test_priority_changed_in_the_helpdesk(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    poller = make_poller(live)
    live.helpdesk.tickets[int(ticket_id)]["priority"] = "3"

    poller.poll_once()
    poller.poll_once()

    assert count_in_thread(live, ticket_id, "Priority set to High in the helpdesk.") == 1
    [update] = live.slack.calls_to("chat.update")
    assert "High" in texts(update.args["blocks"])


def test_a_change_made_with_the_cards_buttons_is_not_announced_again(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    desk = make_desk(live)
    thread = thread_of(live, ticket_id)
    desk.cards.change_status(True, Click("U1", thread, lambda **_: None, "1.1"))
    desk.cards.change_priority(Classic.LOW.id, Click("U1", thread, lambda **_: None, "1.2"))
    updates = len(live.slack.calls_to("chat.update"))

    report = make_poller(live).poll_once()

    assert report.changes == 0
    assert len(live.slack.calls_to("chat.update")) == updates
    assert count_in_thread(live, ticket_id, "in the helpdesk") == 0
    assert count_in_thread(live, ticket_id, "closed the ticket") == 1


# --- scheduling, errors, several pollers ----------------------------------------------------


def test_closed_tickets_are_polled_less_often_then_dropped(live: Harness) -> None:
    open_id, closed_id = linked_ticket(live, "open"), linked_ticket(live, "closed")
    live.helpdesk.set_status(int(closed_id), 3)
    poller = make_poller(live)
    poller.poll_once()  # sees it closed
    before = detail_requests(live, closed_id), detail_requests(live, open_id)

    for _ in range(10):
        poller.poll_once()

    assert detail_requests(live, open_id) - before[1] == 10
    assert detail_requests(live, closed_id) - before[0] == 1

    desk = make_desk(live)
    later = Poller(
        live.settings,
        live.gateway,
        live.store,
        desk.cards.slack,
        desk.cards,
        clock=lambda: time.time() + 8e5,
    )
    later.owner = poller.owner  # the same poller, 9+ days on
    report = later.poll_once()
    assert report.retired == 1 and closed_id not in live.store.tickets_to_poll()


def test_reopening_with_the_card_brings_a_retired_ticket_back(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    live.helpdesk.set_status(int(ticket_id), 3)
    make_poller(live).poll_once()
    live.store.retire_from_polling(ticket_id)
    desk = make_desk(live)
    click = Click("U1", thread_of(live, ticket_id), lambda **_: None, "1.1")
    desk.cards.change_status(False, click)
    assert ticket_id in live.store.tickets_to_poll()


def test_a_helpdesk_error_on_one_ticket_does_not_stop_the_others(live: Harness) -> None:
    good = [linked_ticket(live, f"ticket {n}") for n in range(3)]
    live.store.link_thread("999", ThreadRef(CHANNEL, thread_of(live, good[0]).ts))  # gone
    for ticket_id in good:
        live.helpdesk.add_agent_conversation(int(ticket_id), f"reply on {ticket_id}")

    report = make_poller(live).poll_once()

    assert report.errors == 1 and report.posted == 3
    for ticket_id in good:
        assert count_in_thread(live, ticket_id, f"reply on {ticket_id}") == 1


def test_two_pollers_at_once_post_each_conversation_once(live: Harness) -> None:
    tickets = [linked_ticket(live, f"ticket {n}") for n in range(6)]
    for ticket_id in tickets:
        for n in range(3):
            live.helpdesk.add_agent_conversation(int(ticket_id), f"reply {n} on {ticket_id}")
    live.helpdesk.delay = 0.02
    pollers = [make_poller(live), make_poller(live)]
    start = threading.Barrier(2)
    reports: list[Any] = []

    def run(poller: Poller) -> None:
        start.wait()
        for _ in range(3):
            reports.append(poller.poll_once())

    threads = [threading.Thread(target=run, args=(p,)) for p in pollers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sum(r.posted for r in reports) == 18
    assert sum(r.leased_elsewhere for r in reports) > 0
    for ticket_id in tickets:
        for n in range(3):
            assert count_in_thread(live, ticket_id, f"reply {n} on {ticket_id}") == 1


def test_a_lease_held_elsewhere_is_left_alone(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    live.helpdesk.add_agent_conversation(int(ticket_id), "hello")
    assert live.store.take_poll_lease(ticket_id, "another-process", 60_000)

    report = make_poller(live).poll_once()

    assert (report.leased_elsewhere, report.posted) == (1, 0)
    assert detail_requests(live, ticket_id) == 1  # linked_ticket's own read
    assert not live.store.advance_poll_cursor(ticket_id, "not-the-holder", "5")


def test_run_forever_stops_when_the_event_is_set(live: Harness) -> None:
    ticket_id = linked_ticket(live)
    live.helpdesk.add_agent_conversation(int(ticket_id), "while running")
    poller = make_poller(live, TICKET_SYNC_INTERVAL=1)
    stop = threading.Event()
    thread = threading.Thread(target=poller.run_forever, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while count_in_thread(live, ticket_id, "while running") == 0:
        assert time.monotonic() < deadline, "the poller never posted"
        time.sleep(0.02)

    stop.set()
    thread.join(timeout=2)

    assert not thread.is_alive()
    assert count_in_thread(live, ticket_id, "while running") == 1


# --- the rate -----------------------------------------------------------------------------


def test_the_token_bucket_never_exceeds_its_rate() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    bucket = TokenBucket(50, clock=lambda: now[0], sleep=sleep)
    for _ in range(101):
        bucket.acquire()
    assert now[0] == pytest.approx(2.0)


def test_polling_respects_the_configured_rate(live: Harness) -> None:
    for n in range(10):
        linked_ticket(live, f"ticket {n}")
    poller = make_poller(live, TICKET_SYNC_RATE=20)
    time.sleep(0.1)  # the bucket holds one token at most

    started = time.monotonic()
    report = poller.poll_once()
    elapsed = time.monotonic() - started

    assert report.requests == 10
    assert elapsed >= 9 / 20 * 0.95
