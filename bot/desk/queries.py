"""Looking tickets up: `/ticket list`, `/ticket show`, help and App Home."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk.access import Access
from bot.desk.explain import explain
from bot.desk.lookups import Lookups
from bot.desk.outage import telling_store_outage
from bot.gateway import (
    GatewayError,
    NotFound,
    StatusKind,
    Ticket,
    TicketGateway,
    TicketPage,
    TicketStatus,
)
from bot.slack.render import render
from bot.store import Store

LIST_PAGE_SIZE = 10
#: the helpdesk's tickets read at once for someone's own list
OWN_LOOKUPS = 5
#: a helpdesk that cannot show one ticket is scanned this far for someone's own
SCAN_PAGE_SIZE = 50
MAX_SCANNED_PAGES = 20
SHOWN_CONVERSATIONS = 5
#: App Home: at most this many of someone's own tickets, and of the open ones for agents
HOME_OWN = 20
HOME_OPEN = 20
#: a ticket's status on App Home is read from the cache: fresh this long, then shown
#: while one background read refreshes it; never waited for
HOME_STATUS_TTL = 60
HOME_STATUS_STALE = 7 * 24 * 3600
PERMALINK_TTL = 30 * 24 * 3600

Respond = Callable[..., Any]
StatusFilter = TicketStatus | StatusKind | None


@dataclass
class Queries:
    gateway: TicketGateway
    store: Store
    slack: WebClient
    lookups: Lookups
    access: Access

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
        self,
        user_id: str,
        status_word: str | None,
        offset: int,
        respond: Respond,
        *,
        everyone: bool = False,
        replace: bool = False,
    ) -> None:
        """`/ticket list`: the caller's own tickets; `everyone`: every ticket of the
        helpdesk account, for agents only (checked here: a page button can be forged)."""
        with telling_store_outage(self.store, respond, "could not list the tickets"):
            self._list_tickets(user_id, status_word, offset, respond, everyone, replace)

    def _list_tickets(
        self,
        user_id: str,
        status_word: str | None,
        offset: int,
        respond: Respond,
        everyone: bool,
        replace: bool,
    ) -> None:
        if everyone and not self.access.is_agent(user_id):
            text = "Only agents can list every ticket. `/ticket list` lists yours."
            respond(**_warning(text), response_type="ephemeral", replace_original=replace)
            return
        status = self.status_filter(status_word) if status_word else None
        try:
            if everyone:
                page = self.gateway.list_tickets(status=status, offset=offset, limit=LIST_PAGE_SIZE)
            else:
                page = self._own_tickets(user_id, status, offset)
        except GatewayError as exc:
            respond(**_warning(explain(exc)), response_type="ephemeral")
            return
        message = render(
            "ticket_list.json.j2",
            page=page,
            status=status_word if status else None,
            status_name=status.name if isinstance(status, TicketStatus) else status,
            everyone=everyone,
            show_status=self.gateway.capabilities.status_in,
        )
        respond(**message, response_type="ephemeral", replace_original=replace)

    def _own_tickets(self, user_id: str, status: StatusFilter, offset: int) -> TicketPage:
        """A page of the tickets the bot created for `user_id` (the store's record of
        them, newest first), as the helpdesk has them now."""
        wanted = offset + LIST_PAGE_SIZE + 1  # one more tells whether there is a next page
        own = self.store.tickets_requested_by(user_id)
        if self.gateway.capabilities.ticket_detail:
            found = self._own_by_id(own, status, wanted)
        else:
            found = self._own_from_list(set(own), status, wanted)
        return TicketPage(
            tickets=found[offset : offset + LIST_PAGE_SIZE],
            offset=offset,
            limit=LIST_PAGE_SIZE,
            has_more=len(found) > offset + LIST_PAGE_SIZE,
        )

    def _own_by_id(self, own: list[str], status: StatusFilter, wanted: int) -> list[Ticket]:
        """Read newest first, a few at a time, until `wanted` match `status`."""
        found: list[Ticket] = []
        with ThreadPoolExecutor(max_workers=OWN_LOOKUPS) as pool:
            for start in range(0, len(own), OWN_LOOKUPS):
                if len(found) >= wanted:
                    break
                for ticket in pool.map(self._ticket_or_none, own[start : start + OWN_LOOKUPS]):
                    if ticket is not None and _matches(ticket, status):
                        found.append(ticket)
        return found[:wanted]

    def _ticket_or_none(self, ticket_id: str) -> Ticket | None:
        try:
            return self.gateway.get_ticket(ticket_id).ticket
        except NotFound:
            return None  # deleted in the helpdesk: not listed

    def _own_from_list(self, own: set[str], status: StatusFilter, wanted: int) -> list[Ticket]:
        """Helpdesks that list but cannot show one ticket: their list, read for `own`."""
        found: list[Ticket] = []
        offset = 0
        for _ in range(MAX_SCANNED_PAGES):
            page = self.gateway.list_tickets(status=status, offset=offset, limit=SCAN_PAGE_SIZE)
            found.extend(t for t in page.tickets if t.id in own)
            if len(found) >= min(wanted, len(own)) or not page.has_more:
                break
            offset += SCAN_PAGE_SIZE
        return found[:wanted]

    def show_ticket(self, user_id: str, ticket_id: str, respond: Respond) -> None:
        """`/ticket show`: to whoever may see it; anyone else gets the answer an unknown
        id gets, so that nobody learns which ticket ids exist."""
        with telling_store_outage(self.store, respond, "could not look the ticket up"):
            self._show_ticket(user_id, ticket_id, respond)

    def _show_ticket(self, user_id: str, ticket_id: str, respond: Respond) -> None:
        if not self.access.may_see(user_id, ticket_id):
            respond(**_warning(_unknown(ticket_id)), response_type="ephemeral")
            return
        try:
            detail = self.gateway.get_ticket(ticket_id)
        except NotFound:
            respond(**_warning(_unknown(ticket_id)), response_type="ephemeral")
            return
        except GatewayError as exc:
            text = f"Ticket #{ticket_id}: {explain(exc)}"
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

    def set_direct_messages(self, user_id: str, on: bool) -> None:
        """The App Home setting, kept in the store; the tab is published again to show it."""
        self.store.set_direct_messages(user_id, on)
        self.publish_home(user_id)

    def publish_home(self, user_id: str) -> None:
        self.slack.views_publish(user_id=user_id, view=self.home(user_id))

    def home(self, user_id: str) -> Any:
        """App Home: the person's own tickets (open first), for agents also the open
        ones, and their direct-message setting. Statuses come from the store's cache
        only: one not cached yet shows as unknown while it is read in the background."""
        own = [self._home_row(t) for t in self.store.tickets_requested_by(user_id)[:HOME_OWN]]
        own.sort(key=lambda row: _HOME_ORDER.get(row["kind"], 1))
        agent = self.access.is_agent(user_id)
        return render(
            "home.json.j2",
            own=own,
            agent=agent,
            open_tickets=self._home_open() if agent else None,
            direct_messages=self.store.wants_direct_messages(user_id),
        )

    def _home_row(self, ticket_id: str) -> dict[str, Any]:
        def load() -> Any:
            ticket = self.gateway.get_ticket(ticket_id).ticket
            return {
                "subject": ticket.subject,
                "status": ticket.status.name,
                "kind": ticket.status.kind.value,
            }

        known: Any = None
        if self.gateway.capabilities.ticket_detail:
            known = self.store.cached_or_warm(
                f"home-ticket:{ticket_id}", load, ttl=HOME_STATUS_TTL, stale_ttl=HOME_STATUS_STALE
            )
        known = known or {"subject": None, "status": None, "kind": None}
        return {"id": ticket_id, **known, "link": self._cached_permalink(ticket_id)}

    def _home_open(self) -> list[dict[str, Any]] | None:
        """The helpdesk's open tickets, from the cache (None: not read yet)."""
        status = self.status_filter(StatusKind.OPEN.value)

        def load() -> Any:
            page = self.gateway.list_tickets(status=status, offset=0, limit=HOME_OPEN)
            return [
                {
                    "id": t.id,
                    "subject": t.subject,
                    "status": t.status.name,
                    "kind": t.status.kind.value,
                }
                for t in page.tickets
                if t.status.kind is not StatusKind.CLOSED
            ]

        rows = self.store.cached_or_warm(
            "home-open-tickets", load, ttl=HOME_STATUS_TTL, stale_ttl=HOME_STATUS_STALE
        )
        if rows is None:
            return None
        return [{**row, "link": self._cached_permalink(row["id"])} for row in rows]

    def _cached_permalink(self, ticket_id: str) -> str | None:
        """The card's permalink (inside its thread, for a ticket made of a message); it
        never changes, so Slack is asked once a month."""
        card = self.store.card_for_ticket(ticket_id)
        if card is None:
            return None

        def load() -> Any:
            answer = self.slack.chat_getPermalink(channel=card.channel, message_ts=card.ts)
            return str(answer["permalink"])

        try:
            value = self.store.cached(
                f"card-permalink:{ticket_id}", load, ttl=PERMALINK_TTL, stale_ttl=PERMALINK_TTL
            )
        except (SlackApiError, OSError):
            return None  # not cached: asked again next time
        return None if value is None else str(value)


#: App Home lists open tickets first, then those whose status is not known yet, then closed
_HOME_ORDER = {"open": 0, "pending": 0, "closed": 2}


def _matches(ticket: Ticket, status: StatusFilter) -> bool:
    if status is None:
        return True
    if isinstance(status, StatusKind):
        return ticket.status.kind is status
    return ticket.status.id == status.id


def _unknown(ticket_id: str) -> str:
    return f"Ticket #{ticket_id}: {explain(NotFound(ticket_id))}"


def _warning(text: str) -> Any:
    return render("notice.json.j2", text=f":warning: {text}", details=None)
