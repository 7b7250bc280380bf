"""Running the app: Socket Mode, or HTTP under gunicorn."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

from gunicorn.app.base import BaseApplication

from bot.runtime.check import socket_mode_url
from bot.runtime.metrics import registry_for, serve_metrics
from bot.runtime.metrics_web import WsgiApp
from bot.runtime.settings import Unreachable
from bot.runtime.wiring import create_app, start

log = logging.getLogger(__name__)


class _Stop(BaseException):
    """SIGTERM, raised in the main thread so that the clean-up below runs; a BaseException
    like KeyboardInterrupt, because slack_sdk's connect() swallows any Exception."""


def _stop(signum: int, frame: object) -> None:
    raise _Stop


def run_socket() -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    runtime = start("SLACK_APP_TOKEN")
    token = runtime.settings.SLACK_APP_TOKEN
    assert token is not None
    # the first connection URL asked for here: a refused token is one line and exit 1
    # (`Unreachable`) rather than Bolt's traceback
    try:
        url = socket_mode_url(runtime.settings)
    except Unreachable:
        runtime.close()
        raise
    handler = SocketModeHandler(runtime.app, token.get_secret_value())  # type: ignore[no-untyped-call, unused-ignore]
    handler.client.wss_uri = url  # connect() uses it instead of asking again
    # Python's default SIGTERM kills at once: no clean-up, the link dropped mid-envelope
    signal.signal(signal.SIGTERM, _stop)
    worker = runtime.start_worker()
    log.info("connecting to Slack in Socket Mode")
    try:
        handler.start()  # type: ignore[no-untyped-call]
    except _Stop:
        log.info("SIGTERM: closing the Socket Mode link")
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        worker.stop()
        runtime.close()
    return 0


class Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], run_worker: bool = True) -> None:
        self.options = options
        self.run_worker = run_worker
        super().__init__()  # type: ignore[no-untyped-call, unused-ignore]

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> WsgiApp:
        # built in each worker after the fork: no pooled connection crosses it
        return create_app(run_worker=self.run_worker)


def run_http(port: int | None = None, run_worker: bool = True) -> int:
    runtime = start("SLACK_SIGNING_SECRET")  # fails fast, before any fork
    runtime.close()
    port = port or runtime.settings.PORT
    # one process unless Redis is shared and the helpdesk is real: the embedded store and
    # the embedded sandbox each live in one process
    embedded = runtime.settings.redis_url is None or runtime.sandbox is not None
    workers = 1 if embedded else 2
    log.info("serving Slack requests at http://0.0.0.0:%s/slack/events", port)
    if run_worker:
        log.info("each of the %d server processes runs a sync worker too", workers)
    Gunicorn(
        {
            "bind": f"0.0.0.0:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": 16,
            "timeout": 60,
            # SIGTERM: requests under way get this long; then each worker's exit hands
            # its unfinished outbox entries back (bot/sync/worker.py) and drains acked work
            "graceful_timeout": 20,
            "accesslog": None,
        },
        run_worker=run_worker,
    ).run()
    return 0


def run_worker(metrics_port: int | None = None) -> int:
    """`ticket-bot worker`: only the sync worker, until SIGTERM or SIGINT; GET /metrics
    on `metrics_port` when given."""
    runtime = start()
    if metrics_port:
        serve_metrics(metrics_port, registry_for(runtime.store))
    worker = runtime.start_worker()

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping the worker", signum)
        worker.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        worker.wait()
    finally:
        worker.stop()
        runtime.close()
    return 0
