"""The message shortcut "Create ticket" (callback id `ticket_from_message`)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.desk import Desk
from bot.desk.deferred import Defer
from bot.slack import ids
from bot.slack.forms import message_source


def register(app: App, desk: Desk, after_ack: Defer) -> None:
    @app.message_shortcut(ids.MESSAGE_SHORTCUT)
    def ticket_from_message(ack: Ack, shortcut: dict[str, Any], respond: Respond) -> None:
        # parsed before the ack: a malformed payload fails here (bot/slack/errors.py)
        source, message = message_source(shortcut), dict(shortcut["message"])
        trigger_id, response_url = str(shortcut["trigger_id"]), shortcut.get("response_url")
        ack()
        # as `/ticket new`: the ack goes once a modal thread has started (commands.py)
        after_ack(
            lambda: desk.shortcut.used(trigger_id, source, message, response_url, respond),
            urgent=True,
        )
