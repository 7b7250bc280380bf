"""The new-ticket modal: validate in the ack, then hand the creation to the outbox."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.desk import Desk
from bot.slack import ids
from bot.slack.forms import ModalContext


def register(app: App, desk: Desk) -> None:
    @app.view_submission(ids.NEW_TICKET_VIEW)
    def submit(ack: Ack, view: dict[str, Any], body: dict[str, Any]) -> None:
        draft = desk.modal.read(view)
        errors = desk.modal.validate(draft)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        context = ModalContext.load(view.get("private_metadata"))
        # durable before Slack hears back: a worker creates the ticket (bot/sync/worker.py)
        desk.creation.enqueue(draft, body["user"]["id"], view["id"], context)
        ack(response_action="update", view=desk.modal.pending_view(context))

    @app.view_closed(ids.NEW_TICKET_VIEW)
    @app.view_closed(ids.LOADING_VIEW)
    @app.view_closed(ids.RESULT_VIEW)
    def closed(ack: Ack) -> None:
        ack()
