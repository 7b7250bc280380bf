"""Buttons and selects: on cards, in the modal, in ticket lists."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.desk import Desk
from bot.desk.cards import Click
from bot.desk.deferred import Defer
from bot.slack import ids
from bot.slack.forms import ModalContext
from bot.store import ThreadRef


def _click(body: dict[str, Any], respond: Respond) -> Click:
    container = body["container"]
    card = ThreadRef(_text(container["channel_id"]), _text(container["message_ts"]))
    return Click(_text(body["user"]["id"]), card, respond)


def _text(value: object) -> str:
    """A field Slack sends as a string; anything else is a malformed payload."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _ticket_id(action: dict[str, Any]) -> str:
    return str(action["block_id"]).removeprefix(ids.CARD_ACTIONS_PREFIX)


def register(app: App, desk: Desk, after_ack: Defer) -> None:
    @app.action(ids.CLOSE)
    @app.action(ids.REOPEN)
    def status(ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond) -> None:
        # parsed before the ack: a malformed payload fails here, answered by the app's
        # error handler (bot/slack/errors.py) with one log line instead of a traceback
        closing = action["action_id"] == ids.CLOSE
        ticket_id, click = str(action["value"]), _click(body, respond)
        ack()
        after_ack(lambda: desk.cards.change_status(ticket_id, closing, click))

    @app.action(ids.PRIORITY_SELECT)
    def priority(ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond) -> None:
        ticket_id, click = _ticket_id(action), _click(body, respond)
        wanted = str(action["selected_option"]["value"])
        ack()
        after_ack(lambda: desk.cards.change_priority(ticket_id, wanted, click))

    @app.action(ids.TAGS_SELECT)
    def tags(ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond) -> None:
        ticket_id, click = _ticket_id(action), _click(body, respond)
        tags = [str(o["value"]) for o in action.get("selected_options") or []]
        ack()
        after_ack(lambda: desk.cards.change_tags(ticket_id, tags, click))

    @app.action(ids.LIST_PAGE_PREVIOUS)
    @app.action(ids.LIST_PAGE_NEXT)
    def page(ack: Ack, action: dict[str, Any], respond: Respond) -> None:
        where = json.loads(action["value"])
        status = str(where["status"]) if where.get("status") else None
        offset = int(where["offset"])
        ack()
        after_ack(lambda: desk.queries.list_tickets(status, offset, respond, replace=True))

    @app.action(ids.LOOKUP_RETRY)
    @app.action(ids.DRAFT_RESTORE)
    def modal_button(ack: Ack, action: dict[str, Any], body: dict[str, Any]) -> None:
        modal = desk.modal
        redo = (
            modal.retry_lookups if action["action_id"] == ids.LOOKUP_RETRY else modal.restore_form
        )
        view_id = str(body["view"]["id"])
        context = ModalContext.load(body["view"].get("private_metadata"))
        ack()
        after_ack(lambda: redo(view_id, context))

    @app.action(ids.CATEGORY_INPUT)
    @app.action(ids.PRIORITY_INPUT)
    @app.action(ids.ATTACHMENT_INPUT)
    def modal_input(ack: Ack) -> None:
        ack()  # inputs in a modal report changes too; the submission reads them
