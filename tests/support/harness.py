"""The whole bot running for real: Bolt app over HTTP, fake Slack, fake helpdesk, real Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import redis

from bot.gateway import TicketGateway
from bot.runtime.backends import build_gateway
from bot.runtime.executors import Executors
from bot.runtime.health import HealthProbe
from bot.runtime.settings import Settings, load_settings
from bot.runtime.web import WebApp
from bot.runtime.wiring import build_slack_app
from bot.store import Store
from bot.sync.webhooks import WebhookReceiver
from bot.sync.worker import OutboxSettings, SyncWorker
from tests.support.fakes.epixel import FakeEpixel
from tests.support.fakes.slack import FakeSlack
from tests.support.slack_requests import SignedClient

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
#: the outbox worker's timings in tests: quick retries, quick take-over of a dead worker's entries
TEST_OUTBOX = OutboxSettings(
    lanes=4,
    block_ms=100,
    claim_idle_ms=1000,
    claim_every=0.2,
    backoff_base=0.05,
    backoff_cap=0.4,
    max_attempts=8,
)


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128  # Slack sends bursts; the default backlog of 5 resets them


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Harness:
    def __init__(
        self,
        slack: FakeSlack,
        desk: Any,
        store: Store,
        settings: Settings,
        gateway: TicketGateway,
        url: str,
        health: HealthProbe,
    ) -> None:
        self.slack = slack
        self.helpdesk = desk
        self.store = store
        self.settings = settings
        self.gateway = gateway
        self.url = url
        self.health = health
        self.client = SignedClient(
            url + "/slack/events", SIGNING_SECRET, response_url=slack.new_response_url()
        )


class HelpdeskFake(Protocol):
    """What the harness needs of a fake helpdesk (FakeEpixel and the other backends' fakes)."""

    def start(self) -> Any: ...

    def stop(self) -> None: ...

    def bot_settings(self) -> dict[str, str]:
        """TICKET_BACKEND, TICKET_API_URL and the credentials that reach this fake."""
        ...


def test_settings(slack: FakeSlack, helpdesk: HelpdeskFake, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        # a requester's direct messages go out at once unless a test waits for a burst
        "TICKET_DM_WINDOW": 0,
        **helpdesk.bot_settings(),
    }
    values.update(extra)
    return load_settings(**values)


@contextmanager
def closing_fake(fake: HelpdeskFake) -> Iterator[None]:
    try:
        yield
    finally:
        fake.stop()


@contextmanager
def running_bot(
    redis_url: str,
    prefix: str,
    outbox: OutboxSettings | None = TEST_OUTBOX,
    helpdesk: HelpdeskFake | None = None,
    **extra: Any,
) -> Iterator[Harness]:
    """`outbox`: the in-process outbox worker's timings, or None to run none;
    `helpdesk`: a fake helpdesk, not started yet (a FakeEpixel when None)."""
    helpdesk = helpdesk or FakeEpixel()
    helpdesk.start()
    with FakeSlack(bot_token=BOT_TOKEN) as slack, closing_fake(helpdesk):
        settings = test_settings(slack, helpdesk, **extra)
        gateway = build_gateway(settings)
        store = Store(redis.Redis.from_url(redis_url, decode_responses=True), prefix)
        executors = Executors.create()
        app = build_slack_app(settings, gateway, store, executors)
        # not started: its helpdesk requests would disturb tests that count them; health
        # tests start it (harness.health.start() or check_now())
        health = HealthProbe(store, gateway)
        hooks = WebhookReceiver.from_settings(settings, gateway, store)
        wsgi = WebApp(app, SIGNING_SECRET, health, hooks)
        server = make_server("127.0.0.1", 0, wsgi, ThreadingWSGIServer, QuietHandler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        worker = None
        if outbox is not None:
            worker = SyncWorker(settings, gateway, store, outbox=outbox, poll=False).start()
        harness = Harness(
            slack,
            helpdesk,
            store,
            settings,
            gateway,
            f"http://127.0.0.1:{server.server_port}",
            health,
        )
        try:
            yield harness
        finally:
            harness.client.close()
            if worker is not None:
                worker.stop()
            server.shutdown()
            server.server_close()
            executors.shutdown()
            health.stop()
            gateway.close()
            store.close()
