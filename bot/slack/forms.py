"""What a person typed into the new-ticket modal, read from Slack's view state."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from bot.slack import ids


class SharedFile(BaseModel):
    """A file attached to a Slack message: what is needed to download it later."""

    id: str
    name: str = "file"
    size: int | None = None
    mimetype: str | None = None
    url_private: str | None = None
    url_private_download: str | None = None

    def download_spec(self) -> dict[str, object]:
        return self.model_dump(exclude_none=True)


class Draft(BaseModel):
    """The modal's content; kept so that nothing typed is ever lost."""

    subject: str = ""
    description: str = ""
    category_id: str | None = None
    priority: str | None = None
    #: what goes to the helpdesk: the file input's file, then the chosen message files
    files: list[dict[str, Any]] = Field(default_factory=list)
    #: a message shortcut's form: the files of the message it offers
    message_files: list[SharedFile] = Field(default_factory=list)
    #: and those it cannot offer, each "name (why)"
    files_left_out: list[str] = Field(default_factory=list)


class MessageSource(BaseModel):
    """The message a ticket is made of (the message shortcut)."""

    channel: str
    ts: str
    #: its thread's root when it is a reply
    thread_ts: str | None = None
    #: who wrote it (the requester); None for a bot's or an app's message
    author: str | None = None
    permalink: str | None = None

    @property
    def thread(self) -> tuple[str, str]:
        """(channel, ts) of the thread the card goes into: the message's own or its root's."""
        return (self.channel, self.thread_ts or self.ts)


class ModalContext(BaseModel):
    """The modal's private_metadata: where to post the card, how to reach the person,
    and (message shortcut) the message the ticket is made of."""

    channel: str | None = None
    response_url: str | None = None
    source: MessageSource | None = None

    def dump(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def load(cls, raw: str | None) -> ModalContext:
        return cls.model_validate(json.loads(raw)) if raw else cls()


def message_source(shortcut: dict[str, Any]) -> MessageSource:
    """The message of a message shortcut's payload (`message_action`)."""
    message = shortcut["message"]
    by_a_bot = bool(message.get("bot_id")) or message.get("subtype") == "bot_message"
    return MessageSource(
        channel=str(shortcut["channel"]["id"]),
        ts=str(message["ts"]),
        thread_ts=message.get("thread_ts"),
        author=None if by_a_bot else message.get("user"),
    )


def _input(values: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    return dict(values.get(block, {}).get(action) or {})


def offers_message_files(view: dict[str, Any]) -> bool:
    """Whether the form offered a message's files (their details are kept with its draft)."""
    return ids.MESSAGE_FILES_BLOCK in view.get("state", {}).get("values", {})


def read_draft(view: dict[str, Any], message_files: list[SharedFile] | None = None) -> Draft:
    """`message_files`: the files the form offered (its kept draft's), to pick the chosen."""
    values = view.get("state", {}).get("values", {})
    category = _input(values, ids.CATEGORY_BLOCK, ids.CATEGORY_INPUT).get("selected_option")
    priority = _input(values, ids.PRIORITY_BLOCK, ids.PRIORITY_INPUT).get("selected_option")
    files = _input(values, ids.ATTACHMENT_BLOCK, ids.ATTACHMENT_INPUT).get("files") or []
    ticked = _input(values, ids.MESSAGE_FILES_BLOCK, ids.MESSAGE_FILES_INPUT)
    chosen = {o.get("value") for o in ticked.get("selected_options") or []}
    offered = list(message_files or [])
    return Draft(
        subject=(_input(values, ids.SUBJECT_BLOCK, ids.SUBJECT_INPUT).get("value") or "").strip(),
        description=(
            _input(values, ids.DESCRIPTION_BLOCK, ids.DESCRIPTION_INPUT).get("value") or ""
        ).strip(),
        category_id=category["value"] if category else None,
        priority=priority["value"] if priority else None,
        files=list(files) + [f.download_spec() for f in offered if f.id in chosen],
        message_files=offered,
    )
