"""Agent reply in django-helpdesk → message in the ticket's Slack thread, with webhooks on.

Run by hand, never as a test:

    python bench/dh_webhook_latency.py [--rounds 100] [--tickets 5] [--interval 60]

Starts a real `redis-server` on a free loopback port and the real django-helpdesk of
tests/servers/django_helpdesk (or uses TEST_DJANGO_HELPDESK_URL/_TOKEN when set), a
FakeSlack, and the bot in this process as `serve` runs it: the WSGI app (Slack and
`POST /hooks/django-helpdesk/<secret>`) on a threaded server, and the sync worker with its
outbox lanes and its poll loop, TICKET_SYNC_INTERVAL=`--interval` (60: the poll cannot be
what delivers). django-helpdesk's followup webhook is pointed at the bot.

Each round an agent posts a public followup through the helpdesk's API on one of
`--tickets` linked tickets (round robin), and the time from just before that request to
the FakeSlack's arrival of the chat.postMessage carrying its text is one sample. Prints
p50, p90, p99 and max against the goal (p99 ≤ 2 s), and how many replies the poll (not
the webhook) delivered.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from wsgiref.simple_server import make_server

import redis
from slack_bolt.adapter.wsgi import SlackRequestHandler

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.poll_cycle import start_redis  # noqa: E402
from bot.desk import build_desk  # noqa: E402
from bot.desk.cards import ticket_state  # noqa: E402
from bot.gateway import NewTicket  # noqa: E402
from bot.runtime.after_ack import AfterAck  # noqa: E402
from bot.runtime.backends import build_gateway  # noqa: E402
from bot.runtime.settings import load_settings  # noqa: E402
from bot.runtime.web import WebApp  # noqa: E402
from bot.runtime.wiring import build_slack_app  # noqa: E402
from bot.slack.client import build_client  # noqa: E402
from bot.store import Store, ThreadRef  # noqa: E402
from bot.sync.webhooks import WebhookReceiver  # noqa: E402
from bot.sync.worker import SyncWorker  # noqa: E402
from tests.support.fakes.slack import FakeSlack  # noqa: E402
from tests.support.harness import QuietHandler, ThreadingWSGIServer  # noqa: E402
from tests.support.server_django_helpdesk import Agent, DjangoHelpdesk  # noqa: E402

BOT_TOKEN = "xoxb-bench"
SECRET = "bench-webhook-secret-0123456789"
CHANNEL = "C1"
GOAL_P99 = 2.0


def the_helpdesk() -> tuple[DjangoHelpdesk, bool]:
    """The running server from the environment, else one started here (True: stop it)."""
    from tests.servers.django_helpdesk import server

    given = os.environ.get("TEST_DJANGO_HELPDESK_URL")
    if given:
        token = os.environ.get("TEST_DJANGO_HELPDESK_TOKEN", "agent-token-loopback")
        return DjangoHelpdesk(url=given.rstrip("/") + "/", token=token, queues={1: "IT"}), False
    was_running = server.running() is not None
    started = server.start()
    queues = {int(str(q["id"])): str(q["title"]) for q in started.queues}
    return DjangoHelpdesk(url=started.url, token=started.token, queues=queues), not was_running


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--tickets", type=int, default=5)
    parser.add_argument("--interval", type=int, default=60)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    helpdesk, stop_helpdesk = the_helpdesk()
    workdir = tempfile.mkdtemp(prefix="dh-bench-redis-")
    redis_proc, redis_url = start_redis(workdir)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    agent = Agent(helpdesk)
    try:
        with FakeSlack(bot_token=BOT_TOKEN) as slack:
            os.environ["DJANGO_HELPDESK_QUEUES"] = helpdesk.queues_setting()
            settings = load_settings(
                SLACK_BOT_TOKEN=BOT_TOKEN,
                SLACK_SIGNING_SECRET="bench-signing-secret",
                SLACK_API_URL=slack.api_url,
                TICKET_BACKEND="django-helpdesk",
                TICKET_API_URL=helpdesk.api_url,
                TICKET_API_TOKEN=helpdesk.token,
                TICKET_SYNC_INTERVAL=args.interval,
                TICKET_WEBHOOK_SECRET=SECRET,
                REDIS_PREFIX=prefix,
            )
            gateway = build_gateway(settings)
            store = Store(redis.Redis.from_url(redis_url, decode_responses=True), prefix)
            wsgi = WebApp(
                SlackRequestHandler(build_slack_app(settings, gateway, store, AfterAck())),
                store,
                gateway,
                WebhookReceiver.from_settings(settings, gateway, store),
            )
            http = make_server("127.0.0.1", 0, wsgi, ThreadingWSGIServer, QuietHandler)
            threading.Thread(target=http.serve_forever, daemon=True).start()
            worker = SyncWorker(settings, gateway, store, poll=True).start()
            client = build_client(BOT_TOKEN, slack.api_url)
            cards = build_desk(gateway, store, client, AfterAck()).cards

            ticket_ids = []
            for n in range(args.tickets):
                ticket = gateway.create_ticket(
                    NewTicket(subject=f"Bench {prefix} {n}", description="latency bench")
                )
                card = client.chat_postMessage(channel=CHANNEL, **cards.render(ticket))
                store.link_thread(ticket.id, ThreadRef(card["channel"], card["ts"]))
                store.start_sync(ticket.id, *ticket_state(ticket))
                ticket_ids.append(ticket.id)
            hook = f"http://127.0.0.1:{http.server_port}/hooks/django-helpdesk/{SECRET}"
            helpdesk.set_webhooks(followup=hook)
            time.sleep(1.0)  # the poll loop's first cycle (a baseline) is done

            samples: list[float] = []
            by_poll = 0
            for round_number in range(args.rounds):
                ticket_id = ticket_ids[round_number % len(ticket_ids)]
                text = f"reply {round_number} {uuid.uuid4().hex[:8]}"
                seen = len(slack.calls_to("chat.postMessage"))
                started = time.monotonic()
                agent.followup(ticket_id, text, public=True)
                call = wait_for_post(slack, text, seen, timeout=args.interval * 2)
                samples.append(call.time - started)
                if call.time - started > args.interval / 2:
                    by_poll += 1
            helpdesk.set_webhooks()
            worker.stop()
            http.shutdown()
            gateway.close()
    finally:
        agent.close()
        redis_proc.terminate()
        if stop_helpdesk:
            from tests.servers.django_helpdesk import server

            server.stop()

    p50, p90, p99 = (percentile(samples, s) for s in (0.5, 0.9, 0.99))
    print(
        f"agent reply → Slack thread, webhooks on, TICKET_SYNC_INTERVAL={args.interval}, "
        f"{args.rounds} replies over {args.tickets} tickets"
    )
    print(
        f"  p50 {p50 * 1000:.0f} ms  p90 {p90 * 1000:.0f} ms  p99 {p99 * 1000:.0f} ms  "
        f"max {max(samples) * 1000:.0f} ms  mean {statistics.mean(samples) * 1000:.0f} ms"
    )
    print(f"  delivered late (by the poll, not the webhook): {by_poll}")
    print(f"  goal p99 ≤ {GOAL_P99:.0f} s: {'met' if p99 <= GOAL_P99 else 'NOT met'}")
    return 0


def wait_for_post(slack: FakeSlack, text: str, seen: int, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for call in slack.calls_to("chat.postMessage")[seen:]:
            if text in str(call.args.get("text", "")) or text in str(call.args.get("blocks", "")):
                return call
        time.sleep(0.002)
    raise SystemExit(f"no post for {text!r} within {timeout} s")


if __name__ == "__main__":
    sys.exit(main())
