"""Wires settings, logging, store, gateway, the desk and the Bolt app together."""

from __future__ import annotations

import atexit
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from slack_bolt import App
from slack_sdk import WebClient

from bot.desk import build_desk
from bot.desk.deferred import Defer
from bot.gateway import TicketGateway
from bot.runtime import logs
from bot.runtime.backends import build_gateway, embedded_sandbox
from bot.runtime.executors import Executors
from bot.runtime.health import HealthProbe
from bot.runtime.metered import MeteredWebClient, metered_gateway
from bot.runtime.metrics import SyncMetrics, registry_for
from bot.runtime.metrics_web import MetricsMiddleware, WsgiApp
from bot.runtime.settings import (
    ConfigError,
    Settings,
    Unreachable,
    load_section,
    load_settings,
    redact_url,
    require,
)
from bot.runtime.web import WebApp
from bot.slack.app import build_app
from bot.slack.client import build_client
from bot.slack.transport import KeptAliveWebClient
from bot.store import Store, StoreOutage, connect, is_unreachable
from bot.sync.replies import Replies
from bot.sync.webhooks import WebhookReceiver

if TYPE_CHECKING:
    from bot.sandbox import Sandbox
    from bot.sync.worker import SyncWorker


def build_slack_app(
    settings: Settings,
    gateway: TicketGateway,
    store: Store,
    executors: Executors,
    client: WebClient | None = None,
) -> App:
    """The Bolt app with its desk services, on `client` or one built from the settings;
    its listeners hand what comes after the ack to `executors.defer`."""
    client = client or build_client(
        settings.SLACK_BOT_TOKEN.get_secret_value(), settings.SLACK_API_URL
    )
    defer = StoreOutageAware(executors.defer, store.outage)
    desk = build_desk(
        gateway,
        store,
        client,
        defer,
        ticket_channel=settings.TICKET_CHANNEL,
        agents=settings.agent_ids,
        reaction=settings.TICKET_REACTION,
        intake_channels=settings.intake_channel_ids,
        dm_window=settings.TICKET_DM_WINDOW,
        agent_channel=settings.TICKET_AGENT_CHANNEL,
    )
    replies = Replies(
        store, gateway, desk.cards.note, defer, intake=desk.intake, agents=desk.agents
    )
    secret = settings.SLACK_SIGNING_SECRET
    signing_secret = secret.get_secret_value() if secret else ""
    return build_app(client, signing_secret, desk, replies, defer, store.outage)


class StoreOutageAware:
    """The after-ack executor, with work that fails because Redis is out of reach told
    once per outage (bot/store/outage.py) instead of a traceback each time."""

    def __init__(self, after_ack: Defer, outage: StoreOutage) -> None:
        self.after_ack = after_ack
        self.outage = outage

    def __call__(self, work: Callable[[], object], *, urgent: bool = False) -> None:
        def guarded() -> object:
            try:
                return work()
            except Exception as exc:
                if not is_unreachable(exc):
                    raise
                self.outage.failed(exc)
                return None

        self.after_ack(guarded, urgent=urgent)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    gateway: TicketGateway
    app: App
    #: the work listeners hand on after acking; drained before the clients close
    executors: Executors
    #: the embedded sandbox helpdesk when TICKET_API_URL is unset, else None
    sandbox: Sandbox | None = None
    #: the Slack Web API client the app uses, shared with the sync worker
    client: WebClient | None = None
    #: Redis and the helpdesk checked in the background (/healthz, the store's outage log)
    health: HealthProbe | None = None

    def wsgi(self) -> WsgiApp:
        """The WSGI app, with GET /metrics and every Slack request counted."""
        secret = self.settings.SLACK_SIGNING_SECRET
        signing_secret = secret.get_secret_value() if secret else ""
        hooks = WebhookReceiver.from_settings(
            self.settings, self.gateway, self.store, observe=SyncMetrics()
        )
        web = WebApp(self.app, signing_secret, self.start_health_probe(), hooks)
        return MetricsMiddleware(web, registry_for(self.store))

    def start_health_probe(self) -> HealthProbe:
        """The background probe of this process (one, however often asked)."""
        if self.health is None:
            self.health = HealthProbe(self.store, self.gateway).start()
        return self.health

    def start_worker(self) -> SyncWorker:
        """The sync worker (outbox + poller) on threads of this process, on this store."""
        from bot.sync.worker import SyncWorker

        worker = SyncWorker(
            self.settings, self.gateway, self.store, client=self.client, observe=SyncMetrics()
        ).start()
        atexit.register(worker.stop)
        return worker

    def close(self) -> None:
        if self.health is not None:
            self.health.stop()
        self.executors.shutdown()
        self.gateway.close()
        self.store.close()
        if isinstance(self.client, KeptAliveWebClient):
            self.client.close()


def start(*required: str, settings: Settings | None = None) -> Runtime:
    """Everything a serving process needs. `ConfigError` names every problem of the
    configuration at once; `Unreachable` says REDIS_URL does not answer."""
    settings = settings or load_settings(*required)
    require(settings, *required)
    logs.configure(settings.LOG_LEVEL, settings.secrets(), settings.LOG_FORMAT)
    helpdesk = _gateway_and_sections(settings)
    gateway = metered_gateway(helpdesk, settings.TICKET_BACKEND.value)
    try:
        store = connect_store(settings)
    except Unreachable:
        gateway.close()
        raise
    # A process that exits without close() (a gunicorn worker's sys.exit) still finishes
    # acked work: the interpreter joins ThreadPoolExecutor threads, queued work done, first.
    executors = Executors.create()
    client = build_client(
        settings.SLACK_BOT_TOKEN.get_secret_value(), settings.SLACK_API_URL, MeteredWebClient
    )
    app = build_slack_app(settings, gateway, store, executors, client)
    sandbox = embedded_sandbox(helpdesk)
    return Runtime(settings, store, gateway, app, executors, sandbox=sandbox, client=client)


def _gateway_and_sections(settings: Settings) -> TicketGateway:
    """The gateway, once the backend's and the outbox's variables are checked together."""
    from bot.sync.worker import OutboxSettings

    problems = []
    try:
        load_section(OutboxSettings)
    except ConfigError as exc:
        problems += exc.problems
    try:
        gateway = build_gateway(settings)
    except ConfigError as exc:
        raise ConfigError(problems + exc.problems) from None
    if problems:
        gateway.close()
        raise ConfigError(problems)
    return gateway


def connect_store(settings: Settings) -> Store:
    """The store, after one ping when REDIS_URL is set: a Redis that does not answer at
    start-up stops the process with one line rather than a traceback per poll."""
    store = connect(settings.redis_url, settings.REDIS_PREFIX)
    if settings.redis_url is None:
        return store
    try:
        store.redis.ping()
    except redis.RedisError as exc:
        store.close()
        where = redact_url(settings.redis_url)
        raise Unreachable(
            [
                f"REDIS_URL: no Redis answers at {where} ({type(exc).__name__}). "
                "Fix: start Redis, or correct REDIS_URL."
            ]
        ) from None
    return store


def create_app(run_worker: bool = True) -> WsgiApp:
    """The WSGI entry point for gunicorn (see the Procfile); each gunicorn worker runs
    the sync worker beside the app unless `run_worker` is False (`serve --no-worker`)."""
    runtime = start("SLACK_SIGNING_SECRET")
    if run_worker:
        runtime.start_worker()
    return runtime.wsgi()
