"""The request middleware's classification, label bounds and the trigger clock."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import urlencode

from prometheus_client import CollectorRegistry

from bot.runtime.metrics import TriggerClock, label
from bot.runtime.metrics_web import MetricsMiddleware


def test_a_label_value_is_a_bounded_name_or_other() -> None:
    assert label("/ticket") == "/ticket"
    assert label("views.open") == "views.open"
    assert label("hello world <@U1>") == "other"
    assert label("x" * 61) == "other"


def test_the_trigger_clock_observes_once_and_forgets_expired_and_excess_entries() -> None:
    clock = TriggerClock(ttl=3.0, limit=2)
    clock.arrived("T1", "test-expiry", at=100.0)
    clock.arrived("T2", "test-expiry", at=104.0)  # T1 has expired
    clock.arrived("T3", "test-expiry", at=104.5)
    clock.arrived("T4", "test-expiry", at=104.6)  # past the limit: T2 goes
    assert list(clock._arrivals) == ["T3", "T4"]
    clock.opened("T3", at=105.0)
    clock.opened("T3", at=106.0)  # a second views.open with the same trigger: not counted
    assert list(clock._arrivals) == ["T4"]


def test_the_middleware_classifies_without_consuming_the_body() -> None:
    seen: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        start_response("200 OK", [])
        return [b""]

    clock = TriggerClock()
    middleware = MetricsMiddleware(app, CollectorRegistry(), clock)
    payload = {"type": "shortcut", "trigger_id": "T-shortcut", "callback_id": "x"}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    environ = {
        "PATH_INFO": "/slack/events",
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    middleware(environ, lambda *args: None)
    assert seen == [body]
    assert list(clock._arrivals) == ["T-shortcut"]
    assert clock._arrivals["T-shortcut"][1] == "interactivity"
