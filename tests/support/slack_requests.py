"""Send requests to a running app exactly as Slack does: signed, in Slack's own formats.

- slash commands: ``application/x-www-form-urlencoded`` form fields;
- interactivity (block_actions, message_action, view_submission, view_closed,
  block_suggestion): a form with a single ``payload`` field holding JSON;
- Events API and url_verification: ``application/json``;
- every request signed with ``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">``
  and ``X-Slack-Request-Timestamp``.

Like Slack, the client gives up after 3 seconds without an answer (Slack's ack deadline).

The console (bot/runtime/console/signed.py) sends the same kinds of requests for a person at
a terminal. The two stay apart on purpose: the console ships with the bot and is itself under
test here, so the tests must not reach the app through it. Both sign with slack_sdk.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Self
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

JsonDict = dict[str, Any]
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
SLACK_ACK_TIMEOUT_SECONDS = 3.0
USER_NAMES = {"U1": "ada", "U2": "grace"}
# Pass FakeSlack.response_url instead; this default only guarantees no real Slack is reached.
UNSET_RESPONSE_URL = "http://127.0.0.1:9/commands/T1/0/unset"
VERIFICATION_TOKEN = "legacy-verification-token"  # Slack still sends the deprecated token


def new_trigger_id() -> str:
    """A trigger id FakeSlack can age: valid for 3 s from now, like Slack's."""
    return f"trig.{time.monotonic()}"


def slack_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Slack's v0 request signature, made by slack_sdk (whose verifier Bolt uses)."""
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert signature is not None  # None only for a missing timestamp
    return signature


class SignedClient:
    """Posts Slack-shaped, Slack-signed requests to an app's request URL."""

    def __init__(
        self,
        base_url: str,
        signing_secret: str,
        *,
        team_id: str = "T1",
        api_app_id: str = "A1",
        bot_user_id: str = "UBOT",
        response_url: str = UNSET_RESPONSE_URL,
        timeout: float = SLACK_ACK_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = base_url
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.bot_user_id = bot_user_id
        self.response_url = response_url
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def post(
        self,
        body: bytes | str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        raw = body.encode() if isinstance(body, str) else body
        sent = {"Content-Type": content_type}
        if sign:
            sent.update(self.signature_headers(raw, secret=secret, timestamp=timestamp))
        sent.update(headers or {})
        return self._http.post(self.base_url, content=raw, headers=sent)

    def signature_headers(
        self, body: bytes, *, secret: str | None = None, timestamp: int | None = None
    ) -> dict[str, str]:
        stamp = int(time.time()) if timestamp is None else timestamp
        return {
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": slack_signature(secret or self.signing_secret, stamp, body),
        }

    def post_form(self, fields: dict[str, str]) -> httpx.Response:
        return self.post(urlencode(fields), FORM)

    def post_payload(self, payload: JsonDict) -> httpx.Response:
        return self.post_form({"payload": json.dumps(payload)})

    def post_json(
        self, envelope: JsonDict, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.post(json.dumps(envelope), JSON, headers=headers)

    # ------------------------------------------------------------------ slash commands

    def command(
        self,
        text: str,
        *,
        command: str = "/ticket",
        user_id: str = "U1",
        user_name: str = "ada",
        channel_id: str = "C1",
        response_url: str | None = None,
        trigger_id: str | None = None,
    ) -> httpx.Response:
        return self.post_form(
            {
                "token": VERIFICATION_TOKEN,
                "team_id": self.team_id,
                "team_domain": "example",
                "channel_id": channel_id,
                "channel_name": _channel_name(channel_id),
                "user_id": user_id,
                "user_name": user_name,
                "command": command,
                "text": text,
                "api_app_id": self.api_app_id,
                "is_enterprise_install": "false",
                "response_url": response_url or self.response_url,
                "trigger_id": trigger_id or new_trigger_id(),
            }
        )

    # ------------------------------------------------------------------ interactivity

    def block_action(
        self,
        action: JsonDict,
        *,
        user_id: str = "U1",
        channel_id: str = "C1",
        message: JsonDict | None = None,
        container: JsonDict | None = None,
        view: JsonDict | None = None,
        trigger_id: str | None = None,
        response_url: str | None = None,
    ) -> httpx.Response:
        payload = self._interaction("block_actions", user_id, trigger_id)
        payload["actions"] = [{"action_ts": _action_ts(), **action}]
        if view is not None:
            payload["container"] = container or _view_container(view)
            payload["view"] = _with_state(view)
            payload["state"] = payload["view"]["state"]
        else:
            payload["container"] = container or _message_container(channel_id, message)
            payload["channel"] = {"id": channel_id, "name": _channel_name(channel_id)}
            payload["message"] = message or {}
            payload["state"] = {"values": {}}
            payload["response_url"] = response_url or self.response_url
        return self.post_payload(payload)

    def message_shortcut(
        self,
        callback_id: str,
        message: JsonDict,
        *,
        user_id: str = "U1",
        channel_id: str = "C1",
        trigger_id: str | None = None,
        response_url: str | None = None,
    ) -> httpx.Response:
        """A message shortcut used on `message` (a `message_action` payload)."""
        payload = self._interaction("message_action", user_id, trigger_id)
        payload.update(
            callback_id=callback_id,
            action_ts=_action_ts(),
            message_ts=message.get("ts", ""),
            message={"type": "message", **message},
            channel={"id": channel_id, "name": _channel_name(channel_id)},
            response_url=response_url or self.response_url,
        )
        return self.post_payload(payload)

    def view_submission(
        self, view: JsonDict, *, user_id: str = "U1", trigger_id: str | None = None
    ) -> httpx.Response:
        payload = self._interaction("view_submission", user_id, trigger_id)
        payload.update(view=_with_state(view), response_urls=[])
        return self.post_payload(payload)

    def view_closed(self, view: JsonDict, *, user_id: str = "U1") -> httpx.Response:
        payload = self._interaction("view_closed", user_id, None)
        del payload["trigger_id"]
        payload.update(view=_with_state(view), is_cleared=False)
        return self.post_payload(payload)

    def block_suggestion(
        self, action_id: str, block_id: str, value: str, *, view: JsonDict | None = None
    ) -> httpx.Response:
        payload = self._interaction("block_suggestion", "U1", None)
        del payload["trigger_id"]
        payload.update(action_id=action_id, block_id=block_id, value=value)
        if view is not None:
            payload["container"] = _view_container(view)
            payload["view"] = _with_state(view)
        return self.post_payload(payload)

    def _interaction(self, kind: str, user_id: str, trigger_id: str | None) -> JsonDict:
        username = USER_NAMES.get(user_id, user_id.lower())
        return {
            "type": kind,
            "team": {"id": self.team_id, "domain": "example"},
            "user": {
                "id": user_id,
                "username": username,
                "name": username,
                "team_id": self.team_id,
            },
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id or new_trigger_id(),
            "enterprise": None,
            "is_enterprise_install": False,
        }

    # ------------------------------------------------------------------ Events API

    def event(
        self,
        event: JsonDict,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return self.post_json(self.event_envelope(event, event_id=event_id), headers)

    def event_envelope(self, event: JsonDict, *, event_id: str | None = None) -> JsonDict:
        now = time.time()
        inner = {"event_ts": event.get("ts", f"{now:.6f}"), **event}
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.api_app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{uuid.uuid4().hex}",
        }

    def url_verification(self, challenge: str) -> httpx.Response:
        return self.post_json(
            {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        )


# ---------------------------------------------------------------------- payload pieces


def _channel_name(channel_id: str) -> str:
    return "directmessage" if channel_id.startswith("D") else channel_id.lower()


def _action_ts() -> str:
    return f"{time.time():.6f}"


def _view_container(view: JsonDict) -> JsonDict:
    return {"type": "view", "view_id": view.get("id", "")}


def _message_container(channel_id: str, message: JsonDict | None) -> JsonDict:
    return {
        "type": "message",
        "message_ts": (message or {}).get("ts", ""),
        "channel_id": channel_id,
        "is_ephemeral": False,
    }


def _with_state(view: JsonDict) -> JsonDict:
    filled = {"private_metadata": "", "callback_id": "", **view}
    filled.setdefault("state", {"values": {}})
    return filled


# ---------------------------------------------------------------------- view state

EMPTY_STATE: dict[str, JsonDict] = {
    "plain_text_input": {"value": None},
    "email_text_input": {"value": None},
    "url_text_input": {"value": None},
    "number_input": {"value": None},
    "static_select": {"selected_option": None},
    "external_select": {"selected_option": None},
    "radio_buttons": {"selected_option": None},
    "multi_static_select": {"selected_options": []},
    "multi_external_select": {"selected_options": []},
    "checkboxes": {"selected_options": []},
    "users_select": {"selected_user": None},
    "multi_users_select": {"selected_users": []},
    "conversations_select": {"selected_conversation": None},
    "multi_conversations_select": {"selected_conversations": []},
    "channels_select": {"selected_channel": None},
    "multi_channels_select": {"selected_channels": []},
    "datepicker": {"selected_date": None},
    "timepicker": {"selected_time": None},
    "datetimepicker": {"selected_date_time": None},
    "file_input": {"files": []},
    "rich_text_input": {"rich_text_value": None},
}
VALUE_KEY = {kind: next(iter(state)) for kind, state in EMPTY_STATE.items()}
OPTION_TYPES = frozenset({"static_select", "radio_buttons"})
MULTI_OPTION_TYPES = frozenset({"multi_static_select", "checkboxes"})
EXTERNAL_TYPES = frozenset({"external_select", "multi_external_select"})


def state_values(view: JsonDict, answers: dict[str, Any]) -> JsonDict:
    """``view["state"]["values"]`` as Slack sends it when the user submits ``answers``.

    ``view`` must be the view Slack returned (it carries the block_ids); ``answers`` maps
    action_id to: a string for text inputs, an option *value* (or list of values) for
    selects/checkboxes/radios, ids for user/conversation/channel pickers, file objects for
    file_input. Every input block appears, unanswered ones empty, as Slack does.
    """
    values: JsonDict = {}
    unused = set(answers)
    for block in view.get("blocks", []):
        for element in _stateful_elements(block):
            action_id = element.get("action_id")
            if block.get("type") != "input" and action_id not in answers:
                continue
            if not block.get("block_id") or not action_id:
                raise ValueError("use the view Slack returned: it has block_id/action_id set")
            unused.discard(action_id)
            state = _element_state(element, answers.get(action_id), action_id in answers)
            values.setdefault(block["block_id"], {})[action_id] = state
    if unused:
        raise KeyError(f"no input element with action_id {sorted(unused)} in the view")
    return values


def _stateful_elements(block: JsonDict) -> list[JsonDict]:
    candidates = [block.get("element"), block.get("accessory"), *block.get("elements", [])]
    if block.get("type") not in {"input", "section", "actions"}:
        return []
    return [e for e in candidates if isinstance(e, dict) and e.get("type") in EMPTY_STATE]


def _element_state(element: JsonDict, answer: Any, answered: bool) -> JsonDict:
    kind = element["type"]
    state: JsonDict = {"type": kind, **json.loads(json.dumps(EMPTY_STATE[kind]))}
    key = VALUE_KEY[kind]
    if answered and answer is not None:
        state[key] = _answer_value(element, answer)
    elif not answered and _initial_key(key) in element:
        state[key] = element[_initial_key(key)]
    return state


def _initial_key(value_key: str) -> str:
    """Where an element keeps the value Slack reports untouched: selected_x -> initial_x."""
    if value_key.startswith("selected_"):
        return "initial_" + value_key.removeprefix("selected_")
    return "initial_value"


def _answer_value(element: JsonDict, answer: Any) -> Any:
    kind = element["type"]
    if kind in OPTION_TYPES:
        return _find_option(element, answer)
    if kind in MULTI_OPTION_TYPES:
        return [_find_option(element, value) for value in _as_list(answer)]
    if kind in EXTERNAL_TYPES:
        options = [_external_option(value) for value in _as_list(answer)]
        return options if kind.startswith("multi_") else options[0]
    if kind.startswith("multi_") or kind == "file_input":
        return _as_list(answer)
    return answer


def _find_option(element: JsonDict, value: Any) -> JsonDict:
    if isinstance(value, dict):
        value = value.get("value")
    options = list(element.get("options", []))
    for group in element.get("option_groups", []):
        options.extend(group.get("options", []))
    for option in options:
        if option.get("value") == value:
            return dict(option)
    known = [option.get("value") for option in options]
    raise ValueError(f"{value!r} is not an option of {element.get('action_id')}: {known}")


def _external_option(value: Any) -> JsonDict:
    if isinstance(value, dict):
        return value
    return {"text": {"type": "plain_text", "text": str(value), "emoji": True}, "value": value}


def _as_list(answer: Any) -> list[Any]:
    return list(answer) if isinstance(answer, list | tuple | set) else [answer]
