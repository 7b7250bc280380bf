"""Wires settings, logging, store, gateway, the desk and the Bolt app together."""

from __future__ import annotations

import atexit
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.desk import build_desk
from bot.gateway import TicketGateway
from bot.runtime import logs
from bot.runtime.after_ack import AfterAck
from bot.runtime.backends import build_gateway, embedded_sandbox
from bot.runtime.metered import MeteredWebClient, metered_gateway
from bot.runtime.metrics import SyncMetrics, registry_for
from bot.runtime.metrics_web import MetricsMiddleware, WsgiApp
from bot.runtime.settings import Settings, load_settings, require
from bot.runtime.web import WebApp
from bot.slack.app import build_app
from bot.slack.client import build_client
from bot.store import Store, connect
from bot.sync.replies import Replies
from bot.sync.webhooks import WebhookReceiver

if TYPE_CHECKING:
    from bot.sandbox import Sandbox
    from bot.sync.worker import SyncWorker


def build_slack_app(
    settings: Settings,
    gateway: TicketGateway,
    store: Store,
    after_ack: AfterAck,
    client: WebClient | None = None,
) -> App:
    """The Bolt app with its desk services, on `client` or one built from the settings."""
    client = client or build_client(
        settings.SLACK_BOT_TOKEN.get_secret_value(), settings.SLACK_API_URL
    )
    desk = build_desk(
        gateway,
        store,
        client,
        after_ack,
        ticket_channel=settings.TICKET_CHANNEL,
        agents=settings.agent_ids,
    )
    replies = Replies(store, gateway, desk.cards.note, after_ack)
    secret = settings.SLACK_SIGNING_SECRET
    signing_secret = secret.get_secret_value() if secret else ""
    return build_app(client, signing_secret, desk, replies, after_ack)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    gateway: TicketGateway
    app: App
    #: the work listeners hand on after acking; drained before the clients close
    after_ack: AfterAck = field(default_factory=AfterAck)
    #: the embedded sandbox helpdesk when TICKET_API_URL is unset, else None
    sandbox: Sandbox | None = None
    #: the Slack Web API client the app uses, shared with the sync worker
    client: WebClient | None = None

    def wsgi(self) -> WsgiApp:
        """The WSGI app, with GET /metrics and every Slack request counted."""
        hooks = WebhookReceiver.from_settings(
            self.settings, self.gateway, self.store, observe=SyncMetrics()
        )
        web = WebApp(SlackRequestHandler(self.app), self.store, self.gateway, hooks)
        return MetricsMiddleware(web, registry_for(self.store))

    def start_worker(self) -> SyncWorker:
        """The sync worker (outbox + poller) on threads of this process, on this store."""
        from bot.sync.worker import SyncWorker

        worker = SyncWorker(
            self.settings, self.gateway, self.store, client=self.client, observe=SyncMetrics()
        ).start()
        atexit.register(worker.stop)
        return worker

    def close(self) -> None:
        self.after_ack.drain()
        self.gateway.close()
        self.store.close()


def start(*required: str, settings: Settings | None = None) -> Runtime:
    """Everything a serving process needs; `ConfigError` names what is missing."""
    settings = settings or load_settings()
    require(settings, *required)
    logs.configure(settings.LOG_LEVEL, settings.secrets(), settings.LOG_FORMAT)
    helpdesk = build_gateway(settings)
    gateway = metered_gateway(helpdesk, settings.TICKET_BACKEND.value)
    store = connect(settings.redis_url, settings.REDIS_PREFIX)
    after_ack = AfterAck()
    # its threads are daemons, which would die with the interpreter mid-task: an exiting
    # process (a gunicorn worker's sys.exit, Ctrl-C) first lets acked work finish
    atexit.register(after_ack.drain)
    client = build_client(
        settings.SLACK_BOT_TOKEN.get_secret_value(), settings.SLACK_API_URL, MeteredWebClient
    )
    app = build_slack_app(settings, gateway, store, after_ack, client)
    sandbox = embedded_sandbox(helpdesk)
    return Runtime(settings, store, gateway, app, after_ack, sandbox=sandbox, client=client)


def create_app(run_worker: bool = True) -> WsgiApp:
    """The WSGI entry point for gunicorn (see the Procfile); each gunicorn worker runs
    the sync worker beside the app unless `run_worker` is False (`serve --no-worker`)."""
    runtime = start("SLACK_SIGNING_SECRET")
    if run_worker:
        runtime.start_worker()
    return runtime.wsgi()
