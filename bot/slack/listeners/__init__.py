"""Bolt listeners, one module per Slack surface; each has `register(app, ...)`.

A listener parses the payload, acks, and hands the rest to one desk service,
after the ack when it may be slow (`after_ack`)."""

from __future__ import annotations

from slack_bolt import App

from bot.desk import Desk
from bot.desk.deferred import Defer
from bot.slack.listeners import actions, commands, events, options, shortcuts, views
from bot.slack.listeners.events import MessageSink


def register(app: App, desk: Desk, replies: MessageSink, after_ack: Defer) -> None:
    commands.register(app, desk, after_ack)
    views.register(app, desk)
    actions.register(app, desk, after_ack)
    events.register(app, desk, replies, after_ack)
    options.register(app, desk)
    shortcuts.register(app, desk, after_ack)
