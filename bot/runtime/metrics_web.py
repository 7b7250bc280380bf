"""WSGI middleware: `GET /metrics`, and each Slack request at /slack/events counted by
surface and outcome with its ack latency (bot/runtime/metrics.py).

The request body is read here once and handed on as a fresh stream, so the Slack
handler behind reads the same bytes. A request carrying a trigger_id is noted in the
trigger clock, which observes the views.open it leads to (bot/runtime/metered.py).
Labels come from a signed request only: one whose signature fails is counted as
`unverified`, whatever it claimed to be.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

from prometheus_client import CollectorRegistry

from bot.runtime.metrics import (
    ACK_SECONDS,
    SLACK_REQUESTS,
    TRIGGERS,
    TriggerClock,
    label,
    outcome_of,
    render,
)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
SLACK_PATH = "/slack/events"
#: Slack's own requests are small; a longer body is passed on unread (and unclassified)
MAX_CLASSIFIED = 1024 * 1024


class Classified(NamedTuple):
    surface: str
    kind: str
    trigger_id: str | None = None


UNKNOWN = Classified("unknown", "")


class MetricsMiddleware:
    def __init__(
        self, app: WsgiApp, registry: CollectorRegistry, triggers: TriggerClock = TRIGGERS
    ) -> None:
        self.app = app
        self.registry = registry
        self.triggers = triggers

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics" and environ.get("REQUEST_METHOD") == "GET":
            body, content_type = render(self.registry)
            start_response("200 OK", [("Content-Type", content_type)])
            return [body]
        if path != SLACK_PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        return self._slack(environ, start_response)

    def _slack(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        arrived = time.monotonic()
        request = _classify(environ)
        if request.trigger_id:
            self.triggers.arrived(request.trigger_id, request.surface, arrived)
        statuses: list[str] = []

        def noting_status(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        answer = self.app(environ, noting_status)
        status = statuses[-1] if statuses else "500"
        surface, kind = request.surface, request.kind
        if status.startswith("401"):
            surface, kind = "unverified", ""
        ACK_SECONDS.labels(surface).observe(time.monotonic() - arrived)
        SLACK_REQUESTS.labels(surface, kind, outcome_of(status)).inc()
        return answer


def _classify(environ: dict[str, Any]) -> Classified:
    """What the request is, from its body; the body stays readable for the app."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return UNKNOWN
    if not 0 < length <= MAX_CLASSIFIED:
        return UNKNOWN
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        text = body.decode()
        if str(environ.get("CONTENT_TYPE", "")).startswith("application/json"):
            return _event(json.loads(text))
        return _form(_fields(text, FORM_FIELDS))
    except (UnicodeDecodeError, ValueError, TypeError, AttributeError):
        return UNKNOWN


#: the fields of a form body that say what the request is
FORM_FIELDS = frozenset({"command", "payload", "ssl_check", "trigger_id"})


def _fields(text: str, names: frozenset[str]) -> dict[str, list[str]]:
    """parse_qs(text) for `names` only: a command's other dozen fields are not decoded
    here (Bolt decodes them all once more). The names are plain words, which a form
    encoder leaves as they are, so they are compared undecoded."""
    found: dict[str, list[str]] = {}
    for pair in text.split("&"):
        name, _, value = pair.partition("=")
        if value and name in names:
            found.setdefault(name, []).append(unquote_plus(value))
    return found


def _form(fields: dict[str, list[str]]) -> Classified:
    if "command" in fields:
        return Classified("command", label(fields["command"][0]), _first(fields, "trigger_id"))
    if "payload" in fields:
        payload = json.loads(fields["payload"][0])
        trigger_id = payload.get("trigger_id")
        return Classified(
            "interactivity",
            label(payload.get("type", "")),
            str(trigger_id) if trigger_id else None,
        )
    if "ssl_check" in fields:
        return Classified("ssl_check", "")
    return UNKNOWN


def _event(envelope: dict[str, Any]) -> Classified:
    if envelope.get("type") == "event_callback":
        return Classified("events", label((envelope.get("event") or {}).get("type", "")))
    return Classified("events", label(envelope.get("type", "")))


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None
