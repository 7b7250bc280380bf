"""What a person typed into the new-ticket modal, read from Slack's view state."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from bot.slack import ids


class Draft(BaseModel):
    """The modal's content; kept so that nothing typed is ever lost."""

    subject: str = ""
    description: str = ""
    category_id: str | None = None
    priority: str | None = None
    files: list[dict[str, Any]] = Field(default_factory=list)


class ModalContext(BaseModel):
    """The modal's private_metadata: where to post the card, how to reach the person."""

    channel: str | None = None
    response_url: str | None = None

    def dump(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def load(cls, raw: str | None) -> ModalContext:
        return cls.model_validate(json.loads(raw)) if raw else cls()


def _input(values: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    return dict(values.get(block, {}).get(action) or {})


def read_draft(view: dict[str, Any]) -> Draft:
    values = view.get("state", {}).get("values", {})
    category = _input(values, ids.CATEGORY_BLOCK, ids.CATEGORY_INPUT).get("selected_option")
    priority = _input(values, ids.PRIORITY_BLOCK, ids.PRIORITY_INPUT).get("selected_option")
    files = _input(values, ids.ATTACHMENT_BLOCK, ids.ATTACHMENT_INPUT).get("files") or []
    return Draft(
        subject=(_input(values, ids.SUBJECT_BLOCK, ids.SUBJECT_INPUT).get("value") or "").strip(),
        description=(
            _input(values, ids.DESCRIPTION_BLOCK, ids.DESCRIPTION_INPUT).get("value") or ""
        ).strip(),
        category_id=category["value"] if category else None,
        priority=priority["value"] if priority else None,
        files=list(files),
    )
