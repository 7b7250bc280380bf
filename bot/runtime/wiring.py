"""Wires settings, logging, store, gateway and the Bolt app together."""

from __future__ import annotations

import atexit
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.gateway import TicketGateway
from bot.runtime import logs
from bot.runtime.after_ack import DRAIN_SECONDS, drain
from bot.runtime.backends import build_gateway, embedded_sandbox
from bot.runtime.settings import Settings, load_settings, require
from bot.runtime.web import WebApp
from bot.slack.app import build_app
from bot.store import Store, connect

if TYPE_CHECKING:
    from bot.sandbox import Sandbox
    from bot.sync.worker import SyncWorker


@dataclass
class Runtime:
    settings: Settings
    store: Store
    gateway: TicketGateway
    app: App
    #: the embedded sandbox helpdesk when TICKET_API_URL is unset, else None
    sandbox: Sandbox | None = None

    def wsgi(self) -> WebApp:
        return WebApp(SlackRequestHandler(self.app), self.store, self.gateway)

    def start_worker(self) -> SyncWorker:
        """The sync worker (outbox + poller) on threads of this process, on this store."""
        from bot.sync.worker import SyncWorker

        worker = SyncWorker(self.settings, self.gateway, self.store).start()
        atexit.register(worker.stop)
        return worker

    def close(self) -> None:
        drain(timeout=DRAIN_SECONDS)
        self.gateway.close()
        self.store.close()


def start(*required: str, settings: Settings | None = None) -> Runtime:
    """Everything a serving process needs; `ConfigError` names what is missing."""
    settings = settings or load_settings()
    require(settings, *required)
    logs.configure(settings.LOG_LEVEL, settings.secrets())
    gateway = build_gateway(settings)
    store = connect(settings.redis_url, settings.REDIS_PREFIX)
    app = build_app(settings, gateway, store)
    return Runtime(settings, store, gateway, app, sandbox=embedded_sandbox(gateway))


def create_app(run_worker: bool = True) -> WebApp:
    """The WSGI entry point for gunicorn (see the Procfile); each gunicorn worker runs
    the sync worker beside the app unless `run_worker` is False (`serve --no-worker`)."""
    runtime = start("SLACK_SIGNING_SECRET")
    if run_worker:
        runtime.start_worker()
    return runtime.wsgi()
