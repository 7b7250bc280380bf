"""`ticket-bot console`: the real Bolt app driven from a terminal.

Every step goes the way it goes in Slack: signed HTTP requests into the app served
on a loopback port, and the app's Web API calls answered by a fake Slack inside
the console (bot/runtime/console/fake_slack.py). No workspace, no real token, no Redis
server; the embedded sandbox helpdesk when TICKET_API_URL is unset.
"""

from __future__ import annotations

import os

from bot.runtime.console.display import Display
from bot.runtime.console.mrkdwn import Style
from bot.runtime.console.repl import Console
from bot.runtime.console.screen import Screen
from bot.runtime.console.session import Session, start_session


def run_console() -> int:
    screen = Screen()
    color = screen.tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    screen.say(["Starting ticket-bot console…"])
    session = start_session()
    try:
        display = Display(session.slack, screen, Style(color=color))
        screen.say(banner(session))
        Console(session.side, display, screen, session.reaction).loop()
    finally:
        screen.say(["Stopping…"])
        session.close()
    return 0


def banner(session: Session) -> list[str]:
    user = session.slack.users[session.side.user]["name"]
    lines = [
        "ticket-bot console: the real app, with a Slack of its own on this machine.",
        f"  helpdesk: {session.helpdesk.description}",
    ]
    if session.helpdesk.web_url:
        lines.append(f"  helpdesk web page: {session.helpdesk.web_url}")
    lines += [
        f"  the bot's log: {session.log_path}",
        f"  new tickets are announced in #agents (TICKET_AGENT_CHANNEL {session.agent_channel})",
        f"You are @{user} in #general. Try /ticket new Printer jam; /help lists the rest.",
    ]
    return lines


__all__ = ["run_console"]
