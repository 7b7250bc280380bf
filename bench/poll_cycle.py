"""One poll cycle over many linked tickets, at a few helpdesk rate caps.

Run by hand, never as a test:

    python bench/poll_cycle.py [--tickets 1000] [--caps 100,250,1000] [--delay 0.02]
                               [--replies 0.1] [--workers 8]

Starts a real `redis-server` on a free loopback port, and in a child process a
FakeEpixel answering every request after `--delay` seconds plus a FakeSlack
(tests/support/fakes), so that the fakes do not share the poller's GIL. Seeds
`--tickets` tickets with two conversations each. Per cap, under a fresh Redis
prefix: links every ticket as if its card had been posted before the poller
existed, runs one cycle (first sight: nothing posted), adds an agent reply to
a `--replies` share of the tickets, and times one more cycle: the measured one.

Prints per cap: wall time of the cycle, helpdesk requests received, the
achieved rate (requests / wall time) and the most requests the helpdesk saw in
any 1-second window, against the cap; conversations posted into Slack.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from http.server import BaseHTTPRequestHandler
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fakes_process import FakesProcess, serve_commands  # noqa: E402
from bot.desk import build_desk  # noqa: E402
from bot.runtime.after_ack import AfterAck  # noqa: E402
from bot.runtime.backends import build_gateway  # noqa: E402
from bot.runtime.settings import load_settings  # noqa: E402
from bot.slack.client import build_client  # noqa: E402
from bot.store import Store, ThreadRef  # noqa: E402
from bot.sync.poller import Poller, PollReport  # noqa: E402
from tests.support.fakes.epixel import FakeEpixel  # noqa: E402
from tests.support.fakes.slack import FakeSlack  # noqa: E402

HOST = "127.0.0.1"
BOT_TOKEN = "xoxb-bench"
CHANNEL = "C1"
GOAL_SECONDS = 5.0


# --- the fakes, in a child process ------------------------------------------------------


class TimedEpixel(FakeEpixel):
    """FakeEpixel that also notes when each request arrived, and on which path."""

    def reset(self) -> None:
        super().reset()
        self.arrivals: list[tuple[float, str]] = []

    def serve(self, handler: BaseHTTPRequestHandler) -> Any:
        with self._lock:
            self.arrivals.append((time.time(), urlsplit(handler.path).path))
        return super().serve(handler)


def run_fakes(conn: Connection, tickets: int, delay: float) -> None:
    """The child: serve the fakes, answer the parent's commands until "stop"."""
    with TimedEpixel() as helpdesk, FakeSlack(bot_token=BOT_TOKEN) as slack:
        ids = [helpdesk.add_ticket(f"Ticket {n}", tags=[1]) for n in range(tickets)]
        for ticket_id in ids:
            helpdesk.add_agent_conversation(ticket_id, "We are looking into it.")
            helpdesk.add_agent_conversation(ticket_id, "Could you send a photo?")
        helpdesk.delay = delay

        def reply(replied: list[int]) -> None:
            for ticket_id in replied:
                helpdesk.add_agent_conversation(ticket_id, "Fixed: please try again.")

        def arrivals(_: None) -> list[tuple[float, str]]:
            with helpdesk._lock:
                seen = list(helpdesk.arrivals)
                helpdesk.arrivals.clear()
            return seen

        serve_commands(
            conn,
            (helpdesk.base_url, slack.api_url, ids),
            {
                "reply": reply,
                "arrivals": arrivals,
                "posts": lambda _: len(slack.calls_to("chat.postMessage")),
            },
        )


# --- redis-server --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen([*argv, "--dir", workdir], stdout=subprocess.DEVNULL)
    url = f"redis://{HOST}:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc, url
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.05)


# --- one cap ----------------------------------------------------------------------------


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def run_cap(
    cap: float, args: argparse.Namespace, urls: tuple[str, str], ids: list[int], fakes: FakesProcess
) -> dict[str, Any]:
    helpdesk_url, slack_url = urls
    settings = load_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=slack_url,
        TICKET_BACKEND="epixel",
        TICKET_API_URL=helpdesk_url,
        TICKET_API_KEY="test-api-key",
        TICKET_API_USERNAME="bot@example.com",
        TICKET_API_PASSWORD="s3cret-pass",
        TICKET_SYNC_RATE=cap,
    )
    gateway = build_gateway(settings)
    store = Store(redis.Redis.from_url(args.redis_url, decode_responses=True), uuid.uuid4().hex)
    try:
        for n, ticket_id in enumerate(ids):
            store.link_thread(str(ticket_id), ThreadRef(CHANNEL, f"1700000000.{n:06d}"))
        client = build_client(BOT_TOKEN, slack_url)
        desk = build_desk(gateway, store, client, AfterAck())
        poller = Poller(settings, gateway, store, client, desk.cards, workers=args.workers)
        gateway.list_priorities()  # log in before timing
        first = timed(poller)
        replied = ids[: int(len(ids) * args.replies)]
        fakes.ask("reply", replied)
        fakes.ask("arrivals")
        posts_before = fakes.ask("posts")
        time.sleep(1.0 / cap + 0.05)  # let the bucket refill its one token
        measured = timed(poller)
        arrivals = [t for t, _ in fakes.ask("arrivals")]
        posts = fakes.ask("posts") - posts_before
    finally:
        gateway.close()
        store.close()
    return {"cap": cap, "first": first, "cycle": measured, "arrivals": arrivals, "posts": posts}


def timed(poller: Poller) -> tuple[float, PollReport]:
    started = time.perf_counter()
    report = poller.poll_once()
    return time.perf_counter() - started, report


def show(result: dict[str, Any], tickets: int) -> None:
    cap = result["cap"]
    first_seconds, first = result["first"]
    seconds, report = result["cycle"]
    arrivals = result["arrivals"]
    received = len(arrivals)
    peak = max_in_window(arrivals)
    verdict = "met" if seconds <= GOAL_SECONDS else "not met"
    if cap * GOAL_SECONDS < tickets:
        verdict += f", as the cap allows: it needs >= {tickets / GOAL_SECONDS:g} req/s"
    print(f"cap {cap:g} req/s:")
    print(f"  first cycle (nothing new yet): {first_seconds:.2f} s, {first.polled} tickets read")
    print(
        f"  measured cycle: {seconds:.2f} s for {report.polled} of {tickets} tickets "
        f"(goal {tickets} in <= {GOAL_SECONDS:g} s: {verdict}); errors {report.errors}"
    )
    print(
        f"  helpdesk requests received: {received} "
        f"({report.requests} sent by the poller: detailed views + downloads)"
    )
    print(
        f"  achieved rate: {received / seconds:.1f} req/s over the cycle; busiest 1-s window "
        f"{peak} requests at the helpdesk ({peak / cap:.0%} of the cap {cap:g})"
    )
    print(f"  conversations posted: {report.posted} ({result['posts']} chat.postMessage calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--caps", default="100,250,1000")
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--replies", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    workdir = tempfile.mkdtemp(prefix="poll-bench-redis-")
    redis_proc, args.redis_url = start_redis(workdir)
    fakes: FakesProcess | None = None
    try:
        fakes = FakesProcess(run_fakes, args.tickets, args.delay)
        helpdesk_url, slack_url, ids = fakes.hello
        print(
            f"{args.tickets} linked tickets; helpdesk answers after {args.delay * 1000:g} ms; "
            f"{args.workers} workers; {args.replies:.0%} of tickets get a new reply"
        )
        for cap in (float(c) for c in args.caps.split(",")):
            show(run_cap(cap, args, (helpdesk_url, slack_url), ids, fakes), args.tickets)
    finally:
        if fakes is not None:
            fakes.stop()
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
