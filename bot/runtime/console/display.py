"""What the console shows of each change in its Slack, and which numbers press what.

A message gets a number when it is first shown (`[m3]`, so that `/react 3` or
`/shortcut 3` can name it); a button or select gets `[1]`, `[2]`… on the last card,
message, modal or App Home shown. A ticket's thread is its card's, or in the agents'
channel its announcement's; each channel has its current one, where typed lines go.
Runs on the fake Slack's server threads; the prompt keeps working meanwhile."""

from __future__ import annotations

import re
import threading
from typing import Any

from bot.runtime.console.blocks import BlockRenderer, Control, Rendering
from bot.runtime.console.fake_slack import BOT_USER, GENERAL, Change, ConsoleSlack
from bot.runtime.console.mrkdwn import Style, plain
from bot.runtime.console.screen import Screen

JsonDict = dict[str, Any]
CARD_TEXT = re.compile(r"^Ticket #(\d+):")
#: bot/slack/templates/agent_announcement.json.j2's text
ANNOUNCEMENT_TEXT = re.compile(r"^New ticket #(\d+):")
THREAD = "    │ "
ONLY_YOU = "  ┊ "
DIRECT = "  ✉ "


class Display:
    def __init__(self, slack: ConsoleSlack, screen: Screen, style: Style) -> None:
        self.slack = slack
        self.screen = screen
        self.style = style
        self.blocks = BlockRenderer(self.name_of, style)
        self.me = ""  # the user id of whoever is at the console now
        self.controls: dict[int, Control] = {}
        #: (channel, ts) of a thread that is a ticket's (its card's or announcement's) -> its id
        self.thread_tickets: dict[tuple[str, str], str] = {}
        self.announcements: set[tuple[str, str]] = set()  # (channel, ts) of announcements
        self.numbered: dict[int, tuple[str, str]] = {}  # [mN] -> (channel, ts)
        self._numbers: dict[tuple[str, str], int] = {}
        self.current: dict[str, str] = {}  # channel -> the ticket whose thread typed lines go to
        self.modal_id: str | None = None
        self.filling = threading.Event()  # the main thread is showing the modal itself
        self.responses = 0
        self._lock = threading.RLock()
        slack.listeners.append(self.on_change)

    def name_of(self, some_id: str) -> str:
        user = self.slack.users.get(some_id)
        if user is not None:
            return str(user["name"])
        return self.slack.channels.get(some_id, some_id)

    # --- changes --------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        with self._lock:
            lines = self._lines(change)
        if lines:
            self.screen.say(lines)

    def _lines(self, change: Change) -> list[str]:
        if change.kind in ("message", "update") and change.channel in self.slack.ims:
            return self._direct_lines(change.channel, change.message, change.kind == "update")
        if change.kind in ("message", "update"):
            return self._message_lines(change.channel, change.message, change.kind == "update")
        if change.kind in ("ephemeral", "response"):
            self.responses += 1
            return self.only_you(change.message)
        if change.kind == "reaction":
            return [self._reaction_line(change)]
        if change.kind == "view" and not self.filling.is_set():
            return self._view_lines(change.view)
        if change.kind == "home" and change.user == self.me:
            return self._home_lines(change.view)
        if change.kind == "refused":
            return [self.style.alert(f"⚠ {change.detail}")]
        return []

    def _message_lines(self, channel: str, message: JsonDict, updated: bool) -> list[str]:
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            return self._thread_lines(channel, message, thread_ts, updated)
        card = self._card_ticket(message)
        announced = _bot_text_match(ANNOUNCEMENT_TEXT, message)
        if (card or announced) and not updated:
            self._enter(channel, message["ts"], str(card or announced), bool(announced))
        where = {"kind": "message", "message": message, "channel": channel}
        rendering = self._numbered(message, where)
        head = f"{self._head(channel, message)}{self._in(channel)}"
        head += " (updated the card):" if updated else ":"
        lines = [self.style.bold(head), *(f"  {line}" for line in rendering.lines)]
        if card and not updated:
            lines.append(self.style.dim(f"  (reply in its thread: type a line; /thread {card})"))
        if announced and not updated:
            there = f"in #{self.name_of(channel)} type a line, or /thread {announced}"
            lines.append(self.style.dim(f"  (its thread is for internal notes: {there})"))
        return lines

    def _thread_lines(
        self, channel: str, message: JsonDict, thread_ts: str, updated: bool
    ) -> list[str]:
        """A reply in a thread; a card posted there (a ticket made of the thread's first
        message) gets its buttons numbered, and typed lines go to that thread."""
        card = self._card_ticket(message)
        if card and not updated:
            self._enter(channel, thread_ts, card, announcement=False)
        where = {"kind": "message", "message": message, "channel": channel}
        rendering = self._numbered(message, where) if card else self.blocks.message(message)
        head = f"{self._head(channel, message)} in the thread of "
        head += f"{self.thread_name(channel, thread_ts)}{self._in(channel)}"
        head += " (updated the card):" if updated else ":"
        return [THREAD + self.style.bold(head), *(THREAD + line for line in rendering.lines)]

    def _enter(self, channel: str, ts: str, ticket: str, announcement: bool) -> None:
        """A ticket's thread begins at `ts`: typed lines in `channel` go there from now on."""
        self.thread_tickets[(channel, ts)] = ticket
        if announcement:
            self.announcements.add((channel, ts))
        self.current[channel] = ticket

    def thread_name(self, channel: str, ts: str) -> str:
        """`ticket #3`, or `ticket #3's announcement`: whose thread starts at `ts`."""
        ticket = self.thread_tickets.get((channel, ts), "?")
        announced = (channel, ts) in self.announcements
        return f"ticket #{ticket}'s announcement" if announced else f"ticket #{ticket}"

    def threads_in(self, channel: str) -> dict[str, str]:
        """Ticket id -> the ts of its thread in `channel` (the latest, should it have two)."""
        with self._lock:
            return {t: ts for (c, ts), t in self.thread_tickets.items() if c == channel}

    def thread_here(self, channel: str) -> str | None:
        """The ts of the thread where a line typed in `channel` goes; None: the channel."""
        ticket = self.current.get(channel)
        return self.threads_in(channel).get(ticket) if ticket else None

    def _in(self, channel: str) -> str:
        """Where a message is, unless it is in #general, where the console starts."""
        return "" if channel == GENERAL else f" in #{self.name_of(channel)}"

    def _direct_lines(self, channel: str, message: JsonDict, updated: bool) -> list[str]:
        """A message in the bot's IM with a person: its Messages tab in Slack."""
        to = self.name_of(self.slack.ims[channel])
        head = f"{self._head(channel, message)} → direct message to @{to}"
        head += " (updated):" if updated else ":"
        rendering = self._numbered(message, {"kind": "message", "message": message})
        return [DIRECT + self.style.bold(head), *(DIRECT + line for line in rendering.lines)]

    def _reaction_line(self, change: Change) -> str:
        face = plain(f":{change.detail}:")
        if not change.user or change.user == BOT_USER:
            return f"{THREAD}{face} on your message ({change.detail})"
        who = "you" if change.user == self.me else self.name_of(change.user)
        number = self._numbers.get((change.channel, str(change.message.get("ts"))))
        on = f"[m{number}]" if number else "a message"
        return f"  {face} {who} reacted to {on} ({change.detail})"

    def _home_lines(self, view: JsonDict) -> list[str]:
        rendering = self.blocks.view(
            {
                **view,
                "title": {"type": "plain_text", "text": f"App Home of {self.name_of(self.me)}"},
            }
        )
        self._take_controls(rendering, {"kind": "view", "view_id": view["id"]})
        return rendering.lines

    def direct_messages(self, user: str) -> list[str]:
        """Every direct message the bot sent `user` (for /dms)."""
        channel = self.slack.im_of(user)
        with self._lock:
            lines: list[str] = []
            for message in list(self.slack.messages.get(channel, [])):
                lines += self._direct_lines(channel, message, False)
            return lines

    def message_numbered(self, number: int) -> tuple[str, JsonDict] | None:
        """The channel and the message as Slack has it now, of [m`number`]."""
        found = self.numbered.get(number)
        if found is None:
            return None
        channel, ts = found
        with self.slack.changed:
            for message in self.slack.messages.get(channel, []):
                if message["ts"] == ts:
                    return channel, dict(message)
        return None

    def only_you(self, message: JsonDict) -> list[str]:
        where = {"kind": "message", "message": message, "ephemeral": True}
        rendering = self._numbered(message, where)
        head = self.style.dim("ticket-bot (only you can see this):")
        return [f"  {head}", *(ONLY_YOU + line for line in rendering.lines)]

    def _view_lines(self, view: JsonDict) -> list[str]:
        if view.get("type") != "modal":
            return []
        self.modal_id = view["id"]
        rendering = self.blocks.view(view)
        self._take_controls(rendering, {"kind": "view", "view_id": view["id"]})
        lines = rendering.lines
        if any(b.get("type") == "input" for b in view.get("blocks", [])):
            lines.append(self.style.dim("(type /modal to fill this form)"))
        return lines

    def view_lines(self, view: JsonDict) -> list[str]:
        with self._lock:
            return self._view_lines(view)

    # --- helpers ----------------------------------------------------------------------

    def _numbered(self, message: JsonDict, where: JsonDict) -> Rendering:
        rendering = self.blocks.message(message)
        self._take_controls(rendering, where)
        return rendering

    def _take_controls(self, rendering: Rendering, where: JsonDict) -> None:
        if rendering.controls:
            for control in rendering.controls:
                control.where = where
            self.controls = {c.number: c for c in rendering.controls}

    def _head(self, channel: str, message: JsonDict) -> str:
        """`[m3] you`: the message's number, and who wrote it."""
        key = (channel, str(message["ts"]))
        number = self._numbers.get(key)
        if number is None:
            number = self._numbers[key] = len(self._numbers) + 1
            self.numbered[number] = key
        return f"[m{number}] {self._author(message)}"

    def _author(self, message: JsonDict) -> str:
        user = str(message.get("user"))
        if user == BOT_USER or message.get("bot_id"):
            return "ticket-bot"
        return "you" if user == self.me else self.name_of(user)

    @staticmethod
    def _card_ticket(message: JsonDict) -> str | None:
        return _bot_text_match(CARD_TEXT, message)

    def thread_lines(self, channel: str, ticket: str) -> list[str]:
        """A card or announcement as it is now, and its whole thread (for /thread)."""
        ts = self.threads_in(channel)[ticket]
        with self._lock:
            messages = self.slack.thread_of(channel, ts)
            lines: list[str] = []
            for message in messages:
                if message["ts"] == ts:
                    lines += self._message_lines(channel, message, False)
                else:
                    lines += self._thread_lines(channel, message, ts, False)
            self.current[channel] = ticket
            return lines


def _bot_text_match(pattern: re.Pattern[str], message: JsonDict) -> str | None:
    """The ticket id in a message of the bot's whose text matches `pattern`."""
    match = pattern.match(str(message.get("text", "")))
    return match.group(1) if match and message.get("bot_id") else None
