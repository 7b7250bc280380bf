"""Wires settings, logging, store, gateway and the Bolt app together."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import logs
from bot.app import build_app
from bot.config import Settings, load_settings, require
from bot.gateway import TicketGateway, build_gateway
from bot.store import Store, connect
from bot.web import WebApp


@dataclass
class Runtime:
    settings: Settings
    store: Store
    gateway: TicketGateway
    app: App

    def wsgi(self) -> WebApp:
        return WebApp(SlackRequestHandler(self.app), self.store, self.gateway)

    def close(self) -> None:
        self.gateway.close()
        self.store.close()


def start(*required: str, settings: Settings | None = None) -> Runtime:
    """Everything a serving process needs; `ConfigError` names what is missing."""
    settings = settings or load_settings()
    require(settings, *required)
    logs.configure(settings.LOG_LEVEL, settings.secrets())
    gateway = build_gateway(settings)
    store = connect(settings.redis_url, settings.REDIS_PREFIX)
    return Runtime(settings, store, gateway, build_app(settings, gateway, store))


def create_app() -> WebApp:
    """The WSGI entry point for gunicorn (see the Procfile)."""
    return start("SLACK_SIGNING_SECRET").wsgi()
