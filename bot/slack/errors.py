"""What Slack hears when a listener fails: never a 500 with a traceback.

Bolt answers a failing listener with a 500 and logs its traceback, and Slack
retries a 500. A signed request that fails here is one of two things:
- Redis out of reach: the person is told (an ephemeral answer to a command or
  a click, an error on the modal's first field), the log says it once per
  outage (bot/store/outage.py), and an event gets a 503 so that Slack retries
  it once Redis may be back;
- anything else, in practice a payload of a shape the listener cannot use:
  one log line naming the request and where it failed, and a 200, since
  Slack's retry would be no better. An event no listener takes is a 200 too.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.request import BoltRequest

from bot.desk.explain import store_down
from bot.slack import ids
from bot.slack.render import render
from bot.store import StoreOutage, is_unreachable

log = logging.getLogger(__name__)

STORE_DOWN_TEXT = store_down("could not do that")


def answer_failures(app: App, outage: StoreOutage) -> None:
    """Register the app's error handler (Bolt has one per app)."""

    @app.error
    def failed(error: Exception, request: BoltRequest, respond: Any) -> BoltResponse:
        body: dict[str, Any] = request.body if isinstance(request.body, dict) else {}
        what = describe_request(body)
        if isinstance(error, BoltUnhandledRequestError):
            log.warning("no listener takes this signed request (%s); answered 200", what)
            return BoltResponse(status=200, body="")
        if is_unreachable(error):
            outage.failed(error)
            return store_down_answer(body, respond)
        log.warning(
            "ignored a signed request of a shape we cannot use (%s): %s: %s at %s",
            what,
            type(error).__name__,
            str(error)[:200],
            _where(error),
        )
        return BoltResponse(status=200, body="")


def store_down_answer(body: dict[str, Any], respond: Any) -> BoltResponse:
    """Tell the person, in the way this kind of request allows."""
    kind = body.get("type")
    notice = render("notice.json.j2", text=STORE_DOWN_TEXT, details=None)
    if "command" in body:
        return _json({**notice, "response_type": "ephemeral"})
    if kind == "view_submission":
        return _json({"response_action": "errors", "errors": {ids.SUBJECT_BLOCK: STORE_DOWN_TEXT}})
    if kind == "event_callback":
        return BoltResponse(status=503, body="")  # Slack retries the event later
    if body.get("response_url"):
        try:
            respond(**notice, response_type="ephemeral", replace_original=False)
        except Exception as exc:
            log.warning("could not tell the person the store is down: %s", type(exc).__name__)
    return BoltResponse(status=200, body="")


def describe_request(body: dict[str, Any]) -> str:
    """A few words naming the request, with nothing a person typed."""
    if "command" in body:
        return f"command {str(body.get('command'))[:40]}"
    kind = str(body.get("type") or "unknown")[:40]
    if kind == "event_callback":
        event = body.get("event")
        event_type = event.get("type") if isinstance(event, dict) else None
        return f"event {str(event_type)[:40]}"
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return f"{kind} {str(actions[0].get('action_id'))[:60]}"
    view = body.get("view")
    if isinstance(view, dict):
        return f"{kind} {str(view.get('callback_id'))[:60]}"
    return kind


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"


def _json(value: Any) -> BoltResponse:
    return BoltResponse(
        status=200, body=json.dumps(value), headers={"content-type": "application/json"}
    )
