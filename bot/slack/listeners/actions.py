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


def _click(action: dict[str, Any], body: dict[str, Any], respond: Respond) -> Click:
    """The card clicked (its ticket is the one linked to it: values and block ids the
    request carries are not trusted), who clicked, and this click's own id."""
    container = body.get("container", {})
    card = ThreadRef(container["channel_id"], container["message_ts"])
    interaction = str(action.get("action_ts") or body.get("trigger_id") or "")
    return Click(body["user"]["id"], card, respond, interaction)


def register(app: App, desk: Desk, after_ack: Defer) -> None:
    @app.action(ids.CLOSE)
    @app.action(ids.REOPEN)
    def status(ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond) -> None:
        ack()
        closing = action["action_id"] == ids.CLOSE
        # parsed after the ack: a malformed payload must not fail the acked request
        after_ack(lambda: desk.cards.change_status(closing, _click(action, body, respond)))

    @app.action(ids.PRIORITY_SELECT)
    def priority(ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond) -> None:
        ack()
        after_ack(
            lambda: desk.cards.change_priority(
                str(action["selected_option"]["value"]), _click(action, body, respond)
            )
        )

    @app.action(ids.TAGS_SELECT)
    def tags(ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond) -> None:
        ack()
        after_ack(
            lambda: desk.cards.change_tags(
                [o["value"] for o in action.get("selected_options", [])],
                _click(action, body, respond),
            )
        )

    @app.action(ids.LIST_PAGE_PREVIOUS)
    @app.action(ids.LIST_PAGE_NEXT)
    def page(ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond) -> None:
        ack()

        def show_page() -> None:
            where = json.loads(action["value"])
            status = str(where["status"]) if where.get("status") else None
            desk.queries.list_tickets(
                body["user"]["id"],
                status,
                int(where["offset"]),
                respond,
                everyone=bool(where.get("all")),
                replace=True,
            )

        after_ack(show_page)

    @app.action(ids.LOOKUP_RETRY)
    @app.action(ids.DRAFT_RESTORE)
    def modal_button(ack: Ack, action: dict[str, Any], body: dict[str, Any]) -> None:
        ack()
        modal = desk.modal
        redo = (
            modal.retry_lookups if action["action_id"] == ids.LOOKUP_RETRY else modal.restore_form
        )
        after_ack(
            lambda: redo(
                body["view"]["id"], ModalContext.load(body["view"].get("private_metadata"))
            )
        )

    @app.action(ids.CATEGORY_INPUT)
    @app.action(ids.PRIORITY_INPUT)
    @app.action(ids.ATTACHMENT_INPUT)
    def modal_input(ack: Ack) -> None:
        ack()  # inputs in a modal report changes too; the submission reads them
