"""Sentences for people: a helpdesk error, a file size, a channel Slack would not post in.

Never a traceback, never a secret. The results are plain text: the render layer
escapes them wherever they go into mrkdwn (bot/slack/render.py).
"""

from __future__ import annotations

from bot.gateway import (
    GatewayError,
    LimitReached,
    NotFound,
    NotOwner,
    OutcomeUnknown,
    TooLarge,
    Unauthorized,
    Unavailable,
)

CHANNEL_PROBLEMS = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
MIB = 1024 * 1024


def explain(error: GatewayError) -> str:
    """A sentence for the person in Slack about what the helpdesk did or did not do."""
    if isinstance(error, OutcomeUnknown):
        return (
            "The helpdesk did not confirm the change in time; it may or may not have "
            "happened. Check with `/ticket list` before trying again."
        )
    if isinstance(error, Unavailable):
        return "The helpdesk is not answering right now. Please try again in a minute."
    if isinstance(error, LimitReached):
        return (
            "The helpdesk allows no more open tickets for this account right now: "
            "close one, or ask an agent."
        )
    if isinstance(error, Unauthorized):
        return (
            "The helpdesk refused the bot's credentials. An admin can run "
            "`ticket-bot check` to see what to fix."
        )
    if isinstance(error, NotOwner):
        return (
            "The helpdesk says this ticket belongs to another account, so the bot can't change it."
        )
    if isinstance(error, TooLarge):
        return f"It is larger than the {size_label(error.limit)} the bot fetches from the helpdesk."
    if isinstance(error, NotFound):
        return "The helpdesk does not know that ticket."
    return f"The helpdesk refused: {error.message}"


def size_label(size: int) -> str:
    """1 KiB, 300 KiB, 2 MiB, 2.5 MiB."""
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    if size >= MIB:
        return f"{size / MIB:.1f} MiB"
    return f"{max(size // 1024, 1)} KiB"


def is_channel_problem(error: str) -> bool:
    return error in CHANNEL_PROBLEMS


def store_down(cannot: str) -> str:
    """The person's answer while Redis is out of reach: `cannot` is what did not happen."""
    return (
        f":warning: I cannot reach my store (Redis) right now, so I {cannot}. "
        "Please try again in a few minutes; if it goes on, tell whoever runs this bot."
    )
