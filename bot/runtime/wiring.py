"""Wires settings, logging, store, gateway, the desk and the Bolt app together."""

from __future__ import annotations

import atexit
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.desk import build_desk
from bot.gateway import TicketGateway
from bot.runtime import logs
from bot.runtime.backends import build_gateway, embedded_sandbox
from bot.runtime.executors import Executors
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
    executors: Executors,
    client: WebClient | None = None,
) -> App:
    """The Bolt app with its desk services, on `client` or one built from the settings;
    its listeners hand what comes after the ack to `executors.defer`."""
    client = client or build_client(
        settings.SLACK_BOT_TOKEN.get_secret_value(), settings.SLACK_API_URL
    )
    defer = executors.defer
    desk = build_desk(
        gateway,
        store,
        client,
        defer,
        ticket_channel=settings.TICKET_CHANNEL,
        agents=settings.agent_ids,
    )
    replies = Replies(store, gateway, desk.cards.note, defer)
    secret = settings.SLACK_SIGNING_SECRET
    signing_secret = secret.get_secret_value() if secret else ""
    return build_app(client, signing_secret, desk, replies, defer)


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

    def wsgi(self) -> WebApp:
        hooks = WebhookReceiver.from_settings(self.settings, self.gateway, self.store)
        return WebApp(SlackRequestHandler(self.app), self.store, self.gateway, hooks)

    def start_worker(self) -> SyncWorker:
        """The sync worker (outbox + poller) on threads of this process, on this store."""
        from bot.sync.worker import SyncWorker

        worker = SyncWorker(self.settings, self.gateway, self.store).start()
        atexit.register(worker.stop)
        return worker

    def close(self) -> None:
        self.executors.shutdown()
        self.gateway.close()
        self.store.close()


def start(*required: str, settings: Settings | None = None) -> Runtime:
    """Everything a serving process needs; `ConfigError` names what is missing."""
    settings = settings or load_settings()
    require(settings, *required)
    logs.configure(settings.LOG_LEVEL, settings.secrets(), settings.LOG_FORMAT)
    gateway = build_gateway(settings)
    store = connect(settings.redis_url, settings.REDIS_PREFIX)
    # A process that exits without close() (a gunicorn worker's sys.exit) still finishes
    # acked work: the interpreter joins ThreadPoolExecutor threads, queued work done, first.
    executors = Executors.create()
    app = build_slack_app(settings, gateway, store, executors)
    return Runtime(settings, store, gateway, app, executors, sandbox=embedded_sandbox(gateway))


def create_app(run_worker: bool = True) -> WebApp:
    """The WSGI entry point for gunicorn (see the Procfile); each gunicorn worker runs
    the sync worker beside the app unless `run_worker` is False (`serve --no-worker`)."""
    runtime = start("SLACK_SIGNING_SECRET")
    if run_worker:
        runtime.start_worker()
    return runtime.wsgi()
