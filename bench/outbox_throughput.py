"""Slack → helpdesk throughput of one outbox worker, and the lag at a steady rate.

Run by hand, never as a test:

    python bench/outbox_throughput.py [--backlog 2000] [--rate 100] [--seconds 10]
                                      [--tickets 50] [--helpdesk-delay 0.02] [--lanes 8]

Starts in this process a FakeSlack and a FakeEpixel answering every request
`--helpdesk-delay` seconds late (tests/support/fakes), a `redis-server` on a free port, one
`ticket-bot serve --no-worker` (gunicorn, 2 processes) and one `ticket-bot worker`.

1. Throughput: with the worker stopped, `--backlog` replies are sent to the server
   (so they wait in the outbox); then the worker starts, and the rate is the
   backlog divided by the time from its first to its last helpdesk write.
2. Lag: with the worker running, replies are sent at `--rate` a second for
   `--seconds`; the lag of each is the time from sending its event to the helpdesk
   receiving its conversation (p50, p99, max).

Replies are spread over `--tickets` linked tickets. Every process runs on this machine
and shares its CPUs with the senders and the fakes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.store import Store, ThreadRef  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.support.fakes.epixel import FakeEpixel  # noqa: E402
from tests.support.fakes.slack import FakeSlack  # noqa: E402
from tests.support.harness import BOT_TOKEN, SIGNING_SECRET  # noqa: E402
from tests.support.outbound import BotProcess, bot_env, message_event, wait_for_http  # noqa: E402
from tests.support.slack_requests import SignedClient  # noqa: E402

HOST = "127.0.0.1"
SENDERS = 16
PREFIX = "bench-outbox"


class WriteClock:
    """When the fake helpdesk received each conversation, by its text."""

    def __init__(self, helpdesk: FakeEpixel) -> None:
        self.seen: dict[str, float] = {}
        self._lock = threading.Lock()
        original = helpdesk._add_conversation

        def timed(request: Any, user: str) -> Any:
            reply = original(request, user)
            comment = (request.form.get("comment") or [""])[0]
            with self._lock:
                self.seen.setdefault(comment, time.time())
            return reply

        helpdesk._add_conversation = timed  # type: ignore[method-assign]

    def count(self, prefix: str) -> int:
        with self._lock:
            return sum(1 for text in self.seen if prefix in text)

    def times(self, prefix: str) -> dict[str, float]:
        with self._lock:
            return {t: at for t, at in self.seen.items() if prefix in t}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tickets", type=int, default=50)
    parser.add_argument("--helpdesk-delay", type=float, default=0.02)
    parser.add_argument("--lanes", type=int, default=8)
    args = parser.parse_args()
    ThreadingHTTPServer.request_queue_size = 1024  # see bench/README.md (ack_latency)
    workdir = Path(tempfile.mkdtemp(prefix="outbox-bench-"))
    redis_port = free_port()
    redis_proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(redis_port),
         "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    redis_url = f"redis://{HOST}:{redis_port}/0"
    processes: list[BotProcess] = []
    try:
        with FakeSlack(bot_token=BOT_TOKEN) as slack, FakeEpixel() as helpdesk:
            return run(args, slack, helpdesk, redis_url, workdir, processes)
    finally:
        for process in processes:
            process.kill()
        redis_proc.terminate()
        redis_proc.wait(timeout=10)


def run(
    args: argparse.Namespace,
    slack: FakeSlack,
    helpdesk: FakeEpixel,
    redis_url: str,
    workdir: Path,
    processes: list[BotProcess],
) -> int:
    _wait_for_redis(redis_url)
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True), PREFIX)
    threads = []
    for n in range(args.tickets):
        ticket_id = helpdesk.add_ticket(f"Bench {n}")
        card = slack.add_message("C1", f"card {n}", user="UBOT")
        threads.append(ThreadRef("C1", card["ts"]))
        store.link_thread(str(ticket_id), threads[-1])
    clock = WriteClock(helpdesk)
    helpdesk.delay = args.helpdesk_delay
    env = bot_env(
        slack, helpdesk, redis_url, PREFIX, LOG_LEVEL="WARNING", OUTBOX_LANES=str(args.lanes),
        OUTBOX_BLOCK_MS="1000", OUTBOX_CLAIM_IDLE_MS="30000", OUTBOX_CLAIM_EVERY="5",
    )  # fmt: skip
    port = free_port()
    server = BotProcess(["serve", "--no-worker", "--port", str(port)], env, workdir, "serve")
    processes.append(server)
    wait_for_http(f"http://{HOST}:{port}/healthz", server)
    url = f"http://{HOST}:{port}/slack/events"
    clients = threading.local()

    def send(numbered: tuple[int, str]) -> float:
        n, text = numbered
        if not hasattr(clients, "client"):
            clients.client = SignedClient(url, SIGNING_SECRET, timeout=10)
        event = message_event(slack, threads[n % len(threads)], text)
        sent = time.time()
        response = clients.client.event(event)
        assert response.status_code == 200, response.text
        return sent

    # 1. throughput from a backlog
    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(send, [(n, f"backlog {n}") for n in range(args.backlog)]))
    print(f"backlog of {args.backlog} replies written to the outbox; starting the worker")
    worker = BotProcess(["worker"], env, workdir, "worker")
    processes.append(worker)
    _wait(lambda: clock.count("backlog ") >= args.backlog, 600, worker)
    written = sorted(clock.times("backlog ").values())
    rate = (len(written) - 1) / (written[-1] - written[0])
    print(f"throughput: {rate:.0f} replies/s ({len(written)} in {written[-1] - written[0]:.1f} s)")

    # 2. lag at a steady rate
    total = int(args.rate * args.seconds)
    sent_at: dict[str, float] = {}
    lock = threading.Lock()
    started = time.monotonic()

    def paced(n: int) -> None:
        time.sleep(max(0.0, started + n / args.rate - time.monotonic()))
        text = f"steady {n}"
        at = send((n, text))
        with lock:
            sent_at[f"Ada Lovelace: {text}"] = at

    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(paced, range(total)))
    offered = total / (time.monotonic() - started)
    _wait(lambda: clock.count("steady ") >= total, 120, worker)
    arrived = clock.times("steady ")
    lags = [arrived[text] - at for text, at in sent_at.items()]
    print(
        f"lag at {offered:.0f} replies/s offered ({total} replies): "
        f"p50 {percentile(lags, 50) * 1000:.0f} ms, p99 {percentile(lags, 99) * 1000:.0f} ms, "
        f"max {max(lags) * 1000:.0f} ms"
    )
    doubled = len(helpdesk.requests_to("ticket/conversation")) - args.backlog - total
    print(f"conversations sent more than once: {max(0, doubled)}")
    goal = rate >= 100 and percentile(lags, 99) <= 1.0
    print("goal (>= 100 replies/s, lag p99 <= 1 s):", "met" if goal else "NOT met")
    return 0


def _wait(check: Any, timeout: float, process: BotProcess) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline or process.proc.poll() is not None:
            raise SystemExit(f"gave up waiting:\n{process.output()[-3000:]}")
        time.sleep(0.05)


def _wait_for_redis(url: str) -> None:
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


if __name__ == "__main__":
    sys.exit(main())
