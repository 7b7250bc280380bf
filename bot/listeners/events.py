"""Events API: every subscribed event in app-manifest.yml has a handler here."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.after_ack import after_ack
from bot.desk import Desk

#: the bot events app-manifest.yml subscribes to (checked by a test)
SUBSCRIBED = ("app_home_opened",)


def register(app: App, desk: Desk) -> None:
    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab") == "home":
            after_ack(lambda: client.views_publish(user_id=event["user"], view=desk.home()))
