"""Block Kit from the jinja2 templates in bot/slack/templates/ (package data).

Templates produce JSON. Every interpolated value goes through the `json`
filter (so no value can break out of its string), and every untrusted text
through `mrkdwn` first (so nothing from a user or a helpdesk can ping
`@channel`, `@here` or a person, or forge a link).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jinja2

from bot.slack import ids

#: Slack's limit for a section or context text; longer texts are cut with a note.
SECTION_TEXT_LIMIT = 3000


def escape_mrkdwn(text: object) -> str:
    """Slack's three control characters, escaped as Slack documents."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape_slack(text: str) -> str:
    """Undo Slack's escaping of text it sends us (slash-command text, messages)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def truncate(text: object, limit: int = SECTION_TEXT_LIMIT, note: str = "… (cut)") -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - len(note)] + note


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.slack", "templates"),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.do"],
        autoescape=False,  # noqa: S701 (JSON output: the json filter is the escape)
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["json"] = to_json
    env.filters["mrkdwn"] = escape_mrkdwn
    env.filters["truncate_text"] = truncate
    return env


def render(template: str, **context: Any) -> Any:
    """Render `template` and parse it: a view, a message or a list of blocks."""
    text = environment().get_template(template).render(ids=ids, **context)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"template {template} made invalid JSON: {exc}") from exc
