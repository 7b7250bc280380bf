"""Events API: every subscribed event in app-manifest.yml has a handler here."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.desk import Desk
from bot.runtime.after_ack import after_ack
from bot.sync.replies import Replies

#: the bot events app-manifest.yml subscribes to (checked by a test)
SUBSCRIBED = ("app_home_opened", "message.channels", "message.groups")


def register(app: App, desk: Desk) -> None:
    replies = Replies(desk)

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab") == "home":
            after_ack(lambda: client.views_publish(user_id=event["user"], view=desk.home()))

    @app.event("message")
    def message(event: dict[str, Any], body: dict[str, Any]) -> None:
        # Every subtype lands here (Bolt answers 404 to an unhandled event, and Slack
        # retries it); a mirrored reply is in the outbox before Slack hears back.
        replies.accept(event, body.get("event_id"))
