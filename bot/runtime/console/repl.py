"""The prompt: `/ticket …` as a slash command, a number presses a button, any other
line is a reply in the current ticket's thread (a signed `message` event)."""

from __future__ import annotations

import time
from typing import Any

from bot.runtime.console.blocks import Control, options_of
from bot.runtime.console.display import Display
from bot.runtime.console.fake_slack import ConsoleSlack
from bot.runtime.console.modal import Chooser, ModalFiller
from bot.runtime.console.mrkdwn import plain
from bot.runtime.console.screen import Screen
from bot.runtime.console.signed import SlackSide
from bot.slack.render import escape_mrkdwn

JsonDict = dict[str, Any]
MODAL_WAIT = 20.0  # seconds for the modal to open and fill on a loaded machine
HELP = [
    "/ticket new <subject>   open the new-ticket form (also: /ticket list, show <id>, help)",
    "<number>                press that button or select of the last card or message shown",
    "<any other line>        reply in the current ticket's thread",
    "/thread <id>            show ticket <id>'s card and thread, and reply there from now on",
    "/modal                  fill the open form again (after an error or 'Edit and try again')",
    "/quit                   stop (Ctrl-D too)",
]


class Quit(Exception):
    pass


class Console:
    def __init__(self, side: SlackSide, display: Display, screen: Screen) -> None:
        self.side = side
        self.display = display
        self.slack: ConsoleSlack = display.slack
        self.screen = screen
        self.modal = ModalFiller(side, display, screen)
        self.choose = Chooser(screen)

    def loop(self) -> None:
        prompt = f"#{self.slack.channels[self.side.channel]}> "
        while True:
            try:
                self.handle(self.screen.ask(prompt).strip())
            except (EOFError, Quit):
                return
            except KeyboardInterrupt:
                self.screen.say(["(Ctrl-C: type /quit to stop)"])

    def handle(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        if not line:
            return
        if line.isdigit():
            self.press(int(line))
        elif word == "/ticket":
            self.command(rest.strip())
        elif word in ("/quit", "/exit"):
            raise Quit
        elif word == "/thread":
            self.switch(rest.strip().lstrip("#"))
        elif word == "/modal":
            self.refill()
        elif word in ("/help", "/?"):
            self.screen.say(HELP)
        elif word.startswith("/"):
            self.screen.say([f"{word} is not a command here. Type /help."])
        else:
            self.reply(line)

    # --- slash command and modal --------------------------------------------------

    def command(self, text: str) -> None:
        opens_modal = text.split(" ", 1)[0].lower() == "new"
        before = set(self.slack.views)
        responses = self.display.responses
        if opens_modal:
            self.display.filling.set()
        try:
            ack = self.side.command(text, self.slack.issue_trigger())
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
            view = self.slack.views.get(str(where.get("view_id")), {})
            ack = self.side.view_action(action, view)
        else:
            ack = self.side.message_action(action, where["message"], bool(where.get("ephemeral")))
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
        self.screen.say([f"The console cannot use a {kind} yet."])
        return None

    # --- threads ----------------------------------------------------------------------

    def reply(self, text: str) -> None:
        ticket = self.display.current
        thread_ts = self.display.cards.get(ticket) if ticket else None
        if thread_ts is None:
            self.screen.say(
                ["(no ticket thread yet: this goes to the channel, which the bot ignores)"]
            )
        # Slack escapes &, < and > in what people type before the app sees it
        message = self.slack.post_as_user(
            self.side.channel, self.side.user, escape_mrkdwn(text), thread_ts
        )
        self.side.message_event(message)

    def switch(self, ticket: str) -> None:
        if ticket not in self.display.cards:
            known = ", ".join(f"#{t}" for t in self.display.cards) or "none yet"
            self.screen.say([f"No card for ticket #{ticket} in this channel (cards: {known})."])
            return
        self.display.current = ticket
        self.screen.say(self.display.thread_lines(ticket))


def _has_inputs(view: JsonDict) -> bool:
    return any(b.get("type") == "input" for b in view.get("blocks", []))
