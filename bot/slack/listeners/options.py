"""Options for external selects: categories when there are more than Slack's 100."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.desk import Desk
from bot.slack import ids

MAX_OPTIONS = 100


def register(app: App, desk: Desk) -> None:
    @app.options(ids.CATEGORY_INPUT)
    def categories(ack: Ack, payload: dict[str, Any]) -> None:
        typed = (payload.get("value") or "").lower()
        found = [c for c in desk.lookups.categories() if typed in c.name.lower()]
        ack(
            options=[
                {"text": {"type": "plain_text", "text": c.name[:75]}, "value": c.id}
                for c in found[:MAX_OPTIONS]
            ]
        )
