"""The ticket card, its buttons and selects, and notes in its thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.desk.explain import explain
from bot.desk.lookups import Lookups
from bot.gateway import GatewayError, PriorityLevel, Ticket, TicketGateway, TicketStatus
from bot.slack.render import escape_mrkdwn, render
from bot.store import Store, ThreadRef
from bot.store.keys import click_claim

CLICK_CLAIM_TTL = 10

Respond = Callable[..., Any]


@dataclass(frozen=True)
class Click:
    """Who pressed something on a card, which card, and how to answer them alone."""

    user_id: str
    card: ThreadRef
    respond: Respond


@dataclass(frozen=True)
class Change:
    """One change a card asks the helpdesk for."""

    #: what it changes, as part of the claim that makes a double click one change
    key: str
    apply: Callable[[], None]
    #: the thread note's verb phrase: "closed the ticket"
    done: str
    #: the status just set, shown on the card when the helpdesk's answers do not say it
    status_set: TicketStatus | None = None
    #: the priority just set
    priority_set: PriorityLevel | None = None


@dataclass
class Cards:
    gateway: TicketGateway
    store: Store
    slack: WebClient
    lookups: Lookups

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

    def change_status(self, ticket_id: str, closing: bool, click: Click) -> None:
        """Close or Reopen: the helpdesk's own closing or reopening status."""
        caps = self.gateway.capabilities
        status = caps.closing_status() if closing else caps.reopening_status()
        verb = "closed" if closing else "reopened"
        if status is None:
            _refuse(click, f"This helpdesk has no status to mark a ticket {verb}.")
            return
        apply = lambda: self.gateway.set_status(ticket_id, status)  # noqa: E731
        change = Change(f"status:{status.id}", apply, f"{verb} the ticket", status_set=status)
        self._change(ticket_id, change, click)

    def change_priority(self, ticket_id: str, priority_id: str, click: Click) -> None:
        priority = self.lookups.priority(priority_id)
        if priority is None:
            _refuse(click, "This helpdesk has no such priority any more.")
            return
        apply = lambda: self.gateway.update_ticket(ticket_id, priority=priority)  # noqa: E731
        done = f"set the priority to {escape_mrkdwn(priority.label)}"
        change = Change(f"priority:{priority.id}", apply, done, priority_set=priority)
        self._change(ticket_id, change, click)

    def change_tags(self, ticket_id: str, tag_ids: list[str], click: Click) -> None:
        names = [t.name for t in self.lookups.tags() if t.id in tag_ids]
        apply = lambda: self.gateway.update_ticket(ticket_id, tag_ids=tag_ids)  # noqa: E731
        done = "set the tags to " + (", ".join(names) or "none")
        self._change(ticket_id, Change("tags:" + ",".join(sorted(tag_ids)), apply, done), click)

    def _change(self, ticket_id: str, change: Change, click: Click) -> None:
        """One change per double click; the card updated in place; a line in the thread.

        The change is recorded as the thread's state before the helpdesk is asked: a
        helpdesk that pushes (a webhook) may have it read back before this returns, and
        the sync must not announce it as made in the helpdesk."""
        claim = click_claim(ticket_id, change.key)
        if not self.store.claim(claim, CLICK_CLAIM_TTL):
            return
        before = self.store.poll_states([ticket_id])[0]
        if before:
            expected = _expected(before, change.status_set, change.priority_set)
            self.store.remember_ticket_state(ticket_id, *expected)
        try:
            change.apply()
            ticket = self.gateway.get_ticket(ticket_id).ticket
            if change.status_set is not None and not self.gateway.capabilities.status_in:
                ticket = ticket.model_copy(update={"status": change.status_set})
            self.store.remember_ticket_state(ticket.id, *ticket_state(ticket))
        except GatewayError as exc:
            if before:
                self.store.remember_ticket_state(ticket_id, *_expected(before, None, None))
            self.store.release(claim)
            _refuse(click, explain(exc))
            return
        self.slack.chat_update(channel=click.card.channel, ts=click.card.ts, **self.render(ticket))
        who = self.lookups.person(click.user_id).name
        self.note(click.card, f"{escape_mrkdwn(who)} {change.done}.")

    def note(self, thread: ThreadRef, text: str) -> None:
        """A short line in a ticket's thread; `text` is mrkdwn, already escaped."""
        self.slack.chat_postMessage(
            channel=thread.channel, thread_ts=thread.ts, **render("thread_note.json.j2", text=text)
        )


def _refuse(click: Click, text: str) -> None:
    """An ephemeral warning to whoever clicked."""
    click.respond(
        **render("notice.json.j2", text=f":warning: {text}", details=None),
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
