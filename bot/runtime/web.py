"""HTTP mode: a WSGI app with Slack at POST /slack/events, GET /healthz, and helpdesk
webhooks at POST /hooks/<backend>/<secret> (bot/sync/webhooks.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.gateway import GatewayError, TicketGateway
from bot.store import Store
from bot.sync.webhooks import MAX_BODY, WebhookReceiver

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
HEALTH_CACHE_SECONDS = 10


class WebApp:
    def __init__(
        self,
        slack: SlackRequestHandler,
        store: Store,
        gateway: TicketGateway,
        hooks: WebhookReceiver | None = None,
    ) -> None:
        self.slack = slack
        self.store = store
        self.gateway = gateway
        self.hooks = hooks
        self._helpdesk_ok_until = 0.0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz" and environ.get("REQUEST_METHOD") == "GET":
            return self.health(start_response)
        if path == "/slack/events":
            return self.slack(environ, start_response)
        if self.hooks is not None and self.hooks.handles(path):
            return self.webhook(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    def webhook(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        assert self.hooks is not None
        method = str(environ.get("REQUEST_METHOD", ""))
        body = _read_body(environ, MAX_BODY) if method == "POST" else b""
        answer = self.hooks.receive(method, str(environ.get("PATH_INFO", "")), body)
        start_response(answer.status, [("Content-Type", "text/plain")])
        return [answer.text.encode() + b"\n"]

    def health(self, start_response: StartResponse) -> Iterable[bytes]:
        problems = []
        if not self.store.ping():
            problems.append("redis: not answering")
        helpdesk_problem = self._helpdesk_problem()
        if helpdesk_problem:
            problems.append(f"helpdesk: {helpdesk_problem}")
        status = "503 Service Unavailable" if problems else "200 OK"
        start_response(status, [("Content-Type", "text/plain")])
        return [("\n".join(problems) or "ok").encode() + b"\n"]

    def _helpdesk_problem(self) -> str | None:
        """None when the helpdesk answered; a good answer is trusted for a few seconds,
        so a load balancer's probe does not hammer the helpdesk."""
        if time.monotonic() < self._helpdesk_ok_until:
            return None
        try:
            if self.gateway.capabilities.categories:
                self.gateway.list_categories()
            else:
                self.gateway.list_priorities()
        except GatewayError as exc:
            return type(exc).__name__
        self._helpdesk_ok_until = time.monotonic() + HEALTH_CACHE_SECONDS
        return None


def _read_body(environ: dict[str, Any], limit: int) -> bytes | None:
    """The request body; None when it is longer than `limit` (it is not read then)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return None
    return bytes(environ["wsgi.input"].read(length)) if length > 0 else b""
