"""The poller on RT's change feed, against the REAL RT, fake Slack and real Redis: only
changed tickets are read, the feed cursor moves only after a clean cycle, and two pollers
on one Redis post each reply once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from bot.desk.cards import ticket_state
from bot.gateway.models import NewTicket, Requester
from bot.store import ThreadRef
from bot.sync.poller import PollReport
from tests.support.flows import CHANNEL, make_desk, make_poller, replies, shown
from tests.support.harness import Harness, running_bot
from tests.support.server_rt import RtServer, rt_server  # noqa: F401  (the session fixture)


@pytest.fixture
def rt_live(
    rt_server: RtServer,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
) -> Iterator[Harness]:
    with running_bot(redis_url, redis_prefix, outbox=None, helpdesk=rt_server) as harness:
        yield harness
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{redis_prefix}:*"):
        client.delete(key)


@pytest.fixture
def agent(rt_server: RtServer) -> Iterator[httpx.Client]:  # noqa: F811
    with rt_server.client() as client:
        yield client


def linked_rt_ticket(live: Harness, queue: str) -> str:
    """A ticket made in RT with its card posted and linked, as the desk leaves it."""
    queue_id = next(q.id for q in live.gateway.list_categories() if q.name == queue)
    ticket = live.gateway.create_ticket(
        NewTicket(
            subject=f"VPN down {uuid.uuid4().hex[:6]}",
            description="Since Monday",
            category_id=queue_id,
            requester=Requester(name="Ada", email="ada@example.com"),
        )
    )
    desk = make_desk(live)
    posted = desk.cards.slack.chat_postMessage(channel=CHANNEL, **desk.cards.render(ticket))
    live.store.link_thread(ticket.id, ThreadRef(posted["channel"], posted["ts"]))
    live.store.start_sync(ticket.id, *ticket_state(ticket))
    return ticket.id


def correspond(agent: httpx.Client, ticket_id: str, text: str) -> None:
    agent.post(
        f"ticket/{ticket_id}/correspond", json={"Content": text, "ContentType": "text/plain"}
    ).raise_for_status()


def posted_count(live: Harness, ticket_id: str, text: str) -> int:
    return sum(text in shown(m) for m in replies(live, ticket_id))


def test_only_changed_tickets_are_read_and_a_failed_cycle_is_read_again(
    rt_live: Harness,
    agent: httpx.Client,
    rt_server: RtServer,  # noqa: F811
) -> None:
    live = rt_live
    busy, quiet = (linked_rt_ticket(live, rt_server.queue) for _ in range(2))
    poller = make_poller(live)
    first = poller.poll_once()  # no feed cursor yet: every linked ticket once
    assert first.polled == 2
    cursor = live.store.feed_cursor()
    assert cursor is not None

    correspond(agent, busy, "Restart the router")
    live.slack.fail_next("chat.postMessage", "fatal_error")
    failed = poller.poll_once()
    assert (failed.polled, failed.errors, failed.posted) == (1, 1, 0)
    assert live.store.feed_cursor() == cursor  # not past a change that was not posted

    again = poller.poll_once()
    assert (again.polled, again.posted) == (1, 1)
    assert live.store.feed_cursor() != cursor
    assert posted_count(live, busy, "Restart the router") == 1
    assert replies(live, quiet) == []

    idle = poller.poll_once()
    assert (idle.polled, idle.requests) == (0, 1)  # one question to RT, whatever is linked


def test_two_pollers_on_one_redis_post_each_reply_once(
    rt_live: Harness,
    agent: httpx.Client,
    rt_server: RtServer,  # noqa: F811
) -> None:
    live = rt_live
    tickets = [linked_rt_ticket(live, rt_server.queue) for _ in range(3)]
    pollers = [make_poller(live), make_poller(live)]
    pollers[0].poll_once()
    for ticket_id in tickets:
        correspond(agent, ticket_id, f"On it, ticket {ticket_id}")

    def cycle_all() -> list[PollReport]:
        reports: list[PollReport] = []
        threads = [
            threading.Thread(target=lambda p=p: reports.append(p.poll_once())) for p in pollers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return reports

    for _ in range(3):
        cycle_all()
    for ticket_id in tickets:
        assert posted_count(live, ticket_id, f"On it, ticket {ticket_id}") == 1
