"""Buttons and selects: on cards, in the modal, in ticket lists.

Each listener parses its payload before the ack (no I/O, so the ack is not delayed):
a malformed payload fails there, and the app's error handler (bot/slack/errors.py)
answers it with a 200 and one log line instead of a traceback after the ack."""

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


def _click(action: dict[str, Any], body: dict[str, Any], respond: Respond) -> Click:
    """The card clicked (its ticket is the one linked to it: values and block ids the
    request carries are not trusted), who clicked, and this click's own id."""
    container = body["container"]
    card = ThreadRef(_text(container["channel_id"]), _text(container["message_ts"]))
    interaction = str(action.get("action_ts") or body.get("trigger_id") or "")
    return Click(_text(body["user"]["id"]), card, respond, interaction)


def _text(value: object) -> str:
    """A field Slack sends as a string; anything else is a malformed payload."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def register(app: App, desk: Desk, after_ack: Defer) -> None:
    @app.action(ids.CLOSE)
    @app.action(ids.REOPEN)
    def status(ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond) -> None:
        closing = action["action_id"] == ids.CLOSE
        click = _click(action, body, respond)
        ack()
        after_ack(lambda: desk.cards.change_status(closing, click))

    @app.action(ids.ASSIGN_ME)
    def assign(ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond) -> None:
        ack()
        after_ack(lambda: desk.cards.assign_to_me(_click(action, body, respond)))

    @app.action(ids.PRIORITY_SELECT)
    def priority(ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond) -> None:
        wanted, click = str(action["selected_option"]["value"]), _click(action, body, respond)
        ack()
        after_ack(lambda: desk.cards.change_priority(wanted, click))

    @app.action(ids.TAGS_SELECT)
    def tags(ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond) -> None:
        chosen = [str(o["value"]) for o in action.get("selected_options") or []]
        click = _click(action, body, respond)
        ack()
        after_ack(lambda: desk.cards.change_tags(chosen, click))

    @app.action(ids.LIST_PAGE_PREVIOUS)
    @app.action(ids.LIST_PAGE_NEXT)
    def page(ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond) -> None:
        where = json.loads(action["value"])
        status = str(where["status"]) if where.get("status") else None
        offset, everyone, user = int(where["offset"]), bool(where.get("all")), body["user"]["id"]
        ack()
        after_ack(
            lambda: desk.queries.list_tickets(
                user, status, offset, respond, everyone=everyone, replace=True
            )
        )

    @app.action(ids.HOME_DM_SETTING)
    def home_setting(ack: Ack, action: dict[str, Any], body: dict[str, Any]) -> None:
        on = any(o.get("value") == "on" for o in action.get("selected_options") or [])
        user = _text(body["user"]["id"])
        ack()
        after_ack(lambda: desk.queries.set_direct_messages(user, on))

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
    @app.action(ids.MESSAGE_FILES_INPUT)
    def modal_input(ack: Ack) -> None:
        ack()  # inputs in a modal report changes too; the submission reads them
