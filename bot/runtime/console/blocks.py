"""Block Kit as terminal text, faithful enough that a layout bug shows.

Every interactive element gets a number (`[1] Close  [2] Priority: High ▾`) that the
console's prompt presses; a block type this renderer does not know is shown as
`[unsupported block: type]` instead of being skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.runtime.console.mrkdwn import Names, Style, plain, to_text

JsonDict = dict[str, Any]
FIELD_WIDTH = 34
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SELECTS = {"static_select", "multi_static_select", "external_select", "multi_external_select"}


@dataclass
class Control:
    """A button or select a number presses; `where` says which message or view holds it."""

    number: int
    block_id: str
    element: JsonDict
    where: JsonDict = field(default_factory=dict)


@dataclass
class Rendering:
    lines: list[str]
    controls: list[Control]


class BlockRenderer:
    def __init__(self, names: Names, style: Style) -> None:
        self.names = names
        self.style = style

    # --- public ---------------------------------------------------------------

    def message(self, message: JsonDict, first_number: int = 1) -> Rendering:
        """A message: its blocks, or its text when it has none (as Slack shows it)."""
        blocks = message.get("blocks")
        if not blocks:
            lines = self.text(str(message.get("text") or "")).splitlines() or [""]
            lines += [f"📎 {f.get('title') or f.get('name')}" for f in message.get("files", [])]
            return Rendering(lines, [])
        rendering = self.blocks(blocks, first_number)
        rendering.lines += [
            f"📎 {f.get('title') or f.get('name')}" for f in message.get("files", [])
        ]
        return rendering

    def view(self, view: JsonDict, first_number: int = 1) -> Rendering:
        """A modal in a box: title, blocks (inputs with their values), submit and close."""
        title = plain(_text_of(view.get("title")))
        body = self.blocks(view.get("blocks", []), first_number)
        buttons = [f"[{plain(_text_of(view[k]))}]" for k in ("submit", "close") if k in view]
        width = max([len(title) + 4, 40, *(len(line) for line in body.lines)])
        lines = [f"┌─ {self.style.bold(title)} " + "─" * max(0, width - len(title) - 3) + "┐"]
        lines += [f"│ {line}" for line in body.lines]
        lines.append("└─ " + "  ".join(buttons))
        return Rendering(lines, body.controls)

    def blocks(self, blocks: list[JsonDict], first_number: int = 1) -> Rendering:
        rendering = Rendering([], [])
        for block in blocks:
            self._block(block, rendering, first_number)
        return rendering

    def text(self, text: str) -> str:
        return to_text(text, self.names, self.style)

    def text_object(self, obj: Any) -> str:
        if not isinstance(obj, dict):
            return ""
        if obj.get("type") == "mrkdwn":
            return self.text(str(obj.get("text", "")))
        return plain(str(obj.get("text", "")))

    # --- one block ------------------------------------------------------------

    def _block(self, block: JsonDict, out: Rendering, first: int) -> None:
        kind = block.get("type")
        if kind == "section":
            self._section(block, out, first)
        elif kind == "context":
            out.lines.append(self.style.dim("  ".join(self._context_parts(block))))
        elif kind == "actions":
            labels = [self._control(e, block, out, first) for e in block.get("elements", [])]
            out.lines.append("  ".join(labels))
        elif kind == "divider":
            out.lines.append("─" * 40)
        elif kind == "header":
            title = self.text_object(block.get("text"))
            out.lines += [self.style.bold(title), "═" * len(title)]
        elif kind == "input":
            out.lines += self._input(block, out, first)
        elif kind == "image":
            out.lines.append(f"[image: {block.get('alt_text', '')}]")
        else:
            out.lines.append(self.style.alert(f"[unsupported block: {kind}]"))

    def _section(self, block: JsonDict, out: Rendering, first: int) -> None:
        lines = self.text_object(block.get("text")).splitlines() if "text" in block else []
        lines += _columns([self.text_object(f) for f in block.get("fields", [])])
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") != "image":
            lines.append(self._control(accessory, block, out, first))
        out.lines += lines or [""]

    def _context_parts(self, block: JsonDict) -> list[str]:
        parts = []
        for element in block.get("elements", []):
            if element.get("type") == "image":
                parts.append(f"[image: {element.get('alt_text', '')}]")
            else:
                parts.append(self.text_object(element))
        return parts

    def _control(self, element: JsonDict, block: JsonDict, out: Rendering, first: int) -> str:
        number = first + len(out.controls)
        out.controls.append(Control(number, str(block.get("block_id", "")), element))
        return f"[{number}] {self.control_label(element)}"

    def control_label(self, element: JsonDict) -> str:
        kind = element.get("type")
        if kind == "button":
            label = plain(_text_of(element.get("text")))
            return self.style.alert(label) if element.get("style") == "danger" else label
        if kind in SELECTS or kind == "overflow":
            name = plain(_text_of(element.get("placeholder"))) or (
                "…" if kind == "overflow" else ""
            )
            chosen = selected_labels(element)
            return f"{name}: {', '.join(chosen)} ▾" if chosen else f"{name} ▾"
        if kind == "checkboxes":
            ticked = {option.get("value") for option in element.get("initial_options") or []}
            return "  ".join(
                f"{'☑' if option.get('value') in ticked else '☐'} {_label(option)}"
                for option in element.get("options", [])
            )
        return f"{kind} ?"

    def _input(self, block: JsonDict, out: Rendering, first: int) -> list[str]:
        label = plain(_text_of(block.get("label")))
        if block.get("optional"):
            label += " (optional)"
        element = block.get("element") or {}
        # a prefilled value may have several lines: each its own, inside the modal's box
        lines = f"{self.style.bold(label)}: {self.input_value(element)}".splitlines()
        if "hint" in block:
            lines.append(self.style.dim("  " + plain(_text_of(block["hint"]))))
        return lines

    def input_value(self, element: JsonDict) -> str:
        kind = element.get("type")
        if kind == "plain_text_input":
            value = element.get("initial_value")
            return f"[{value}]" if value else f"[ ] {plain(_text_of(element.get('placeholder')))}"
        if kind in SELECTS:
            chosen = selected_labels(element)
            return f"{', '.join(chosen)} ▾" if chosen else "(choose) ▾"
        if kind == "file_input":
            most = int(element.get("max_files", 10))
            return "(a file)" if most == 1 else f"(up to {most} files)"
        return f"[{kind}]"


def selected_labels(element: JsonDict) -> list[str]:
    chosen = element.get("initial_options") or (
        [element["initial_option"]] if element.get("initial_option") else []
    )
    return [plain(_text_of(option.get("text"))) for option in chosen]


def _label(option: JsonDict) -> str:
    return plain(_text_of(option.get("text")))


def options_of(element: JsonDict) -> list[JsonDict]:
    options = list(element.get("options", []))
    for group in element.get("option_groups", []):
        options.extend(group.get("options", []))
    return options


def _text_of(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def _columns(fields: list[str]) -> list[str]:
    """Section fields two by two, as Slack lays them out."""
    lines: list[str] = []
    for left, right in zip(fields[::2], [*fields[1::2], ""], strict=False):
        left_lines, right_lines = left.splitlines() or [""], right.splitlines() or [""]
        for n in range(max(len(left_lines), len(right_lines))):
            a = left_lines[n] if n < len(left_lines) else ""
            b = right_lines[n] if n < len(right_lines) else ""
            lines.append((_pad(a, FIELD_WIDTH) + b).rstrip())
    return lines


def _pad(text: str, width: int) -> str:
    visible = len(_strip_ansi(text))
    return text + " " * max(1, width - visible)


def _strip_ansi(text: str) -> str:
    return ANSI.sub("", text)
