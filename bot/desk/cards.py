"""The ticket card, its buttons and selects, and notes in its thread."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk.access import Access
from bot.desk.explain import explain
from bot.desk.lookups import Lookups
from bot.desk.news import RequesterNews
from bot.desk.outage import telling_store_outage
from bot.gateway import GatewayError, PriorityLevel, Ticket, TicketGateway, TicketStatus
from bot.gateway.base import Assigns
from bot.slack.render import render
from bot.store import Store, ThreadRef
from bot.store.keys import card_change_lock, click_claim

log = logging.getLogger(__name__)

#: how long a handled click is remembered, so the same interaction is never handled twice
CLICK_CLAIM_TTL = 24 * 3600
#: a ticket's change lock outlives no change; a crashed one frees it after this
CHANGE_LOCK_TTL = 60
#: how long a click waits for the ticket's change under way (a double click's first)
CHANGE_WAIT = 30.0
WAIT_STEP = 0.05

Respond = Callable[..., Any]
P = ParamSpec("P")


@dataclass(frozen=True)
class Click:
    """Who pressed something on a card, which card, and how to answer them alone."""

    user_id: str
    card: ThreadRef
    respond: Respond
    #: this very interaction (Slack's action_ts of it): one click is handled once
    interaction: str


@dataclass(frozen=True)
class Change:
    """One change a card asks the helpdesk for."""

    #: what a refusal names: "close this ticket"
    what: str
    apply: Callable[[str], None]
    #: the thread note's verb phrase: "closed the ticket"
    done: str
    #: the status just set, shown on the card when the helpdesk's answers do not say it
    status_set: TicketStatus | None = None
    #: the priority just set
    priority_set: PriorityLevel | None = None

    @property
    def is_news(self) -> bool:
        """Status and priority changes are news to the requester, as they are when made in
        the helpdesk (bot/sync/poller.py); tags and assignment are the agents' business."""
        return self.status_set is not None or self.priority_set is not None

    def shown_in(self, state: dict[str, str]) -> bool:
        """The card shows this change already (a double click's second click, or a click
        on a card older than the last change): nothing to do."""
        if self.status_set is not None:
            return state.get("status") == self.status_set.id
        if self.priority_set is not None:
            return state.get("priority") == self.priority_set.id
        return False


def _tells_store_outage(
    handle: Callable[Concatenate[Cards, P], None],
) -> Callable[Concatenate[Cards, P], None]:
    """A click handled while Redis is out of reach: whoever clicked is told, and nothing
    changes (bot/desk/outage.py)."""

    def guarded(cards: Cards, /, *args: P.args, **kwargs: P.kwargs) -> None:
        click = args[-1]
        assert isinstance(click, Click)
        with telling_store_outage(cards.store, click.respond, "could not change the ticket"):
            handle(cards, *args, **kwargs)

    return guarded


@dataclass
class Cards:
    gateway: TicketGateway
    store: Store
    slack: WebClient
    lookups: Lookups
    access: Access
    news: RequesterNews

    def render(self, ticket: Ticket, footer: str | None = None) -> Any:
        """The card's message: ticket fields, and the controls the helpdesk allows."""
        tags = self.lookups.tags()
        return render(
            "ticket_card.json.j2",
            ticket=ticket,
            category_name=ticket.category_name or self.lookups.category_name(ticket.category_id),
            requester=self.store.requester_of(ticket.id),
            capabilities=self.gateway.capabilities,
            priorities=self.lookups.priorities(),
            tags=tags,
            tag_names=[t.name for t in tags if t.id in ticket.tag_ids],
            footer=footer,
        )

    @_tells_store_outage
    def change_status(self, closing: bool, click: Click) -> None:
        """Close or Reopen: the helpdesk's own closing or reopening status."""
        caps = self.gateway.capabilities
        status = caps.closing_status() if closing else caps.reopening_status()
        verb = "closed" if closing else "reopened"
        if status is None:
            _refuse(click, f"This helpdesk has no status to mark a ticket {verb}.")
            return
        change = Change(
            "close this ticket" if closing else "reopen this ticket",
            lambda ticket_id: self.gateway.set_status(ticket_id, status),
            f"{verb} the ticket",
            status_set=status,
        )
        self._change(change, click)

    @_tells_store_outage
    def change_priority(self, priority_id: str, click: Click) -> None:
        priority = self.lookups.priority(priority_id)
        if priority is None:
            _refuse(click, "This helpdesk has no such priority any more.")
            return
        change = Change(
            "change this ticket's priority",
            lambda ticket_id: self.gateway.update_ticket(ticket_id, priority=priority),
            f"set the priority to {priority.label}",
            priority_set=priority,
        )
        self._change(change, click)

    @_tells_store_outage
    def assign_to_me(self, click: Click) -> None:
        """ "Assign to me": whoever clicked, found in the helpdesk by their Slack e-mail."""
        gateway = self.gateway
        if not isinstance(gateway, Assigns) or not gateway.capabilities.assign:
            _refuse(click, "This helpdesk cannot assign tickets from Slack.")
            return
        email = self.lookups.person(click.user_id).email
        if not email:
            _refuse(click, "Slack did not tell me your e-mail address, which finds you there.")
            return
        change = Change(
            "assign this ticket",
            lambda ticket_id: gateway.assign(ticket_id, email),
            "took the ticket",
        )
        self._change(change, click)

    @_tells_store_outage
    def change_tags(self, tag_ids: list[str], click: Click) -> None:
        names = [t.name for t in self.lookups.tags() if t.id in tag_ids]
        change = Change(
            "change this ticket's tags",
            lambda ticket_id: self.gateway.update_ticket(ticket_id, tag_ids=tag_ids),
            "set the tags to " + (", ".join(names) or "none"),
        )
        self._change(change, click)

    def _change(self, change: Change, click: Click) -> None:
        """The ticket linked to the card (never one the request names), changed by whoever
        may; one change per click; the card updated in place; a line in the thread.

        Nothing is kept of a click that was refused or failed: it may be tried again."""
        ticket_id = self.store.ticket_for_thread(click.card)
        if ticket_id is None:
            _refuse(click, "This card is not linked to a ticket.")
            return
        if not self.access.may_act(click.user_id, ticket_id):
            _tell(click, f"Only the requester or an agent can {change.what}.")
            return
        claim = click_claim(f"{click.user_id}:{click.interaction}")
        if not self.store.claim(claim, CLICK_CLAIM_TTL):
            return  # this very click again
        done, refusal = False, None
        try:
            with self._one_change_at_a_time(ticket_id):
                refusal = self._apply(ticket_id, change, click)
                done = refusal is None
        finally:
            if not done:
                self.store.release(claim)
        if refusal is not None:
            _refuse(click, refusal)  # once the click may be tried again, not before

    def _apply(self, ticket_id: str, change: Change, click: Click) -> str | None:
        """None when the change is made and the card shows it (or showed it already),
        else why not, to tell the person.

        The change is recorded as the thread's state before the helpdesk is asked: a
        helpdesk that pushes (a webhook) may have it read back before this returns, and
        the sync must not announce it as made in the helpdesk. When the helpdesk refuses,
        or Slack does not update the card, the state before comes back: the poller then
        sees what the card lacks, and repairs it."""
        before = self.store.poll_states([ticket_id])[0]
        if change.shown_in(before):
            return None
        if before:
            expected = _expected(before, change.status_set, change.priority_set)
            self.store.remember_ticket_state(ticket_id, *expected)
        try:
            change.apply(ticket_id)
            ticket = self.gateway.get_ticket(ticket_id).ticket
            if change.status_set is not None and not self.gateway.capabilities.status_in:
                ticket = ticket.model_copy(update={"status": change.status_set})
            self.slack.chat_update(
                channel=click.card.channel, ts=click.card.ts, **self.render(ticket)
            )
        except (GatewayError, SlackApiError, OSError) as exc:
            if before:
                self.store.remember_ticket_state(ticket_id, *_expected(before, None, None))
            if isinstance(exc, GatewayError):
                return explain(exc)
            log.warning("ticket %s: its card was not updated (%s)", ticket_id, exc)
            return "Done in the helpdesk, but Slack did not update the card yet."
        self.store.remember_ticket_state(ticket.id, *ticket_state(ticket))
        who = self.lookups.person(click.user_id).name
        if change.is_news:  # the poller will not tell it: the state above has it
            thread = self.store.thread_for_ticket(ticket_id) or click.card
            self.news.tell(ticket_id, thread, [f"{who} {change.done}."], by=click.user_id)
        self.note(click.card, f"{who} {change.done}.")
        return None

    @contextmanager
    def _one_change_at_a_time(self, ticket_id: str) -> Iterator[None]:
        """Hold the ticket's change lock, waiting for a change under way to finish."""
        lock = card_change_lock(ticket_id)
        deadline = time.monotonic() + CHANGE_WAIT
        while not self.store.claim(lock, CHANGE_LOCK_TTL):
            if time.monotonic() > deadline:
                raise TimeoutError(f"ticket {ticket_id}: a change is taking too long")
            time.sleep(WAIT_STEP)
        try:
            yield
        finally:
            self.store.release(lock)

    def note(self, thread: ThreadRef, text: str) -> None:
        """A short line in a ticket's thread: plain text, or `Mrkdwn` the caller built."""
        self.slack.chat_postMessage(
            channel=thread.channel, thread_ts=thread.ts, **render("thread_note.json.j2", text=text)
        )


def _refuse(click: Click, text: str) -> None:
    """An ephemeral warning to whoever clicked."""
    _tell(click, f":warning: {text}")


def _tell(click: Click, text: str) -> None:
    """An ephemeral line to whoever clicked: plain text, or `Mrkdwn` the caller built."""
    click.respond(
        **render("notice.json.j2", text=text, details=None),
        response_type="ephemeral",
        replace_original=False,
    )


def ticket_state(ticket: Ticket) -> tuple[str, str | None, bool]:
    """What the store keeps of a ticket's state: status id, priority id, closed or not."""
    priority = ticket.priority.id if ticket.priority else None
    return ticket.status.id, priority, ticket.status.is_closed


def _expected(
    recorded: dict[str, str], status: TicketStatus | None, priority: PriorityLevel | None
) -> tuple[str, str | None, bool]:
    """The state a recorded one becomes with this status and priority set."""
    if status is None:
        status_id, closed = recorded.get("status", ""), bool(recorded.get("closed_at"))
    else:
        status_id, closed = status.id, status.is_closed
    priority_id = priority.id if priority else recorded.get("priority") or None
    return status_id, priority_id, closed
