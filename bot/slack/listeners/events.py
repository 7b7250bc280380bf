"""Events API: every subscribed event in app-manifest.yml has a handler here."""

from __future__ import annotations

from typing import Any, Protocol

from slack_bolt import App

from bot.desk import Desk
from bot.desk.deferred import Defer

#: the bot events app-manifest.yml subscribes to (checked by a test)
SUBSCRIBED = (
    "app_home_opened",
    "message.channels",
    "message.groups",
    "reaction_added",
    "reaction_removed",
)


class MessageSink(Protocol):
    """Where `message` events go: bot/sync/replies.py decides what reaches the helpdesk."""

    def accept(self, event: dict[str, Any], event_id: str | None) -> None: ...


def register(app: App, desk: Desk, replies: MessageSink, after_ack: Defer) -> None:
    @app.event("app_home_opened")
    def home(event: dict[str, Any]) -> None:
        if event.get("tab") == "home":
            user = str(event["user"])  # parsed before the ack (bot/slack/errors.py)
            after_ack(lambda: desk.queries.publish_home(user))

    @app.event("message")
    def message(event: dict[str, Any], body: dict[str, Any]) -> None:
        # Every subtype lands here (Bolt answers 404 to an unhandled event, and Slack
        # retries it); a mirrored reply is in the outbox before Slack hears back.
        replies.accept(event, body.get("event_id"))

    @app.event("reaction_added")
    def reaction_added(event: dict[str, Any]) -> None:
        # Redis only (a claim, the outbox entry): done before Slack hears back
        desk.intake.reacted(event)

    @app.event("reaction_removed")
    def reaction_removed() -> None:
        """A ticket made of a message stays when the reaction goes."""
