"""Scale: 2 `serve --no-worker` + 2 `worker` processes on one Redis, every reply once.

Real subprocesses (`python -m bot …`) against FakeSlack, FakeEpixel and the test Redis
under a unique REDIS_PREFIX. Replies go to both servers, and some events are delivered
to both (as Slack retries may land on any process) or under a second event id.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from bot.store import Store, ThreadRef
from tests.support.fakes.epixel import FakeEpixel
from tests.support.fakes.slack import FakeSlack
from tests.support.harness import BOT_TOKEN, SIGNING_SECRET
from tests.support.outbound import (
    conversations,
    delivered_reactions,
    message_event,
    serving_env,
    wait_until,
)
from tests.support.processes import BotProcess, free_port, wait_until_healthy
from tests.support.slack_requests import SignedClient

REPLIES = 60
TICKETS = 5


@pytest.fixture()
def fakes() -> Iterator[tuple[FakeSlack, FakeEpixel]]:
    with FakeSlack(bot_token=BOT_TOKEN) as slack, FakeEpixel() as helpdesk:
        helpdesk.delay = 0.01
        yield slack, helpdesk


def test_two_servers_and_two_workers_deliver_every_reply_exactly_once(
    fakes: tuple[FakeSlack, FakeEpixel], redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    slack, helpdesk = fakes
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), redis_prefix)
    threads = []
    for n in range(TICKETS):
        ticket_id = helpdesk.add_ticket(f"Ticket {n}")
        card = slack.add_message("C1", f"card {n}", user="UBOT")
        threads.append((ticket_id, ThreadRef("C1", card["ts"])))
        store.link_thread(str(ticket_id), threads[-1][1])
    env = serving_env(slack, helpdesk, redis_url, redis_prefix, LOG_LEVEL="WARNING")
    ports = [free_port(), free_port()]
    processes = [
        BotProcess(["serve", "--no-worker", "--port", str(p)], env, tmp_path, f"serve-{p}")
        for p in ports
    ] + [BotProcess(["worker"], env, tmp_path, f"worker-{n}") for n in range(2)]
    clients = [SignedClient(f"http://127.0.0.1:{p}/slack/events", SIGNING_SECRET) for p in ports]
    try:
        for port, process in zip(ports, processes, strict=False):
            wait_until_healthy(process, f"http://127.0.0.1:{port}/healthz")
        expected: dict[int, list[str]] = {ticket_id: [] for ticket_id, _ in threads}
        events = []
        for n in range(REPLIES):
            ticket_id, thread = threads[n % TICKETS]
            events.append((n, message_event(slack, thread, f"reply {n}")))
            expected[ticket_id].append(f"Ada Lovelace: reply {n}")

        def send(numbered: tuple[int, dict[str, object]]) -> None:
            n, event = numbered
            event_id = f"Ev{n:04d}"
            first, other = clients[n % 2], clients[(n + 1) % 2]
            assert first.event(event, event_id=event_id).status_code == 200
            if n % 3 == 0:  # Slack's retry of the same event, landing on the other process
                assert other.event(event, event_id=event_id, retry_num=1).status_code == 200
            if n % 5 == 0:  # the same message under a second event id
                assert other.event(event, event_id=f"EvX{n:04d}").status_code == 200

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(send, events))
        wait_until(
            lambda: len(delivered_reactions(slack)) == REPLIES,
            timeout=60,
            what="every reply's ✅\n" + "\n".join(p.output()[-2000:] for p in processes),
        )
        time.sleep(0.5)
        for ticket_id, texts in expected.items():
            got = conversations(helpdesk, ticket_id)
            assert sorted(got) == sorted(texts), ticket_id  # none lost, none doubled
        assert store.outbox_pending() == 0 and store.outbox_dead_letters() == []
        consumers = store.redis.xinfo_consumers(store.outbox_stream(), "delivery")
        assert len(consumers) == 2  # both workers read through the group
    finally:
        for client in clients:
            client.close()
        for process in processes:
            process.kill()
        store.close()
