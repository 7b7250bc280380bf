"""Bolt listeners, one module per Slack surface; each has `register(app, desk)`."""

from __future__ import annotations

from slack_bolt import App

from bot.desk import Desk
from bot.slack.listeners import actions, commands, events, options, views


def register(app: App, desk: Desk) -> None:
    for surface in (commands, views, actions, events, options):
        surface.register(app, desk)
