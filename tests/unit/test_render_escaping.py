"""Escaping by default: every template, hostile text in every field, no ping and no link
the bot did not make.

Each template is rendered twice with the same context shape: once with hostile text in
every string (models filled field by field), once with a harmless word. The mrkdwn of
both (every `mrkdwn` text object and a message's `text`) must hold the same number of
`<!`, `<@`, `<#` and `<http`: the ones the template itself writes. The hostile text
must show up escaped once: not raw, not escaped twice, no HTML entities.
"""

from __future__ import annotations

import types
import typing
from enum import Enum
from importlib import resources
from typing import Any

import pytest
from pydantic import BaseModel

from bot.gateway import (
    Capabilities,
    Category,
    Conversation,
    PriorityLevel,
    Tag,
    Ticket,
    TicketDetail,
    TicketPage,
)
from bot.slack import ids
from bot.slack.forms import Draft
from bot.slack.render import Mrkdwn, as_mrkdwn, link, render

HOSTILE = "<!channel> <@U1> <#C1> <http://evil|x> & *x* \"q\" 'a' <!here|here>"
ESCAPED = as_mrkdwn(HOSTILE)
HARMLESS = "plain"
TOKENS = ("<!", "<@", "<#", "<http")
PERMALINK = "https://example.slack.com/archives/C1/p1"  # Slack's, not a person's


def filled(model: type[BaseModel], text: str) -> Any:
    """An instance of `model` with `text` in every string field, nested models too."""
    return model.model_validate(
        {name: _value(field.annotation, text) for name, field in model.model_fields.items()}
    )


def _value(annotation: Any, text: str) -> Any:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return _value(next(a for a in args if a is not type(None)), text)
    if origin is list:
        return [_value(args[0], text)]
    if origin is dict:
        return {text: text}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return filled(annotation, text)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return next(iter(annotation))
    return {str: text, bool: True, int: 1, bytes: b"x"}.get(annotation, text)


def contexts(text: str) -> dict[str, dict[str, Any]]:
    """Every template's context with `text` wherever a person or a helpdesk decides."""
    ticket = filled(Ticket, text)
    detail = filled(TicketDetail, text)
    conversations = [filled(Conversation, text), filled(Conversation, text)]
    tags = [filled(Tag, text)]
    caps = Capabilities.model_validate(
        {name: True for name, f in Capabilities.model_fields.items() if f.annotation is bool}
    )
    draft = filled(Draft, text)
    category = filled(Category, text)
    priorities = [filled(PriorityLevel, text), filled(PriorityLevel, text)]
    return {
        "agent_announcement.json.j2": {
            "ticket_id": text,
            "subject": text,
            "requester": text,
            "link": PERMALINK,
            "internal_notes": True,
        },
        "agent_reply.json.j2": {
            "author": text,
            "chunks": [text, text],
            "part": 1,
            "parts": 2,
            "files": 2,
            "cut_chars": 10,
            "ticket_id": text,
            "internal": True,
        },
        "direct_message.json.j2": {"ticket_id": text, "lines": [text, text], "link": PERMALINK},
        "help.json.j2": {"capabilities": caps, "status_words": [text, text], "unknown": text},
        "home.json.j2": {
            "own": [
                {"id": text, "subject": text, "status": text, "kind": "open", "link": PERMALINK},
                {"id": "2", "subject": None, "status": None, "kind": None, "link": None},
            ],
            "agent": True,
            "open_tickets": [
                {"id": text, "subject": text, "status": text, "kind": "closed", "link": None}
            ],
            "direct_messages": True,
        },
        "loading_modal.json.j2": {"metadata": text},
        "lookup_failed_modal.json.j2": {"metadata": text, "reason": text},
        "new_ticket_modal.json.j2": {
            "metadata": text,
            "draft": draft,
            "categories": [category],
            "chosen_category": category,
            "priorities": priorities,
            "chosen_priority": priorities[0],
            "max_subject_chars": 100,
            "max_attachment_bytes": 1024,
            "max_attachment_label": "1 KiB",
            "errors": {
                block: text
                for block in (
                    ids.SUBJECT_BLOCK,
                    ids.DESCRIPTION_BLOCK,
                    ids.CATEGORY_BLOCK,
                    ids.PRIORITY_BLOCK,
                    ids.ATTACHMENT_BLOCK,
                )
            },
            "notice": text,
        },
        "notice.json.j2": {"text": text, "details": text},
        "result_modal.json.j2": {
            "metadata": text,
            "headline": text,
            "details": text,
            "draft": draft,
        },
        "thread_note.json.j2": {"text": text},
        "ticket_card.json.j2": {
            "ticket": ticket,
            "category_name": text,
            "requester": text,
            "capabilities": caps,
            "priorities": priorities,
            "tags": tags,
            "tag_names": [text, text],
            "footer": text,
        },
        "ticket_list.json.j2": {
            "page": TicketPage(tickets=[ticket, ticket], offset=10, limit=10, has_more=True),
            "status": text,
            "status_name": text,
            "everyone": True,
            "show_status": True,
        },
        "ticket_show.json.j2": {
            "detail": detail,
            "show_status": True,
            "category_name": text,
            "conversations": conversations,
            "conversation_count": 5,
            "permalink": PERMALINK,
        },
    }


def template_names() -> list[str]:
    folder = resources.files("bot.slack") / "templates"
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".json.j2"))


def mrkdwn_texts(rendered: Any, top: bool = True) -> list[str]:
    """Every text Slack reads as mrkdwn: text objects of type mrkdwn, a message's text."""
    found: list[str] = []
    if isinstance(rendered, dict):
        is_message = top and "type" not in rendered  # a view has a type, a message none
        if (rendered.get("type") == "mrkdwn" or is_message) and "text" in rendered:
            found.append(rendered["text"])
        for value in rendered.values():
            found += mrkdwn_texts(value, top=False)
    elif isinstance(rendered, list):
        for item in rendered:
            found += mrkdwn_texts(item, top=False)
    return found


def counts(texts: list[str]) -> dict[str, int]:
    return {token: sum(t.count(token) for t in texts) for token in TOKENS}


def test_every_template_has_a_hostile_context() -> None:
    assert sorted(contexts(HOSTILE)) == template_names()


@pytest.mark.parametrize("template", template_names())
def test_hostile_text_in_every_field_pings_nobody_and_links_nowhere(template: str) -> None:
    hostile = mrkdwn_texts(render(template, **contexts(HOSTILE)[template]))
    harmless = mrkdwn_texts(render(template, **contexts(HARMLESS)[template]))
    assert counts(hostile) == counts(harmless), "\n".join(hostile)
    joined = "\n".join(hostile)
    for wrong in ("&amp;lt;", "&amp;amp;", "&#39;", "&#34;", "&amp;#"):
        assert wrong not in joined, f"{wrong} in {template}: escaped twice or as HTML"
    if any(HARMLESS in t for t in harmless):  # the template shows a field as mrkdwn
        assert "&lt;!channel&gt; &lt;@U1&gt;" in joined


def test_the_permalink_the_bot_puts_in_is_a_link() -> None:
    shown = mrkdwn_texts(render("ticket_show.json.j2", **contexts(HOSTILE)["ticket_show.json.j2"]))
    assert any(f"<{PERMALINK}|open>" in t for t in shown)


def test_mrkdwn_built_in_code_keeps_its_marks_and_escapes_what_joins_it() -> None:
    built = Mrkdwn("posted in <#{}>: {}").format("C1", HOSTILE)
    assert built == f"posted in <#C1>: {ESCAPED}"
    assert Mrkdwn("<#C1> ") + HOSTILE == f"<#C1> {ESCAPED}"
    assert HOSTILE + Mrkdwn(" <#C1>") == f"{ESCAPED} <#C1>"
    assert Mrkdwn(", ").join([HOSTILE, Mrkdwn("<@U1>")]) == f"{ESCAPED}, <@U1>"
    assert as_mrkdwn(built) is built
    assert link("https://x.example/?a=1&b=<2>", HOSTILE) == (
        f"<https://x.example/?a=1&amp;b=&lt;2&gt;|{ESCAPED}>"
    )
    message = render("notice.json.j2", text=built, details=HOSTILE)
    assert message["text"] == built
    assert message["blocks"][1]["elements"][0]["text"] == ESCAPED


def test_a_long_escaped_text_is_cut_between_entities() -> None:
    text = "&" * 5000
    shown = render("thread_note.json.j2", text=text)["blocks"][0]["elements"][0]["text"]
    assert len(shown) <= 3000
    assert shown.removesuffix("… (cut)").replace("&amp;", "") == ""
