"""The prompt: `/ticket …` as a slash command, a number presses a button, any other
line is a reply in the current ticket's thread (a signed `message` event); `/react`,
`/shortcut`, `/home`, `/as` and `/channel` do what a person does with a message, the
Home tab, another account and another channel (#agents, TICKET_AGENT_CHANNEL) in Slack."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from bot.runtime.console.blocks import Control, options_of
from bot.runtime.console.display import Display
from bot.runtime.console.fake_slack import ApiError, ConsoleSlack
from bot.runtime.console.modal import Chooser, ModalFiller
from bot.runtime.console.mrkdwn import plain
from bot.runtime.console.screen import Screen
from bot.runtime.console.signed import SlackSide
from bot.slack.render import as_mrkdwn

JsonDict = dict[str, Any]
MODAL_WAIT = 20.0  # seconds for the modal to open and fill on a loaded machine
#: app-manifest.yml's message shortcut "Create ticket"
SHORTCUT = "ticket_from_message"
HELP = [
    "/ticket new <subject>   open the new-ticket form (also: /ticket list, show <id>, help)",
    "<number>                press that button or select of the last card, message or home shown",
    "<any other line>        reply in the current ticket's thread (in the channel before any)",
    "/post <text>            post a message in the channel itself, not in a thread",
    "/react <m> [emoji]      react to message [m<m>] (default :{reaction}:, which makes a ticket)",
    "/shortcut <m>           the message shortcut 'Create ticket' on message [m<m>]",
    "/home                   open the bot's Home tab: your tickets, the direct-message setting",
    "/dms                    the bot's direct messages to you (they also show as they arrive)",
    "/as <name>              be another person from now on (/as alone: who you are)",
    "/thread <id>            show ticket <id>'s card and thread, and reply there from now on",
    "/channel <name>         go to #general or #agents, where each new ticket is announced",
    "                        (/agents, /general); in #agents /thread <id> is the announcement's",
    "                        thread: replies there are for agents, never for the requester",
    "/modal                  fill the open form again (after an error or 'Edit and try again')",
    "/quit                   stop (Ctrl-D too)",
]


class Quit(Exception):
    pass


class Console:
    def __init__(
        self, side: SlackSide, display: Display, screen: Screen, reaction: str = "ticket"
    ) -> None:
        self.side = side
        self.display = display
        self.slack: ConsoleSlack = display.slack
        self.screen = screen
        self.modal = ModalFiller(side, display, screen)
        self.choose = Chooser(screen)
        self.reaction = reaction  # TICKET_REACTION: what /react adds unless told
        self.first_user = side.user
        display.me = side.user

    def loop(self) -> None:
        while True:
            try:
                self.handle(self.screen.ask(self._prompt()).strip())
            except (EOFError, Quit):
                return
            except KeyboardInterrupt:
                self.screen.say(["(Ctrl-C: type /quit to stop)"])
            except httpx.HTTPStatusError as exc:
                status = exc.response.status_code
                self.screen.say([self.display.style.alert(f"⚠ the app answered HTTP {status}")])

    def _prompt(self) -> str:
        channel = f"#{self.slack.channels[self.side.channel]}> "
        if self.side.user == self.first_user:
            return channel
        return f"@{self.slack.users[self.side.user]['name']} {channel}"

    def handle(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if not line:
            return
        if line.isdigit():
            self.press(int(line))
        elif word == "/ticket":
            self.command(rest)
        elif word in ("/quit", "/exit"):
            raise Quit
        elif word in self._commands():
            self._commands()[word](rest)
        elif word in ("/help", "/?"):
            self.screen.say([line.format(reaction=self.reaction) for line in HELP])
        elif word.startswith("/"):
            self.screen.say([f"{word} is not a command here. Type /help."])
        else:
            self.reply(line)

    def _commands(self) -> dict[str, Callable[[str], None]]:
        return {
            "/thread": lambda rest: self.switch(rest.lstrip("#")),
            "/modal": lambda rest: self.refill(),
            "/post": self.post,
            "/react": self.react,
            "/shortcut": self.shortcut,
            "/ticket-from": self.shortcut,
            "/home": lambda rest: self.home(),
            "/dms": lambda rest: self.direct_messages(),
            "/as": self.act_as,
            "/channel": self.go_to,
            "/agents": lambda rest: self.go_to("agents"),
            "/general": lambda rest: self.go_to("general"),
        }

    # --- slash command and modal --------------------------------------------------

    def command(self, text: str) -> None:
        opens_modal = text.split(" ", 1)[0].lower() == "new"
        self._request(lambda: self.side.command(text, self.slack.issue_trigger()), opens_modal)

    def _request(self, send: Callable[[], JsonDict | None], opens_modal: bool) -> None:
        """Send what a person's action makes Slack send; fill the modal it opens."""
        before = set(self.slack.views)
        responses = self.display.responses
        if opens_modal:
            self.display.filling.set()
        try:
            ack = send()
            if ack and (ack.get("text") or ack.get("blocks")):
                self.screen.say(self.display.only_you(ack))
            if opens_modal:
                self._fill_new_modal(before, responses)
        finally:
            self.display.filling.clear()

    def _fill_new_modal(self, before: set[str], responses: int) -> None:
        view = self._wait(
            lambda: self._new_view(before), lambda: self.display.responses > responses
        )
        if view is None:
            if self.display.responses == responses:
                self.screen.say(["(no form opened: the bot's log may say why)"])
            return
        self.display.modal_id = view["id"]
        if not _has_inputs(view):
            self.screen.say(self.display.blocks.view(view).lines)
            view = self._wait(lambda: self._form(view["id"]), lambda: False) or view
        if _has_inputs(view):
            self.modal.fill(view)
        self.display.filling.clear()
        latest = self.slack.views.get(view["id"])
        if latest is not None and latest.get("hash") != view.get("hash"):
            self.screen.say(self.display.view_lines(latest))

    def _new_view(self, before: set[str]) -> JsonDict | None:
        new = [v for k, v in self.slack.views.items() if k not in before]
        return new[-1] if new else None

    def _form(self, view_id: str) -> JsonDict | None:
        view = self.slack.views.get(view_id)
        return view if view is not None and _has_inputs(view) else None

    def _wait(self, found: Any, give_up: Any) -> JsonDict | None:
        deadline = time.monotonic() + MODAL_WAIT
        with self.slack.changed:
            while time.monotonic() < deadline:
                result = found()
                if result is not None or give_up():
                    return result  # type: ignore[no-any-return]
                self.slack.changed.wait(0.2)
        return None

    def refill(self) -> None:
        view = self.slack.views.get(self.display.modal_id or "")
        if view is None or not _has_inputs(view):
            self.screen.say(["No form is open. /ticket new opens one."])
            return
        self.display.filling.set()
        try:
            self.modal.fill(view)
        finally:
            self.display.filling.clear()

    # --- buttons and selects ---------------------------------------------------------

    def press(self, number: int) -> None:
        control = self.display.controls.get(number)
        if control is None:
            self.screen.say([f"There is no [{number}] on the last card or message shown."])
            return
        action = self._action(control)
        if action is None:
            return
        where = control.where
        if where.get("kind") == "view":
            view = self.slack.view_by_id(str(where.get("view_id"))) or {}
            ack = self.side.view_action(action, view)
        else:
            ack = self.side.message_action(
                action, where["message"], bool(where.get("ephemeral")), where.get("channel")
            )
        if ack and (ack.get("text") or ack.get("blocks")):
            self.screen.say(self.display.only_you(ack))

    def _action(self, control: Control) -> JsonDict | None:
        element = control.element
        kind = element.get("type")
        action: JsonDict = {
            "type": kind,
            "action_id": element.get("action_id"),
            "block_id": control.block_id,
        }
        label = plain(str((element.get("placeholder") or {}).get("text") or "Choose"))
        if kind == "button":
            return {**action, "value": element.get("value"), "text": element.get("text")}
        if kind in ("static_select", "overflow"):
            chosen = self.choose.one(label, options_of(element), element.get("initial_option"))
            return {**action, "selected_option": chosen} if chosen else None
        if kind == "multi_static_select":
            current = element.get("initial_options") or []
            return {
                **action,
                "selected_options": self.choose.many(label, options_of(element), current),
            }
        if kind == "checkboxes":
            return {**action, "selected_options": self._ticked(element)}
        self.screen.say([f"The console cannot use a {kind} yet."])
        return None

    def _ticked(self, element: JsonDict) -> list[JsonDict]:
        """A click on a lone checkbox toggles it; with several, choose which are ticked."""
        options = options_of(element)
        current = element.get("initial_options") or []
        if len(options) == 1:
            return [] if current else options
        return self.choose.many("Ticked", options, current)

    # --- messages: reactions and the shortcut ---------------------------------------

    def post(self, text: str) -> None:
        if not text:
            self.screen.say(["Usage: /post <text> (a message in the channel, not in a thread)"])
            return
        self._post(text, None)

    def react(self, rest: str) -> None:
        number, _, name = rest.partition(" ")
        name = name.strip().strip(":") or self.reaction
        found = self._message(number, "/react <m> [emoji]")
        if found is None:
            return
        if not name:
            self.screen.say(["TICKET_REACTION is empty: name the emoji, /react <m> <emoji>."])
            return
        try:
            self.slack.react_as_user(self.side.channel, found["ts"], self.side.user, name)
        except ApiError as exc:
            self.screen.say([f"Slack refused the reaction: {exc.error}"])
            return
        self.side.reaction_added(found, name)

    def shortcut(self, rest: str) -> None:
        message = self._message(rest, "/shortcut <m>")
        if message is not None:
            self._request(lambda: self.side.shortcut(message, SHORTCUT), opens_modal=True)

    def _message(self, number: str, usage: str) -> JsonDict | None:
        """The message shown as [m`number`] in the console's channel, or None (said why)."""
        digits = number.strip().removeprefix("[").removesuffix("]").removeprefix("m")
        found = self.display.message_numbered(int(digits)) if digits.isdigit() else None
        if not digits.isdigit():
            self.screen.say([f"Usage: {usage}, with m the number shown as [m3] before a message."])
        elif found is None or found[0] != self.side.channel:
            where = f"#{self.slack.channels[self.side.channel]}"
            self.screen.say([f"There is no message [m{digits}] in {where}."])
        else:
            return found[1]
        return None

    # --- App Home, direct messages, people -------------------------------------------

    def home(self) -> None:
        """The person opens the Home tab; it shows when the app has published it."""
        user = self.side.user
        shown = self.slack.homes.get(user, {}).get("hash")
        self.side.app_home_opened()
        published = self._wait(
            lambda: self.slack.homes.get(user) if self._home_changed(user, shown) else None,
            lambda: False,
        )
        if published is None:
            self.screen.say(["(the App Home did not come: the bot's log may say why)"])

    def _home_changed(self, user: str, shown: Any) -> bool:
        home = self.slack.homes.get(user)
        return home is not None and home.get("hash") != shown

    def direct_messages(self) -> None:
        lines = self.display.direct_messages(self.side.user)
        self.screen.say(lines or ["(the bot has sent you no direct message yet)"])

    def act_as(self, name: str) -> None:
        name = name.lstrip("@")
        if name:
            user = self.slack.user_named(name) or self.slack.add_user(name)
            self.side.user = self.display.me = user
            self._forget_views()
        who = self.slack.users[self.side.user]["name"]
        role = "an agent" if self.side.user == self.first_user else "not an agent"
        self.screen.say([f"You are @{who} ({role}; /as <name> to be someone else)."])

    def _forget_views(self) -> None:
        """A modal or App Home is one person's own: the next person cannot press on it."""
        controls = self.display.controls
        if any(c.where.get("kind") == "view" for c in controls.values()):
            self.display.controls = {}
        self.display.modal_id = None

    # --- threads ----------------------------------------------------------------------

    def reply(self, text: str) -> None:
        thread_ts = self.display.thread_here(self.side.channel)
        if thread_ts is None:
            self.screen.say(
                ["(no ticket thread yet: this goes to the channel; /react makes a ticket of it)"]
            )
        self._post(text, thread_ts)

    def _post(self, text: str, thread_ts: str | None) -> None:
        # Slack escapes &, < and > in what people type before the app sees it
        message = self.slack.post_as_user(
            self.side.channel, self.side.user, str(as_mrkdwn(text)), thread_ts
        )
        self.side.message_event(message)

    def switch(self, ticket: str) -> None:
        channel = self.side.channel
        threads = self.display.threads_in(channel)
        if ticket not in threads:
            known = ", ".join(f"#{t}" for t in threads) or "none yet"
            where = f"#{self.slack.channels[channel]}"
            self.screen.say([f"No thread of ticket #{ticket} in {where} (tickets: {known})."])
            return
        self.screen.say(self.display.thread_lines(channel, ticket))

    def go_to(self, name: str) -> None:
        """Another channel of the console's Slack: lines typed go there from now on."""
        name = name.strip().lstrip("#")
        channel = self.slack.channel_named(name) if name else None
        if channel is None:
            known = ", ".join(f"#{n}" for n in self.slack.channels.values())
            self.screen.say([f"Usage: /channel <name>, one of {known}."])
            return
        self.side.channel = channel
        thread_ts = self.display.thread_here(channel)
        goes = (
            f"the thread of {self.display.thread_name(channel, thread_ts)} (/thread <id> switches)"
            if thread_ts
            else "the channel itself until a ticket's thread begins here"
        )
        self.screen.say([f"You are in #{name}: a line you type goes to {goes}."])


def _has_inputs(view: JsonDict) -> bool:
    return any(b.get("type") == "input" for b in view.get("blocks", []))
