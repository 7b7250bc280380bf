"""The ticket card, its buttons and selects, and notes in its thread."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk.access import Access
from bot.desk.explain import explain
from bot.desk.lookups import Lookups
from bot.gateway import GatewayError, Priority, Status, Ticket, TicketGateway
from bot.slack.render import escape_mrkdwn, render
from bot.store import Store, ThreadRef
from bot.store.keys import card_change_lock, click_claim

log = logging.getLogger(__name__)

#: how long a handled click is remembered, so the same interaction is never handled twice
CLICK_CLAIM_TTL = 24 * 3600
#: a ticket's change lock outlives no change; a crashed one frees it after this
CHANGE_LOCK_TTL = 60
#: how long a click waits for the ticket's change before it (a double click's first)
CHANGE_WAIT = 30.0
WAIT_STEP = 0.05

Respond = Callable[..., Any]


@dataclass(frozen=True)
class Click:
    """Who pressed something on a card, which card, and how to answer them alone."""

    user_id: str
    card: ThreadRef
    respond: Respond
    #: this very interaction (Slack's action_ts of it): one click is handled once
    interaction: str

    def tell(self, text: str) -> None:
        """An ephemeral line to whoever clicked; `text` is mrkdwn, already escaped."""
        self.respond(
            **render("notice.json.j2", text=text, details=None),
            response_type="ephemeral",
            replace_original=False,
        )


@dataclass(frozen=True)
class Change:
    """One change a card asks the helpdesk for."""

    #: what the refusal names: "close this ticket"
    what: str
    apply: Callable[[str], None]
    #: the thread note's verb phrase: "closed the ticket"
    done: str
    #: True when the state the card shows already has this change (a double click's
    #: second click, or a click on a card older than the last change): nothing to do
    shown_in: Callable[[dict[str, str]], bool] = lambda state: False
    #: the status just set, shown on the card when the helpdesk's answers do not say it
    status_set: Status | None = None


class Cards:
    def __init__(
        self,
        gateway: TicketGateway,
        store: Store,
        slack: WebClient,
        lookups: Lookups,
        access: Access,
    ) -> None:
        self.gateway = gateway
        self.store = store
        self.slack = slack
        self.lookups = lookups
        self.access = access

    def render(self, ticket: Ticket, footer: str | None = None) -> Any:
        """The card's message: ticket fields, and the controls the helpdesk allows."""
        tags = self.lookups.tags()
        return render(
            "ticket_card.json.j2",
            ticket=ticket,
            category_name=ticket.category_name or self.lookups.category_name(ticket.category_id),
            requester=self.store.requester_of(ticket.id),
            capabilities=self.gateway.capabilities,
            priorities=[p.value for p in self.lookups.priorities()],
            tags=tags,
            tag_names=[t.name for t in tags if t.id in ticket.tag_ids],
            footer=footer,
        )

    def change_status(self, status: Status, click: Click) -> None:
        closing = status is Status.CLOSED
        self._change(
            Change(
                "close this ticket" if closing else "reopen this ticket",
                lambda ticket_id: self.gateway.set_status(ticket_id, status),
                f"{'closed' if closing else 'reopened'} the ticket",
                shown_in=lambda state: state.get("status") == status.value,
                status_set=status,
            ),
            click,
        )

    def change_priority(self, priority: Priority, click: Click) -> None:
        self._change(
            Change(
                "change this ticket's priority",
                lambda ticket_id: self.gateway.update_ticket(ticket_id, priority=priority),
                f"set the priority to {priority.value.capitalize()}",
                shown_in=lambda state: state.get("priority") == priority.value,
            ),
            click,
        )

    def change_tags(self, tag_ids: list[str], click: Click) -> None:
        names = [t.name for t in self.lookups.tags() if t.id in tag_ids]
        self._change(
            Change(
                "change this ticket's tags",
                lambda ticket_id: self.gateway.update_ticket(ticket_id, tag_ids=tag_ids),
                "set the tags to " + (", ".join(names) or "none"),
            ),
            click,
        )

    def _change(self, change: Change, click: Click) -> None:
        """The ticket linked to the card (never one the request names), changed by whoever
        may; one change per click; the card updated in place; a line in the thread.

        Nothing is remembered of a click that was refused or failed: it may be tried again."""
        ticket_id = self.store.ticket_for_thread(click.card)
        if ticket_id is None:
            click.tell(":warning: This card is not linked to a ticket.")
            return
        if not self.access.may_act(click.user_id, ticket_id):
            click.tell(f"Only the requester or an agent can {change.what}.")
            return
        claim = click_claim(f"{click.user_id}:{click.interaction}")
        if not self.store.claim(claim, CLICK_CLAIM_TTL):
            return  # this very click again
        done = False
        try:
            with self._one_change_at_a_time(ticket_id):
                done = self._apply(ticket_id, change, click)
        finally:
            if not done:
                self.store.release(claim)

    def _apply(self, ticket_id: str, change: Change, click: Click) -> bool:
        """True when the change is made and shown (or was already)."""
        if change.shown_in(self.store.poll_states([ticket_id])[0]):
            return True  # a double click's second: the first made this change
        try:
            change.apply(ticket_id)
            ticket = self.gateway.get_ticket(ticket_id).ticket
        except GatewayError as exc:
            click.tell(f":warning: {escape_mrkdwn(explain(exc))}")
            return False
        if change.status_set is not None and not self.gateway.capabilities.status_in:
            ticket = ticket.model_copy(update={"status": change.status_set})
        try:
            self.slack.chat_update(
                channel=click.card.channel, ts=click.card.ts, **self.render(ticket)
            )
        except (SlackApiError, OSError) as exc:
            log.warning("ticket %s changed but its card was not updated: %s", ticket_id, exc)
            click.tell(":warning: Done in the helpdesk, but Slack did not update the card yet.")
            return False
        # recorded only once the card shows it: after a failed update the poller still
        # sees a difference, and repairs the card
        self.store.remember_ticket_state(ticket.id, ticket.status, ticket.priority)
        who = self.lookups.person(click.user_id).name
        self.note(click.card, f"{escape_mrkdwn(who)} {change.done}.")
        return True

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
        """A short line in a ticket's thread; `text` is mrkdwn, already escaped."""
        self.slack.chat_postMessage(
            channel=thread.channel, thread_ts=thread.ts, **render("thread_note.json.j2", text=text)
        )
