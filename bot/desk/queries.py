"""Looking tickets up: `/ticket list`, `/ticket show`, help and App Home."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk.explain import explain
from bot.desk.lookups import Lookups
from bot.gateway import GatewayError, StatusKind, TicketGateway, TicketStatus
from bot.slack.render import escape_mrkdwn, render
from bot.store import Store

LIST_PAGE_SIZE = 10
SHOWN_CONVERSATIONS = 5

Respond = Callable[..., Any]


@dataclass
class Queries:
    gateway: TicketGateway
    store: Store
    slack: WebClient
    lookups: Lookups

    def status_filter(self, word: str) -> TicketStatus | StatusKind | None:
        """What `/ticket list WORD` lists: `open`, `pending` or `closed` (every status of
        that kind), else one of the helpdesk's own statuses by name; None: neither."""
        statuses = self.gateway.capabilities.statuses
        folded = word.strip().casefold()
        kind = next((k for k in StatusKind if k.value == folded), None)
        if kind is not None and any(s.kind is kind for s in statuses):
            return kind
        return self.gateway.capabilities.status_by_word(word)

    def status_words(self) -> list[str]:
        """The words `/ticket list` takes: the kinds this helpdesk has, then its statuses."""
        statuses = self.gateway.capabilities.statuses
        kinds = [k.value for k in StatusKind if any(s.kind is k for s in statuses)]
        names = [s.name for s in statuses if s.name.casefold() not in kinds]
        return kinds + names

    def list_tickets(
        self, status_word: str | None, offset: int, respond: Respond, replace: bool = False
    ) -> None:
        status = self.status_filter(status_word) if status_word else None
        try:
            page = self.gateway.list_tickets(status=status, offset=offset, limit=LIST_PAGE_SIZE)
        except GatewayError as exc:
            respond(**_warning(explain(exc)), response_type="ephemeral")
            return
        message = render(
            "ticket_list.json.j2",
            page=page,
            status=status_word if status else None,
            status_name=status.name if isinstance(status, TicketStatus) else status,
            show_status=self.gateway.capabilities.status_in,
        )
        respond(**message, response_type="ephemeral", replace_original=replace)

    def show_ticket(self, ticket_id: str, respond: Respond) -> None:
        try:
            detail = self.gateway.get_ticket(ticket_id)
        except GatewayError as exc:
            text = f"Ticket #{escape_mrkdwn(ticket_id)}: {explain(exc)}"
            respond(**_warning(text), response_type="ephemeral")
            return
        # internal notes stay in the helpdesk: whoever asked may be the requester
        public = [c for c in detail.conversations if c.public]
        respond(
            **render(
                "ticket_show.json.j2",
                detail=detail,
                show_status=self.gateway.capabilities.status_in,
                category_name=detail.ticket.category_name
                or self.lookups.category_name(detail.ticket.category_id),
                conversations=public[-SHOWN_CONVERSATIONS:],
                conversation_count=len(public),
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
        return render(
            "help.json.j2",
            capabilities=self.gateway.capabilities,
            status_words=[w.casefold() for w in self.status_words()],
            unknown=unknown,
        )

    def home(self) -> Any:
        return render("home.json.j2")


def _warning(text: str) -> Any:
    return render("notice.json.j2", text=f":warning: {text}", details=None)
