"""Slack's message markup turned into plain text for a helpdesk.

Slack sends message text with `&`, `<`, `>` escaped and with "angle bracket"
tokens for people, channels, links and special mentions. The helpdesk shows
plain text, so: `<@U1>` becomes "@Ada Lovelace", `<#C1|general>` "#general",
`<https://x|label>` "label (https://x)", `<https://x>` the URL, `<!here>`
"@here", `<!date^…|fallback>` the fallback; emoji codes become characters
(the `emoji` package knows Slack's short names, including aliases such as
`:+1:` and `:thumbsup:`); unknown codes such as custom emoji stay as typed.
Bold, italic, strike and code marks are left as typed: they read well as text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import emoji

from bot.slack.render import unescape_slack

TOKEN = re.compile(r"<([^<>]+)>")
SPECIAL_MENTIONS = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


def to_plain_text(text: str, person_name: Callable[[str], str]) -> str:
    """`text` as Slack sent it, as plain text; `person_name` resolves a user id."""
    plain = TOKEN.sub(lambda token: _token(token.group(1), person_name), text)
    return emoji.emojize(unescape_slack(plain), language="alias")


def _token(inner: str, person_name: Callable[[str], str]) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return "@" + (person_name(target[1:]) if target[1:] else label)
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        return _special(target[1:], label)
    return _link(target, label)


def _special(command: str, label: str) -> str:
    name = command.split("^", 1)[0]
    if name in SPECIAL_MENTIONS:
        return SPECIAL_MENTIONS[name]
    if name == "subteam":
        return label or "@group"
    return label or command  # dates and anything newer: Slack's own fallback text


def _link(url: str, label: str) -> str:
    shown = url.removeprefix("mailto:")
    if not label or label in (url, shown):
        return shown
    return f"{label} ({shown})"
