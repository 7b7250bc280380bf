"""Malformed requests: unsigned garbage gets a 4xx, a signed malformed shape a 200 and one
log line, never a 500 (Slack would retry it) and never a traceback.

Each shape goes through the real path: the WSGI layer and the Bolt app with every listener,
served over HTTP, signed as Slack signs (and once more unsigned)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.slack import ids
from tests.support.flows import linked_ticket, thread_of
from tests.support.harness import SIGNING_SECRET, Harness
from tests.support.slack_requests import FORM, JSON, SignedClient

JsonDict = dict[str, Any]
Shape = Callable[[Harness], tuple[bytes, str]]


def _payload(payload: Any) -> tuple[bytes, str]:
    return urlencode({"payload": json.dumps(payload)}).encode(), FORM


def _event(live: Harness, event: Any) -> tuple[bytes, str]:
    envelope = live.client.event_envelope({})
    envelope["event"] = event
    return json.dumps(envelope).encode(), JSON


def _interaction(kind: str, **fields: Any) -> JsonDict:
    return {
        "type": kind,
        "team": {"id": "T1"},
        "user": {"id": "U1", "name": "ada"},
        "api_app_id": "A1",
        "trigger_id": "trig.1",
        **fields,
    }


def _reply_in_thread(live: Harness, **changes: Any) -> tuple[bytes, str]:
    thread = thread_of(live, linked_ticket(live))
    event = {
        "type": "message",
        "channel": thread.channel,
        "user": "U1",
        "text": "hello",
        "ts": f"{time.time():.6f}",
        "thread_ts": thread.ts,
        **changes,
    }
    return _event(live, event)


def _card_click(container: Any) -> tuple[bytes, str]:
    action = {"type": "button", "action_id": ids.CLOSE, "block_id": "card:1", "value": "1"}
    return _payload(_interaction("block_actions", actions=[action], container=container))


FILLED_FORM = {
    ids.SUBJECT_BLOCK: {ids.SUBJECT_INPUT: {"type": "plain_text_input", "value": "Printer"}},
    ids.DESCRIPTION_BLOCK: {ids.DESCRIPTION_INPUT: {"type": "plain_text_input", "value": "Jam"}},
    ids.CATEGORY_BLOCK: {
        ids.CATEGORY_INPUT: {"type": "static_select", "selected_option": {"value": "1"}}
    },
}

SIGNED_MALFORMED: dict[str, Shape] = {
    "payload= not JSON": lambda live: (b"payload=%7Bnot+json", FORM),
    "payload= a JSON list": lambda live: _payload([1, 2]),
    "JSON body not an object": lambda live: (b"[1, 2]", JSON),
    "JSON body cut short": lambda live: (b'{"type": "event_callback", "event": {', JSON),
    "not UTF-8": lambda live: (b"payload=\xff\xfe\xfa", FORM),
    "files not a list": lambda live: _reply_in_thread(live, files="F1,F2"),
    "files of strings": lambda live: _reply_in_thread(live, files=["F1"]),
    "channel as an object": lambda live: _reply_in_thread(live, channel={"id": "C1"}),
    "event a string": lambda live: _event(live, "message"),
    "home without user": lambda live: _event(live, {"type": "app_home_opened", "tab": "home"}),
    "bad private_metadata": lambda live: _payload(
        _interaction(
            "view_submission",
            view={
                "id": "V1",
                "type": "modal",
                "callback_id": ids.NEW_TICKET_VIEW,
                "private_metadata": "{not json",
                "state": {"values": FILLED_FORM},
            },
        )
    ),
    "view without state": lambda live: _payload(
        _interaction(
            "view_submission",
            view={"id": "V1", "type": "modal", "callback_id": ids.NEW_TICKET_VIEW, "state": []},
        )
    ),
    "missing container": lambda live: _card_click(None),
    "container channel as an object": lambda live: _card_click(
        {"type": "message", "channel_id": {"id": "C1"}, "message_ts": "1.2"}
    ),
    "actions not a list": lambda live: _payload(_interaction("block_actions", actions="close")),
    "page value not JSON": lambda live: _payload(
        _interaction(
            "block_actions",
            actions=[{"action_id": ids.LIST_PAGE_NEXT, "value": "{"}],
            response_url=live.client.response_url,
        )
    ),
    "retry button without view": lambda live: _payload(
        _interaction("block_actions", actions=[{"action_id": ids.LOOKUP_RETRY, "value": "x"}])
    ),
    "suggestion value a number": lambda live: _payload(
        _interaction("block_suggestion", action_id=ids.CATEGORY_INPUT, block_id="c", value=7)
    ),
    "command without trigger_id": lambda live: (
        urlencode({"command": "/ticket", "text": "new", "user_id": "U1", "team_id": "T1"}).encode(),
        FORM,
    ),
    "unknown interaction type": lambda live: _payload(_interaction("no_such_thing")),
}


def signed(body: bytes, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's v0 signature over the body's bytes (slack_sdk's signer takes text only,
    and a body that is not UTF-8 is one of the shapes here)."""
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + digest.hexdigest()}


def _tracebacks(caplog: pytest.LogCaptureFixture, captured: str) -> list[str]:
    found = [r.getMessage() for r in caplog.records if r.exc_info or r.exc_text]
    return found + (["stderr: " + captured] if "Traceback" in captured else [])


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("name", list(SIGNED_MALFORMED))
def test_signed_malformed_gets_200_and_one_log_line(
    live: Harness,
    name: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    body, content_type = SIGNED_MALFORMED[name](live)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        response = live.client.post(body, content_type, sign=False, headers=signed(body))
    assert response.status_code == 200, response.text
    assert len(_warnings(caplog)) == 1, _warnings(caplog)
    assert _tracebacks(caplog, capfd.readouterr().err) == []


@pytest.mark.parametrize("name", list(SIGNED_MALFORMED))
def test_the_same_shapes_unsigned_get_401(
    live: Harness,
    name: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    body, content_type = SIGNED_MALFORMED[name](live)
    with caplog.at_level(logging.INFO):
        response = live.client.post(body, content_type, sign=False)
        wrong = live.client.post(
            body, content_type, sign=False, headers=signed(body, "not-the-secret")
        )
    assert (response.status_code, wrong.status_code) == (401, 401)
    assert _tracebacks(caplog, capfd.readouterr().err) == []


def _garbage(live: Harness) -> dict[str, httpx.Response]:
    client = live.client
    body = json.dumps(client.event_envelope({"type": "message", "text": "x"})).encode()
    now = str(int(time.time()))
    return {
        "no headers": client.post(body, JSON, sign=False),
        "timestamp a word": client.post(
            body,
            JSON,
            sign=False,
            headers={"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"},
        ),
        "timestamp empty": client.post(
            body,
            JSON,
            sign=False,
            headers={"X-Slack-Request-Timestamp": "", "X-Slack-Signature": "v0=00"},
        ),
        "timestamp huge": client.post(
            body,
            JSON,
            sign=False,
            headers={"X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": "v0=00"},
        ),
        "signature of another shape": client.post(
            body,
            JSON,
            sign=False,
            headers={"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "sha1=ab"},
        ),
        "stale": client.post(body, JSON, timestamp=int(time.time()) - 3600),
        "not UTF-8, unsigned": client.post(b"\xff\xfe" * 50, FORM, sign=False),
        "only a signature": client.post(
            body, JSON, sign=False, headers={"X-Slack-Signature": "v0=00"}
        ),
    }


def test_unsigned_garbage_gets_4xx_without_a_traceback(
    live: Harness, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.INFO):
        answers = _garbage(live)
        too_large = live.client.post(b"x" * (2 * 1024 * 1024), FORM)
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 401)
    assert too_large.status_code == 413
    ssl_check = live.client.post(b"ssl_check=1&token=legacy", FORM, sign=False)
    assert (ssl_check.status_code, ssl_check.text) == (200, "")
    assert _tracebacks(caplog, capfd.readouterr().err) == []
    assert live.helpdesk.requests_to("create/ticket") == []


def test_a_well_formed_request_still_works_after_garbage(live: Harness) -> None:
    _garbage(live)
    answer = live.client.command("help")
    assert answer.status_code == 200 and "/ticket new" in answer.text
    with SignedClient(live.url + "/slack/events", "wrong-secret") as stranger:
        assert stranger.command("help").status_code == 401
