"""Looking tickets up: `/ticket list`, `/ticket show`, help and App Home."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk.explain import explain
from bot.desk.lookups import Lookups
from bot.gateway import GatewayError, Status, TicketGateway
from bot.slack.render import render
from bot.store import Store

LIST_PAGE_SIZE = 10
SHOWN_CONVERSATIONS = 5

Respond = Callable[..., Any]


class Queries:
    def __init__(
        self, gateway: TicketGateway, store: Store, slack: WebClient, lookups: Lookups
    ) -> None:
        self.gateway = gateway
        self.store = store
        self.slack = slack
        self.lookups = lookups

    def list_tickets(
        self, status: Status | None, offset: int, respond: Respond, replace: bool = False
    ) -> None:
        try:
            page = self.gateway.list_tickets(status=status, offset=offset, limit=LIST_PAGE_SIZE)
        except GatewayError as exc:
            respond(**_warning(explain(exc)), response_type="ephemeral")
            return
        message = render(
            "ticket_list.json.j2",
            page=page,
            status=status.value if status else None,
            show_status=self.gateway.capabilities.status_in,
        )
        respond(**message, response_type="ephemeral", replace_original=replace)

    def show_ticket(self, ticket_id: str, respond: Respond) -> None:
        try:
            detail = self.gateway.get_ticket(ticket_id)
        except GatewayError as exc:
            text = f"Ticket #{ticket_id}: {explain(exc)}"
            respond(**_warning(text), response_type="ephemeral")
            return
        respond(
            **render(
                "ticket_show.json.j2",
                detail=detail,
                show_status=self.gateway.capabilities.status_in,
                category_name=detail.ticket.category_name
                or self.lookups.category_name(detail.ticket.category_id),
                conversations=detail.conversations[-SHOWN_CONVERSATIONS:],
                permalink=self._permalink(ticket_id),
            ),
            response_type="ephemeral",
        )

    def _permalink(self, ticket_id: str) -> str | None:
        thread = self.store.thread_for_ticket(ticket_id)
        if thread is None:
            return None
        try:
            answer = self.slack.chat_getPermalink(channel=thread.channel, message_ts=thread.ts)
        except SlackApiError:
            return None
        return str(answer["permalink"])

    def help(self, unknown: str | None = None) -> Any:
        return render("help.json.j2", capabilities=self.gateway.capabilities, unknown=unknown)

    def home(self) -> Any:
        return render("home.json.j2")


def _warning(text: str) -> Any:
    return render("notice.json.j2", text=f":warning: {text}", details=None)
