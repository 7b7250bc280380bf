"""HTTP mode: a WSGI app with Slack at POST /slack/events, GET /healthz, GET /livez, and
helpdesk webhooks at POST /hooks/<backend>/<secret> (bot/sync/webhooks.py).

Slack requests are checked here before Bolt sees them, because Bolt turns a
malformed one into a 500 with a traceback, and Slack retries a 500:
- unsigned (headers missing, a timestamp that is not a number or is stale, a
  wrong signature), too large or of unknown length: a 4xx, one short log line;
- signed but unreadable (not UTF-8, a body Bolt cannot parse): 200 and one log
  line, since Slack's retry would be just as unreadable. A signed request whose
  shape a listener cannot use is answered the same way by the app's error
  handler (bot/slack/errors.py).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.request import BoltRequest

from bot.log_context import log_ids
from bot.runtime.health import HealthProbe
from bot.sync.webhooks import MAX_BODY, WebhookReceiver

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
SLACK_PATH = "/slack/events"
#: Slack's own requests are a few kB; a modal's state stays far below this
MAX_BODY_BYTES = 1024 * 1024
#: Slack's rule: a request signed more than five minutes ago is refused (replays)
MAX_SIGNATURE_AGE_SECONDS = 5 * 60


class Refused(Exception):
    """A request answered with a 4xx before Bolt sees it."""

    def __init__(self, status: HTTPStatus, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


class WebApp:
    def __init__(
        self,
        app: App,
        signing_secret: str,
        health: HealthProbe,
        hooks: WebhookReceiver | None = None,
    ) -> None:
        self.app = app
        self.signing_secret = signing_secret.encode()
        self.health = health
        self.hooks = hooks

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if path == "/livez" and method == "GET":
            return _plain(start_response, HTTPStatus.OK, "ok")
        if path == "/healthz" and method == "GET":
            latest = self.health.latest
            status = HTTPStatus.OK if latest.ok else HTTPStatus.SERVICE_UNAVAILABLE
            return _plain(start_response, status, latest.text())
        if path == SLACK_PATH and method == "POST":
            return self.slack(environ, start_response)
        if self.hooks is not None and self.hooks.handles(path):
            return self.webhook(environ, start_response)
        return _plain(start_response, HTTPStatus.NOT_FOUND, "not found")

    def slack(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        headers = _headers(environ)
        body = b""
        try:
            body = _read_body(environ)
            self._verify(body, headers)
        except Refused as refused:
            if _is_ssl_check(body):
                return _plain(start_response, HTTPStatus.OK, "")
            log.info("refused a Slack request: %s", refused.why)
            return _plain(start_response, refused.status, refused.why)
        try:
            request = BoltRequest(
                body=body.decode("utf-8"),
                query=environ.get("QUERY_STRING", ""),
                headers=headers,  # type: ignore[arg-type]
            )
        except Exception as exc:
            log.warning("ignored a signed Slack request Bolt cannot read: %s", _describe(exc))
            return _plain(start_response, HTTPStatus.OK, "")
        try:
            with log_ids(slack_request_id=_request_id(request.body)):
                answer = self.app.dispatch(request)
        except Exception as exc:  # Bolt's own handling fails on some shapes (workflow checks)
            log.warning("ignored a signed Slack request Bolt cannot handle: %s", _describe(exc))
            return _plain(start_response, HTTPStatus.OK, "")
        response = WsgiHttpResponse(answer.status, answer.headers, answer.body)
        start_response(response.status, response.get_headers())
        return response.get_body()

    def webhook(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        assert self.hooks is not None
        method = str(environ.get("REQUEST_METHOD", ""))
        try:
            body: bytes | None = _read_body(environ, MAX_BODY) if method == "POST" else b""
        except Refused as refused:
            if refused.status != HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
                return _plain(start_response, refused.status, refused.why)
            body = None  # the receiver says what it says about a body too large
        answer = self.hooks.receive(method, str(environ.get("PATH_INFO", "")), body)
        start_response(answer.status, [("Content-Type", "text/plain")])
        return [answer.text.encode() + b"\n"]

    def _verify(self, body: bytes, headers: dict[str, str]) -> None:
        stamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not stamp or not signature:
            raise Refused(HTTPStatus.UNAUTHORIZED, "no Slack signature headers")
        if not stamp.isascii() or not stamp.isdigit():
            raise Refused(HTTPStatus.UNAUTHORIZED, "X-Slack-Request-Timestamp is not a number")
        if abs(time.time() - int(stamp)) > MAX_SIGNATURE_AGE_SECONDS:
            raise Refused(HTTPStatus.UNAUTHORIZED, "X-Slack-Request-Timestamp is stale")
        base = b"v0:" + stamp.encode() + b":" + body
        expected = "v0=" + hmac.new(self.signing_secret, base, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode(errors="replace")):
            raise Refused(HTTPStatus.UNAUTHORIZED, "wrong Slack signature")


def _request_id(body: dict[str, Any]) -> str | None:
    """What every line logged for a request (and for the work it hands on) names it by.
    Bound around Bolt's dispatch, not in a Bolt middleware: Bolt runs the listeners once
    its middleware chain has returned."""
    request_id = body.get("event_id") or body.get("trigger_id")
    return str(request_id) if request_id else None


def _is_ssl_check(body: bytes) -> bool:
    """Slack's check of a slash command's certificate (`ssl_check=1`), which may come
    unsigned: it carries no data and gets the empty 200 Bolt would give it."""
    return b"ssl_check=1" in body.split(b"&")


def _headers(environ: Environ) -> dict[str, str]:
    """The request's headers as Bolt names them: lower case, dashes."""
    found = {}
    for key, value in environ.items():
        if key in {"CONTENT_LENGTH", "CONTENT_TYPE"} or key.startswith("HTTP_"):
            found[key.removeprefix("HTTP_").lower().replace("_", "-")] = str(value)
    return found


def _read_body(environ: Environ, limit: int = MAX_BODY_BYTES) -> bytes:
    raw_length = str(environ.get("CONTENT_LENGTH") or "0")
    if not raw_length.isdigit():
        raise Refused(HTTPStatus.BAD_REQUEST, "Content-Length is not a number")
    length = int(raw_length)
    if length > limit:
        raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the body is too large")
    stream = environ.get("wsgi.input")
    return b"" if stream is None or length == 0 else bytes(stream.read(length))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _plain(start_response: StartResponse, status: HTTPStatus, text: str) -> Iterable[bytes]:
    body = (text + "\n").encode() if text else b""
    start_response(
        f"{status.value} {status.phrase}",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]
