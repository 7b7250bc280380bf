"""Slack's mrkdwn shown in a terminal: what a person would read in Slack.

`*bold*`, `_italic_`, `~strike~` and `` `code` `` become terminal styles (or stay
plain when colour is off); `<url|label>` becomes "label (url)", `<@U1>` "@name",
`<#C1|general>` "#general", `<!here>` "@here"; `&lt;` `&gt;` `&amp;` are unescaped
last, so an escaped `<@U1>` typed by someone shows as typed and never as a mention;
emoji codes become characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import emoji

TOKEN = re.compile(r"<([^<>\n]+)>")
CODE = re.compile(r"```(.+?)```|`([^`\n]+)`", re.DOTALL)
MARKS = {
    "*": re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"),
    "_": re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"),
    "~": re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"),
}
SPECIAL_MENTIONS = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}
#: Slack's names the emoji package does not know under that name
EXTRA_EMOJI = {
    "large_green_circle": "🟢",
    "large_yellow_circle": "🟡",
    "large_red_circle": "🔴",
    "large_blue_circle": "🔵",
    "large_orange_circle": "🟠",
}
HELD = re.compile(r"\x00(\d+)\x00")
EMOJI_CODE = re.compile(r":([a-z0-9_+\-']+):")


@dataclass(frozen=True)
class Style:
    """ANSI styles, or none (NO_COLOR, a pipe): the text reads the same either way."""

    color: bool = False

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def italic(self, text: str) -> str:
        return self._wrap("3", text)

    def strike(self, text: str) -> str:
        return self._wrap("9", text)

    def code(self, text: str) -> str:
        return self._wrap("36", text) if self.color else f"`{text}`"

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def alert(self, text: str) -> str:
        return self._wrap("31", text)

    def link(self, text: str) -> str:
        return self._wrap("4", text)


Names = Callable[[str], str]


def to_text(text: str, names: Names, style: Style) -> str:
    """One mrkdwn string as terminal text; `names` resolves user and channel ids."""
    codes: list[str] = []

    def hold(match: re.Match[str]) -> str:
        codes.append(style.code(_unescape(match.group(1) or match.group(2))))
        return f"\x00{len(codes) - 1}\x00"

    held = CODE.sub(hold, text)  # code is shown as typed: no marks, no links inside
    shown = _formatted(held, names, style)
    return HELD.sub(lambda m: codes[int(m.group(1))], shown)


def plain(text: str) -> str:
    """A plain_text object's text: only emoji codes change (Slack's `emoji: true`)."""
    return _emojize(text)


def _formatted(text: str, names: Names, style: Style) -> str:
    text = TOKEN.sub(lambda token: _token(token.group(1), names, style), text)
    text = MARKS["*"].sub(lambda m: style.bold(m.group(1)), text)
    text = MARKS["_"].sub(lambda m: style.italic(m.group(1)), text)
    text = MARKS["~"].sub(lambda m: style.strike(m.group(1)), text)
    return _emojize(_unescape(text))


def _token(inner: str, names: Names, style: Style) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return style.bold("@" + (label or names(target[1:])))
    if target.startswith("#"):
        return style.bold("#" + (label or names(target[1:])))
    if target.startswith("!"):
        name = target[1:].split("^", 1)[0]
        return style.bold(SPECIAL_MENTIONS.get(name) or label or name)
    shown = target.removeprefix("mailto:")
    if not label or label in (target, shown):
        return style.link(shown)
    return f"{style.link(label)} ({shown})"


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _emojize(text: str) -> str:
    text = emoji.emojize(text, language="alias")
    return EMOJI_CODE.sub(lambda m: EXTRA_EMOJI.get(m.group(1), m.group(0)), text)
