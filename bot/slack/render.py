"""Block Kit from the jinja2 templates in bot/slack/templates/ (package data).

Templates produce JSON: every interpolated value goes through the `json` filter
(or a macro that uses it), so no value can break out of its string.

Mrkdwn is escaped by default. Every mrkdwn text (the `md`, `section` and
`context` macros, a message's `text`) goes through `mrkdwn_json`, which escapes
`&`, `<` and `>` in anything that is not marked: `Mrkdwn`, text the code built as
mrkdwn itself, or markup jinja2 built from a template. So nothing a person or a
helpdesk wrote can ping `@channel`, `@here` or someone, or make a link.

- In templates, a value needs nothing: joined with `~` to strings it is escaped
  where it lands. `x|mrkdwn` marks x escaped; jinja2's autoescaping then escapes
  whatever else a `~` joins to it (as HTML; `as_mrkdwn` gives the quotes back).
  A link the bot makes is `url|link(label)`.
- In Python, pass plain text (an f-string of anything is fine); where the bot's own
  mrkdwn needs `<` (`<#C1>`), build `Mrkdwn("posted in <#{}>").format(channel)`:
  `format`, `+`, `%` and `join` escape whatever is not `Mrkdwn`.
"""

from __future__ import annotations

import json
import re
import uuid
from functools import cache
from typing import Any, TypeVar

import jinja2
from markupsafe import Markup

from bot.slack import ids

#: Slack's limit for a section or context text; longer texts are cut with a note.
SECTION_TEXT_LIMIT = 3000
#: what markupsafe turns quotes into; Slack shows only its own three entities as characters
HTML_QUOTES = (("&#34;", '"'), ("&#39;", "'"))
#: an entity cut in half at the end of a truncated text
PARTIAL_ENTITY = re.compile(r"&[#a-z0-9]*$")

Text = TypeVar("Text", bound=str)


class Mrkdwn(Markup):
    """Mrkdwn the bot built: it reaches Slack as it is. Whatever is joined to it with
    `+`, `%`, `format` or `join` is escaped unless it is `Mrkdwn` too."""

    __slots__ = ()

    @classmethod
    def escape(cls, s: Any, /) -> Mrkdwn:
        return as_mrkdwn(s)


def as_mrkdwn(value: object) -> Mrkdwn:
    """`value` as mrkdwn: `Mrkdwn` unchanged, anything else escaped as Slack documents."""
    if isinstance(value, Mrkdwn):
        return value
    if isinstance(value, Markup):  # a template's own text, its values HTML-escaped by jinja2
        text = str(value)
        for entity, quote in HTML_QUOTES:
            text = text.replace(entity, quote)
        return Mrkdwn(text)
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Mrkdwn(text)


def link(url: object, label: object) -> Mrkdwn:
    """A link the bot makes, `<url|label>`, both parts escaped."""
    return Mrkdwn("<{}|{}>").format(url, label)


def unescape_slack(text: str) -> str:
    """Undo Slack's escaping of text it sends us (slash-command text, messages)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def truncate(text: Text, limit: int = SECTION_TEXT_LIMIT, note: str = "… (cut)") -> Text:
    """`text` cut to `limit` characters with `note`; marked text stays marked, and an
    entity (`&amp;`) is not cut in half."""
    if len(text) <= limit:
        return text
    kept = text[: limit - len(note)]
    if isinstance(text, Markup):
        kept = type(text)(PARTIAL_ENTITY.sub("", kept))
    return kept + note  # type: ignore[return-value]


def to_json(value: Any) -> Markup:
    """A JSON value: safe to write into the JSON a template makes."""
    if isinstance(value, str):
        value = str(value)  # a marked string is a string all the same
    return Markup(json.dumps(value, ensure_ascii=False))  # noqa: S704 (JSON, escaped by dumps)


def mrkdwn_json(text: object, limit: int = SECTION_TEXT_LIMIT) -> Markup:
    """A mrkdwn text as a JSON string: escaped unless marked, cut to `limit`."""
    return to_json(truncate(as_mrkdwn(text), limit))


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.slack", "templates"),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.do"],
        # marks what the template wrote; values are HTML-escaped by it only when joined
        # to marked text (as_mrkdwn then gives back the quotes); the json filter marks JSON
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        # templates are package data and do not change while the process runs: no stat()
        # of the template file on every render (each one a GIL hand-over on the modal path)
        auto_reload=False,
    )
    env.filters["json"] = to_json
    env.filters["mrkdwn"] = as_mrkdwn
    env.filters["mrkdwn_json"] = mrkdwn_json
    env.filters["link"] = link
    env.filters["truncate_text"] = truncate
    return env


def render(template: str, **context: Any) -> Any:
    """Render `template` and parse it: a view, a message or a list of blocks."""
    return _parse(template, render_text(template, **context))


def render_text(template: str, **context: Any) -> str:
    """`template` rendered, as JSON text: for `fill`, with placeholders among its values."""
    return environment().get_template(template).render(ids=ids, **context)


#: makes placeholders no text from a person or a helpdesk can contain
_PLACEHOLDER_SALT = uuid.uuid4().hex


def placeholder(name: str) -> str:
    """A string value to render a template with once (`render_text`) and `fill` per use."""
    return f"\x00{name}.{_PLACEHOLDER_SALT}\x00"


def fill(template: str, text: str, values: dict[str, str]) -> Any:
    """`render_text`'s JSON with each placeholder (a key of `values`) replaced by its value,
    parsed: what `render` gives with those values, if the template only writes them with
    the `json` filter (a JSON string replaced by a JSON string)."""
    for name, value in values.items():
        text = text.replace(to_json(name), to_json(value))
    return _parse(template, text)


def _parse(template: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"template {template} made invalid JSON: {exc}") from exc
