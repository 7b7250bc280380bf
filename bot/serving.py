"""Running the app: Socket Mode, or HTTP under gunicorn."""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

from bot.runtime import create_app, start
from bot.web import WebApp

log = logging.getLogger(__name__)


def run_socket() -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    runtime = start("SLACK_APP_TOKEN")
    token = runtime.settings.SLACK_APP_TOKEN
    assert token is not None
    log.info("connecting to Slack in Socket Mode")
    try:
        SocketModeHandler(runtime.app, token.get_secret_value()).start()  # type: ignore[no-untyped-call]
    finally:
        runtime.close()
    return 0


class Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()  # type: ignore[no-untyped-call]

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> WebApp:
        # built in each worker after the fork: no pooled connection crosses it
        return create_app()


def run_http(port: int | None = None) -> int:
    runtime = start("SLACK_SIGNING_SECRET")  # fails fast, before any fork
    runtime.close()
    port = port or runtime.settings.PORT
    # one process unless Redis is shared: the embedded store lives in a process
    workers = 1 if runtime.settings.redis_url is None else 2
    log.info("serving Slack requests at http://0.0.0.0:%s/slack/events", port)
    Gunicorn(
        {
            "bind": f"0.0.0.0:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": 16,
            "timeout": 60,
            "accesslog": None,
        }
    ).run()
    return 0
