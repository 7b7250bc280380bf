"""HTTP requests per poll cycle against a REAL Request Tracker with many linked tickets:
the change feed (one transactions query a cycle) against per-ticket polling.

Run by hand, as root on the machine of tests/servers/rt (the tickets are made with RT's
Perl API, bench/rt_seed.pl), never as a test:

    python bench/rt_change_feed.py [--tickets 1000] [--changes 10] [--skip-per-ticket]

Uses the RT of TEST_RT_URL/TEST_RT_TOKEN, else starts one (tests/servers/rt/setup.sh), and
the redis-server of TEST_REDIS_URL, else starts one. A FakeSlack takes what is posted.

Steps: make `--tickets` tickets in RT, link each to a thread as the desk leaves a linked
ticket (state recorded, the feed cursor at RT's current end), then count the HTTP requests
the RT gateway sends in: an idle cycle; a cycle after an agent replied on `--changes`
tickets; another idle cycle; and (unless skipped) one cycle of per-ticket polling over the
same tickets, for comparison.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.desk import Desk, build_desk  # noqa: E402
from bot.gateway.rt import RtGateway, RtSettings  # noqa: E402
from bot.runtime.executors import Executors  # noqa: E402
from bot.runtime.settings import load_settings  # noqa: E402
from bot.slack.client import build_client  # noqa: E402
from bot.store import Store, ThreadRef  # noqa: E402
from bot.sync.poller import Poller, PollReport  # noqa: E402
from tests.support.fakes.slack import FakeSlack  # noqa: E402
from tests.support.server_rt import RtServer, running_rt  # noqa: E402

BOT_TOKEN = "xoxb-bench"
CHANNEL = "C1"
RT_LIB = "/usr/share/request-tracker5/lib"


class CountingTransport(httpx.HTTPTransport):
    """Counts the requests that leave the gateway, by path."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.paths.append(f"{request.method} {request.url.path}")
        return super().handle_request(request)

    def take(self) -> list[str]:
        with self.lock:
            taken, self.paths = self.paths, []
        return taken


@contextmanager
def redis_url() -> Iterator[str]:
    given = os.environ.get("TEST_REDIS_URL")
    if given:
        yield given
        return
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed and TEST_REDIS_URL is unset")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def seed(rt: RtServer, count: int) -> list[str]:
    started = time.monotonic()
    done = subprocess.run(
        [
            "perl",
            f"-I{RT_LIB}",
            str(ROOT / "bench" / "rt_seed.pl"),
            str(count),
            rt.queue,
            "bench-requester@example.com",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ids = done.stdout.split()
    print(f"made {len(ids)} tickets in RT in {time.monotonic() - started:.1f} s (RT's Perl API)")
    return ids


def link_all(store: Store, gateway: RtGateway, desk: Desk, ids: list[str]) -> None:
    """As the desk leaves a ticket it linked: a card, sync state, nothing new yet."""
    status = next(s for s in gateway.capabilities.statuses if s.id == "new")
    priority = gateway.list_priorities()[0]  # RT's default priority 0
    for ticket_id in ids:
        card = desk.cards.slack.chat_postMessage(
            channel=CHANNEL, text=f"card of ticket {ticket_id}"
        )
        store.link_thread(ticket_id, ThreadRef(CHANNEL, card["ts"]))
        store.start_sync(ticket_id, status.id, priority.id, status.is_closed)


def cycle(name: str, poller: Poller, counter: CountingTransport) -> tuple[PollReport, int]:
    counter.take()
    started = time.monotonic()
    report = poller.poll_once()
    seconds = time.monotonic() - started
    paths = counter.take()
    kinds: dict[str, int] = {}
    for path in paths:
        kind = path.split("/REST/2.0/", 1)[-1].split("/")[0].rstrip("0123456789")
        kinds[kind] = kinds.get(kind, 0) + 1
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items()))
    print(
        f"{name:<34} {len(paths):>6} requests  {seconds:7.2f} s  tickets read {report.polled:>5}"
        f"  posted {report.posted:>3}  ({detail})"
    )
    return report, len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--skip-per-ticket", action="store_true")
    args = parser.parse_args()

    with running_rt() as rt, redis_url() as url, FakeSlack(bot_token=BOT_TOKEN) as slack:
        settings = load_settings(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_API_URL=slack.api_url,
            TICKET_BACKEND="rt",
            TICKET_API_URL=rt.api_url,
            TICKET_API_TOKEN=rt.token,
            TICKET_SYNC_RATE=1000,
        )
        counter = CountingTransport()
        gateway = RtGateway(rt.api_url, rt.token, settings=RtSettings(), transport=counter)
        store = Store(
            redis.Redis.from_url(url, decode_responses=True), f"bench-{uuid.uuid4().hex[:8]}"
        )
        client = build_client(BOT_TOKEN, slack.api_url)
        desk = build_desk(gateway, store, client, Executors.create().defer)
        ids = seed(rt, args.tickets)
        link_all(store, gateway, desk, ids)
        cursor, _ = gateway.changes_since(None)
        store.advance_feed_cursor(None, cursor)
        poller = Poller(settings, gateway, store, client, desk.cards)
        print(f"{len(ids)} linked tickets; RT {rt.url}")

        cycle("idle cycle (change feed)", poller, counter)
        changed = random.sample(ids, args.changes)
        with rt.client() as agent:
            for ticket_id in changed:
                agent.post(
                    f"ticket/{ticket_id}/correspond",
                    json={"Content": f"agent reply on {ticket_id}", "ContentType": "text/plain"},
                ).raise_for_status()
        cycle(f"cycle after {args.changes} agent replies", poller, counter)
        cycle("idle cycle again", poller, counter)

        if not args.skip_per_ticket:
            caps = gateway.capabilities.model_copy(update={"change_feed": False})
            gateway.capabilities = caps
            cycle(
                "per-ticket polling, one cycle",
                Poller(settings, gateway, store, client, desk.cards),
                counter,
            )
        gateway.close()
        store.close()


if __name__ == "__main__":
    main()
