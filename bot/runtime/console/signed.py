"""What Slack sends the app, signed as Slack signs it (v0 HMAC-SHA256), in Slack's shapes:
slash commands as form fields, interactions as a form with a JSON `payload`, events as JSON.

tests/support/slack_requests.py sends the same kinds of requests for the test suite. The two
stay apart on purpose: the console ships with the bot and is itself under test, so the tests
do not reach the app through it. Both sign with slack_sdk."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.runtime.console.fake_slack import APP_ID, BOT_USER, TEAM, ConsoleSlack, is_private

JsonDict = dict[str, Any]
#: Slack gives up on an answer after 3 s; the console is more patient with a loaded machine
ACK_TIMEOUT = 10.0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    made = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert made is not None  # None only for a missing timestamp
    return made


class SlackSide:
    """The requests one person's actions make Slack send to the app's request URL."""

    def __init__(self, url: str, secret: str, slack: ConsoleSlack, user: str, channel: str) -> None:
        self.url = url
        self.secret = secret
        self.slack = slack
        self.user = user
        self.channel = channel
        self._http = httpx.Client(timeout=ACK_TIMEOUT)

    def close(self) -> None:
        self._http.close()

    def _post(self, body: str, content_type: str) -> JsonDict | None:
        """The ack's body as JSON (None when empty); an HTTP error raises."""
        raw = body.encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": signature(self.secret, stamp, raw),
        }
        response = self._http.post(self.url, content=raw, headers=headers)
        response.raise_for_status()
        if not response.content.strip():
            return None
        parsed = response.json()
        return parsed if isinstance(parsed, dict) else None

    def command(self, text: str, trigger_id: str) -> JsonDict | None:
        fields = {
            "token": "console",
            "team_id": TEAM,
            "team_domain": "console",
            "channel_id": self.channel,
            "channel_name": self.slack.channels.get(self.channel, self.channel),
            "user_id": self.user,
            "user_name": self.slack.users[self.user]["name"],
            "command": "/ticket",
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.slack.response_url(),
            "trigger_id": trigger_id,
        }
        return self._post(urlencode(fields), "application/x-www-form-urlencoded")

    def _interaction(self, kind: str, **extra: Any) -> JsonDict | None:
        payload = {
            "type": kind,
            "team": {"id": TEAM, "domain": "console"},
            "user": {
                "id": self.user,
                "username": self.slack.users[self.user]["name"],
                "name": self.slack.users[self.user]["name"],
                "team_id": TEAM,
            },
            "api_app_id": APP_ID,
            "token": "console",
            "trigger_id": self.slack.issue_trigger(),
            "is_enterprise_install": False,
            **extra,
        }
        return self._post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )

    def message_action(
        self, action: JsonDict, message: JsonDict, ephemeral: bool, channel: str | None = None
    ) -> JsonDict | None:
        """A button or select pressed on `message` in `channel` (default: this person's)."""
        channel = channel or self.channel
        container = {
            "type": "message",
            "message_ts": message.get("ts", ""),
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        }
        return self._interaction(
            "block_actions",
            actions=[{**action, "action_ts": f"{time.time():.6f}"}],
            container=container,
            channel={"id": channel, "name": self.slack.channels.get(channel)},
            message=message,
            state={"values": {}},
            response_url=self.slack.response_url(),
        )

    def view_action(self, action: JsonDict, view: JsonDict) -> JsonDict | None:
        return self._interaction(
            "block_actions",
            actions=[{**action, "action_ts": f"{time.time():.6f}"}],
            container={"type": "view", "view_id": view["id"]},
            view=view,
            state=view.get("state", {"values": {}}),
        )

    def view_submission(self, view: JsonDict) -> JsonDict | None:
        return self._interaction("view_submission", view=view, response_urls=[])

    def block_suggestion(
        self, view: JsonDict, block_id: str, action_id: str, typed: str
    ) -> JsonDict | None:
        return self._interaction(
            "block_suggestion",
            action_id=action_id,
            block_id=block_id,
            value=typed,
            container={"type": "view", "view_id": view["id"]},
            view=view,
        )

    def shortcut(self, message: JsonDict, callback_id: str) -> JsonDict | None:
        """The message shortcut ("More actions" on a message) with `callback_id`."""
        return self._interaction(
            "message_action",
            callback_id=callback_id,
            action_ts=f"{time.time():.6f}",
            channel={"id": self.channel, "name": self.slack.channels.get(self.channel)},
            message=message,
            message_ts=message["ts"],
            response_url=self.slack.response_url(),
            enterprise=None,
        )

    def message_event(self, message: JsonDict) -> JsonDict | None:
        event = {
            **message,
            "channel": self.channel,
            "channel_type": "group" if is_private(self.channel) else "channel",
            "event_ts": message["ts"],
            "client_msg_id": str(uuid.uuid4()),
        }
        return self._event(event)

    def reaction_added(self, message: JsonDict, name: str) -> JsonDict | None:
        """This person's reaction `name` on `message` (in the console's channel)."""
        event = {
            "type": "reaction_added",
            "user": self.user,
            "reaction": name,
            "item": {"type": "message", "channel": self.channel, "ts": message["ts"]},
            "item_user": message.get("user", ""),
            "event_ts": self.slack.new_ts(),
        }
        return self._event(event)

    def app_home_opened(self) -> JsonDict | None:
        """This person opens the bot's Home tab (the view they last had, if any)."""
        event: JsonDict = {
            "type": "app_home_opened",
            "user": self.user,
            "channel": self.slack.im_of(self.user),
            "tab": "home",
            "event_ts": self.slack.new_ts(),
        }
        if self.user in self.slack.homes:
            event["view"] = self.slack.homes[self.user]
        return self._event(event)

    def _event(self, event: JsonDict) -> JsonDict | None:
        envelope = {
            "token": "console",
            "team_id": TEAM,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }
        return self._post(json.dumps(envelope), "application/json")
