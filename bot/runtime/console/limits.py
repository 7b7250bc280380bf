"""The Block Kit limits Slack enforces, checked by the console's fake Slack.

A layout that Slack would refuse is refused here too, with Slack's error and a
json-pointer, so the console shows the bug instead of a picture Slack would never draw.
"""

from __future__ import annotations

from typing import Any

JsonDict = dict[str, Any]
Problem = tuple[str, str]  # (message, json-pointer)

MAX_MESSAGE_TEXT = 40_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_VALUE = 2000
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_ID = 255
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
KNOWN_BLOCKS = frozenset(
    {"section", "context", "actions", "divider", "header", "image", "input", "rich_text", "file"}
)


def _length(obj: Any) -> int:
    return len(str(obj.get("text", ""))) if isinstance(obj, dict) else 0


def _too_long(limit: int, pointer: str) -> Problem:
    return f"must be less than {limit + 1} characters", pointer


def _too_many(limit: int, pointer: str) -> Problem:
    return f"no more than {limit} items allowed", pointer


def message_problems(blocks: Any, text: Any) -> list[Problem]:
    if text is not None and len(str(text)) > MAX_MESSAGE_TEXT:
        return [("msg_too_long", "/text")]
    if blocks is None:
        return []
    problems = block_problems(blocks, "/blocks")
    if isinstance(blocks, list) and len(blocks) > MAX_MESSAGE_BLOCKS:
        problems.append(_too_many(MAX_MESSAGE_BLOCKS, "/blocks"))
    return problems


def view_problems(view: JsonDict) -> list[Problem]:
    blocks = view.get("blocks", [])
    problems = block_problems(blocks, "/view/blocks")
    if isinstance(blocks, list) and len(blocks) > MAX_VIEW_BLOCKS:
        problems.append(_too_many(MAX_VIEW_BLOCKS, "/view/blocks"))
    if len(str(view.get("private_metadata", ""))) > MAX_PRIVATE_METADATA:
        problems.append(_too_long(MAX_PRIVATE_METADATA, "/view/private_metadata"))
    if view.get("type") == "modal":
        problems += _modal_problems(view)
    return problems


def _modal_problems(view: JsonDict) -> list[Problem]:
    problems: list[Problem] = []
    if not isinstance(view.get("title"), dict):
        problems.append(("missing required field: title", "/view/title"))
    for key in ("title", "submit", "close"):
        if _length(view.get(key)) > MAX_VIEW_TITLE:
            problems.append(_too_long(MAX_VIEW_TITLE, f"/view/{key}/text"))
    has_input = any(b.get("type") == "input" for b in view.get("blocks", []) if isinstance(b, dict))
    if has_input and "submit" not in view:
        problems.append(("submit is required when an input block is present", "/view"))
    return problems


def block_problems(blocks: Any, prefix: str) -> list[Problem]:
    if not isinstance(blocks, list):
        return [("must be an array", prefix)]
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        pointer = f"{prefix}/{index}"
        problems += _one_block(block, pointer)
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if block_id in seen:
            problems.append((f"duplicate block_id {block_id}", f"{pointer}/block_id"))
        if isinstance(block_id, str):
            seen.add(block_id)
            if len(block_id) > MAX_ID:
                problems.append(_too_long(MAX_ID, f"{pointer}/block_id"))
    return problems


def _one_block(block: Any, pointer: str) -> list[Problem]:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return [("missing required field: type", pointer)]
    kind = block["type"]
    if kind not in KNOWN_BLOCKS:
        return [(f"unsupported type: {kind}", f"{pointer}/type")]
    if kind == "section":
        return _section(block, pointer)
    if kind == "context":
        return _context(block, pointer)
    if kind == "header" and _length(block.get("text")) > MAX_HEADER_TEXT:
        return [_too_long(MAX_HEADER_TEXT, f"{pointer}/text")]
    if kind == "actions":
        elements = block.get("elements", [])
        problems = [_too_many(MAX_ACTIONS_ELEMENTS, f"{pointer}/elements")]
        problems = problems if len(elements) > MAX_ACTIONS_ELEMENTS else []
        for i, element in enumerate(elements):
            problems += _element(element, f"{pointer}/elements/{i}")
        return problems
    if kind == "input":
        return _element(block.get("element") or {}, f"{pointer}/element")
    return []


def _section(block: JsonDict, pointer: str) -> list[Problem]:
    problems: list[Problem] = []
    if _length(block.get("text")) > MAX_SECTION_TEXT:
        problems.append(_too_long(MAX_SECTION_TEXT, f"{pointer}/text"))
    fields = block.get("fields", [])
    if len(fields) > MAX_SECTION_FIELDS:
        problems.append(_too_many(MAX_SECTION_FIELDS, f"{pointer}/fields"))
    for i, text_field in enumerate(fields):
        if _length(text_field) > MAX_FIELD_TEXT:
            problems.append(_too_long(MAX_FIELD_TEXT, f"{pointer}/fields/{i}"))
    if "text" not in block and "fields" not in block:
        problems.append(("must provide text or fields", pointer))
    if isinstance(block.get("accessory"), dict):
        problems += _element(block["accessory"], f"{pointer}/accessory")
    return problems


def _context(block: JsonDict, pointer: str) -> list[Problem]:
    elements = block.get("elements", [])
    problems = [_too_many(MAX_CONTEXT_ELEMENTS, f"{pointer}/elements")]
    problems = problems if len(elements) > MAX_CONTEXT_ELEMENTS else []
    for i, element in enumerate(elements):
        if _length(element) > MAX_CONTEXT_TEXT:
            problems.append(_too_long(MAX_CONTEXT_TEXT, f"{pointer}/elements/{i}/text"))
    return problems


def _element(element: JsonDict, pointer: str) -> list[Problem]:
    problems: list[Problem] = []
    if len(str(element.get("action_id", ""))) > MAX_ID:
        problems.append(_too_long(MAX_ID, f"{pointer}/action_id"))
    if element.get("type") == "button":
        if _length(element.get("text")) > MAX_BUTTON_TEXT:
            problems.append(_too_long(MAX_BUTTON_TEXT, f"{pointer}/text"))
        if len(str(element.get("value", ""))) > MAX_VALUE:
            problems.append(_too_long(MAX_VALUE, f"{pointer}/value"))
    options = element.get("options")
    if isinstance(options, list):
        if len(options) > MAX_OPTIONS:
            problems.append(_too_many(MAX_OPTIONS, f"{pointer}/options"))
        for i, option in enumerate(options):
            problems += _option(option, f"{pointer}/options/{i}")
    return problems


def _option(option: JsonDict, pointer: str) -> list[Problem]:
    problems: list[Problem] = []
    if _length(option.get("text")) > MAX_OPTION_TEXT:
        problems.append(_too_long(MAX_OPTION_TEXT, f"{pointer}/text"))
    if len(str(option.get("value", ""))) > MAX_OPTION_VALUE:
        problems.append(_too_long(MAX_OPTION_VALUE, f"{pointer}/value"))
    return problems
