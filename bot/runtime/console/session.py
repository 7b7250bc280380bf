"""Everything the console runs in its process: the fake Slack, the real app served over
HTTP, the sync worker, and the helpdesk (the embedded sandbox when none is configured)."""

from __future__ import annotations

import getpass
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.runtime.backends import build_gateway, embedded_sandbox
from bot.runtime.console.fake_slack import AGENTS, GENERAL, ConsoleSlack
from bot.runtime.console.server import serve_app, serve_slack
from bot.runtime.console.signed import SlackSide
from bot.runtime.executors import Executors
from bot.runtime.logs import SecretMask
from bot.runtime.settings import ConfigError, Settings, load_settings, problem
from bot.runtime.wiring import Runtime, build_slack_app
from bot.store import connect

log = logging.getLogger(__name__)

#: a dummy token of the right shape: the console's Slack knows it, no real Slack ever sees it
CONSOLE_BOT_TOKEN = "xoxb-console-not-a-real-token"  # noqa: S105
CONSOLE_USER = "U0CONSOLE"
SYNC_INTERVAL = 2
#: seconds a direct message gathers news (TICKET_DM_WINDOW): short enough to watch
DM_WINDOW = 5


class _UserProbe(BaseSettings):
    """Only whether a helpdesk and an agents' channel are configured (environment or .env)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)
    TICKET_API_URL: str | None = None
    TICKET_AGENT_CHANNEL: str | None = None


@dataclass
class Helpdesk:
    settings: dict[str, Any]
    description: str
    stop: Any = None  # a callable, when the console started it
    web_url: str | None = None


def open_helpdesk() -> Helpdesk:
    """The configured helpdesk, or an embedded sandbox when TICKET_API_URL is unset."""
    if _UserProbe().TICKET_API_URL:
        return Helpdesk({}, "the helpdesk configured by TICKET_API_URL")
    try:
        from bot.sandbox import Sandbox
    except ImportError:
        raise ConfigError(
            [problem("TICKET_API_URL") + " (this version has no embedded sandbox helpdesk)"]
        ) from None
    sandbox = Sandbox()
    sandbox.start()
    values = {
        "TICKET_BACKEND": "epixel",
        "TICKET_API_URL": sandbox.base_url,
        "TICKET_API_KEY": sandbox.api_key,
        "TICKET_API_TOKEN": None,
        "TICKET_API_USERNAME": sandbox.username,
        "TICKET_API_PASSWORD": sandbox.password,
    }
    return Helpdesk(values, "the embedded sandbox helpdesk", sandbox.stop, sandbox.web_url)


@dataclass
class Session:
    slack: ConsoleSlack
    side: SlackSide
    helpdesk: Helpdesk
    log_path: Path
    reaction: str  # TICKET_REACTION
    agent_channel: str  # TICKET_AGENT_CHANNEL: the configured one, else the console's #agents
    _closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:
                log.exception("closing the console")


def start_session() -> Session:
    """Start everything; `ConfigError` when the helpdesk settings are missing or wrong."""
    helpdesk = open_helpdesk()
    user_name = getpass.getuser() or "you"
    slack = ConsoleSlack(CONSOLE_BOT_TOKEN, CONSOLE_USER, user_name)
    slack_server = serve_slack(slack)
    secret = secrets.token_hex(16)
    try:
        settings = console_settings(slack, secret, helpdesk)
        slack.add_channel(str(settings.TICKET_AGENT_CHANNEL), "agents")  # the bot is in it
        log_path = _log_to_file(settings)
        runtime = _runtime(settings)
    except BaseException:
        slack_server.shutdown()
        if helpdesk.stop:
            helpdesk.stop()
        raise
    app_server = serve_app(runtime.wsgi())
    worker = runtime.start_worker()
    side = SlackSide(
        f"http://127.0.0.1:{app_server.server_port}/slack/events",
        secret,
        slack,
        CONSOLE_USER,
        GENERAL,
    )
    agents = str(settings.TICKET_AGENT_CHANNEL)
    session = Session(slack, side, helpdesk, log_path, settings.TICKET_REACTION, agents)
    session._closers += [slack_server.shutdown, helpdesk.stop or (lambda: None)]
    session._closers += [app_server.shutdown, runtime.close, lambda: worker.stop(5), side.close]
    return session


def _runtime(settings: Settings) -> Runtime:
    """What `bot.runtime.start` builds, with the log already going to the console's file."""
    gateway = build_gateway(settings)
    store = connect(None, settings.REDIS_PREFIX)
    executors = Executors.create()
    app = build_slack_app(settings, gateway, store, executors)
    return Runtime(settings, store, gateway, app, executors, sandbox=embedded_sandbox(gateway))


def console_settings(slack: ConsoleSlack, secret: str, helpdesk: Helpdesk) -> Settings:
    """The bot's settings with Slack pointed at the console: dummy token, a console-only
    signing secret, the embedded store (never a production Redis), quick polling and
    direct messages, and an agents' channel (the configured one, else the console's)."""
    return load_settings(
        SLACK_BOT_TOKEN=CONSOLE_BOT_TOKEN,
        SLACK_SIGNING_SECRET=secret,
        SLACK_APP_TOKEN=None,
        SLACK_API_URL=slack.base_url + "/api/",
        REDIS_URL=None,
        TICKET_CHANNEL=None,
        TICKET_AGENTS=CONSOLE_USER,  # the one person at the console tries everything
        TICKET_SYNC_INTERVAL=SYNC_INTERVAL,
        TICKET_DM_WINDOW=DM_WINDOW,
        TICKET_AGENT_CHANNEL=_UserProbe().TICKET_AGENT_CHANNEL or AGENTS,
        **helpdesk.settings,
    )


def _log_to_file(settings: Settings) -> Path:
    """The bot's log goes to a file: the terminal is the conversation."""
    handle, name = tempfile.mkstemp(prefix="ticket-bot-console-", suffix=".log")
    path = Path(name)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretMask(settings.secrets()))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.LOG_LEVEL)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.close(handle)
    return path
