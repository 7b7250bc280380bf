"""Filling a modal at prompts, and submitting it as Slack would (view_submission).

Text inputs are prompts showing their value as the default; selects are numbered
choices; a file input takes a path (or Enter to skip). Errors from the ack's
`response_action: errors` are shown next to their fields, which are asked again.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any

from bot.runtime.console.blocks import options_of
from bot.runtime.console.display import Display
from bot.runtime.console.mrkdwn import plain
from bot.runtime.console.screen import Screen
from bot.runtime.console.signed import SlackSide

JsonDict = dict[str, Any]


class Chooser:
    """Numbered choices at a prompt, for selects in modals and on cards."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen

    def one(self, label: str, options: list[JsonDict], current: JsonDict | None) -> JsonDict | None:
        self._list(options, [current] if current else [])
        keep = f", Enter keeps {_label(current)}" if current else ", Enter for none"
        while True:
            answer = self.screen.ask(f"{label} [1-{len(options)}{keep}]: ").strip()
            if not answer:
                return current
            if answer.isdigit() and 1 <= int(answer) <= len(options):
                return options[int(answer) - 1]
            self.screen.say([f"  type a number from 1 to {len(options)}"])

    def many(self, label: str, options: list[JsonDict], current: list[JsonDict]) -> list[JsonDict]:
        self._list(options, current)
        prompt = f"{label} [numbers like 1,3; Enter keeps the marked ones; - for none]: "
        while True:
            answer = self.screen.ask(prompt).strip()
            if not answer:
                return current
            if answer == "-":
                return []
            numbers = [p.strip() for p in answer.split(",")]
            if all(n.isdigit() and 1 <= int(n) <= len(options) for n in numbers):
                return [options[int(n) - 1] for n in dict.fromkeys(numbers)]
            self.screen.say([f"  type numbers from 1 to {len(options)}, separated by commas"])

    def _list(self, options: list[JsonDict], marked: list[JsonDict]) -> None:
        values = {o.get("value") for o in marked}
        self.screen.say(
            [
                f"  {'*' if o.get('value') in values else ' '}{n}) {_label(o)}"
                for n, o in enumerate(options, 1)
            ]
        )


class ModalFiller:
    def __init__(self, side: SlackSide, display: Display, screen: Screen) -> None:
        self.side = side
        self.display = display
        self.screen = screen
        self.choose = Chooser(screen)

    def fill(self, view: JsonDict) -> None:
        """Ask every input, submit; ask again what the ack's errors name."""
        self.screen.say(self.display.blocks.view(view).lines)
        answers: dict[str, JsonDict] = {}
        errors: dict[str, str] = {}
        while True:
            for block in _inputs(view):
                if not errors or block["block_id"] in errors:
                    answers[block["block_id"]] = self._ask(
                        block, answers.get(block["block_id"]), errors
                    )
            view["state"] = {"values": _values(view, answers)}
            submitted_hash = self.display.slack.views.get(view["id"], {}).get("hash")
            ack = self.side.view_submission(view) or {}
            if ack.get("response_action") != "errors":
                self._after(view, ack, submitted_hash)
                return
            errors = {str(k): str(v) for k, v in (ack.get("errors") or {}).items()}

    def _after(self, view: JsonDict, ack: JsonDict, submitted_hash: Any) -> None:
        action = ack.get("response_action")
        slack = self.display.slack
        if action in ("update", "push") and isinstance(ack.get("view"), dict):
            current = slack.views.get(view["id"], {})
            if action == "push" or current.get("hash") == submitted_hash:
                # else the app updated the view after this ack was written: keep the newer one
                slack.put_view(ack["view"], view["id"] if action == "update" else None)
        elif action in (None, "clear"):
            self.display.modal_id = None
            self.screen.say([self.display.style.dim("(the modal closed)")])

    def _ask(self, block: JsonDict, before: JsonDict | None, errors: dict[str, str]) -> JsonDict:
        element = block.get("element") or {}
        label = plain(str((block.get("label") or {}).get("text", "")))
        if block["block_id"] in errors:
            self.screen.say([self.display.style.alert(f"  ✗ {label}: {errors[block['block_id']]}")])
        kind = str(element.get("type"))
        state: JsonDict = {"type": kind}
        if kind == "plain_text_input":
            state["value"] = self._text(label, element, before, block.get("optional", False))
        elif kind in ("static_select", "external_select"):
            current = (before or {}).get("selected_option", element.get("initial_option"))
            state["selected_option"] = self.choose.one(
                label, self._options(block, element), current
            )
        elif kind == "multi_static_select":
            current = (before or {}).get("selected_options", element.get("initial_options") or [])
            state["selected_options"] = self.choose.many(label, options_of(element), current)
        elif kind == "file_input":
            state["files"] = self._file(label)
        else:
            state["value"] = self.screen.ask(f"{label} ({kind}): ") or None
        return state

    def _text(
        self, label: str, element: JsonDict, before: JsonDict | None, optional: bool
    ) -> str | None:
        default = (before or {}).get("value", element.get("initial_value")) or ""
        multiline = bool(element.get("multiline"))
        hint = " (one line; \\n starts a new one)" if multiline else ""
        # a prefilled text of several lines (a message's, for a shortcut) on the one line
        one_line = default.replace("\n", "\\n") if multiline else default
        shown = f" [{one_line}]" if default else (" (optional)" if optional else "")
        answer = self.screen.ask(f"{label}{hint}{shown}: ")
        if answer and multiline:
            answer = answer.replace("\\n", "\n")
        return answer or default or None

    def _options(self, block: JsonDict, element: JsonDict) -> list[JsonDict]:
        if element.get("type") != "external_select":
            return options_of(element)
        typed = self.screen.ask("search (Enter lists all): ")
        view_id = self.display.modal_id or ""
        view = self.display.slack.views.get(view_id, {})
        ack = self.side.block_suggestion(view, block["block_id"], element["action_id"], typed) or {}
        return list(ack.get("options") or [])

    def _file(self, label: str) -> list[JsonDict]:
        while True:
            answer = self.screen.ask(f"{label} (a file's path, Enter to skip): ").strip()
            if not answer:
                return []
            path = Path(answer).expanduser()
            if path.is_file():
                mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return [self.display.slack.add_file(path.name, path.read_bytes(), mimetype)]
            self.screen.say([f"  no file at {path}"])


def _inputs(view: JsonDict) -> list[JsonDict]:
    return [b for b in view.get("blocks", []) if b.get("type") == "input" and b.get("element")]


def _values(view: JsonDict, answers: dict[str, JsonDict]) -> JsonDict:
    """Slack's state.values: every input block, by block_id and action_id."""
    values: JsonDict = {}
    for block in _inputs(view):
        action_id = block["element"].get("action_id")
        values[block["block_id"]] = {action_id: json.loads(json.dumps(answers[block["block_id"]]))}
    return values


def _label(option: JsonDict | None) -> str:
    return plain(str(((option or {}).get("text") or {}).get("text", "")))
