"""The ticket card, its buttons and selects, and notes in its thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.desk.explain import explain
from bot.desk.lookups import Lookups
from bot.gateway import GatewayError, Priority, Status, Ticket, TicketGateway
from bot.slack.render import render
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
    status_set: Status | None = None


class Cards:
    def __init__(
        self, gateway: TicketGateway, store: Store, slack: WebClient, lookups: Lookups
    ) -> None:
        self.gateway = gateway
        self.store = store
        self.slack = slack
        self.lookups = lookups

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

    def change_status(self, ticket_id: str, status: Status, click: Click) -> None:
        verb = "closed" if status is Status.CLOSED else "reopened"
        apply = lambda: self.gateway.set_status(ticket_id, status)  # noqa: E731
        self._change(
            ticket_id, Change(f"status:{status.value}", apply, f"{verb} the ticket", status), click
        )

    def change_priority(self, ticket_id: str, priority: Priority, click: Click) -> None:
        apply = lambda: self.gateway.update_ticket(ticket_id, priority=priority)  # noqa: E731
        done = f"set the priority to {priority.value.capitalize()}"
        self._change(ticket_id, Change(f"priority:{priority.value}", apply, done), click)

    def change_tags(self, ticket_id: str, tag_ids: list[str], click: Click) -> None:
        names = [t.name for t in self.lookups.tags() if t.id in tag_ids]
        apply = lambda: self.gateway.update_ticket(ticket_id, tag_ids=tag_ids)  # noqa: E731
        done = "set the tags to " + (", ".join(names) or "none")
        self._change(ticket_id, Change("tags:" + ",".join(sorted(tag_ids)), apply, done), click)

    def _change(self, ticket_id: str, change: Change, click: Click) -> None:
        """One change per double click; the card updated in place; a line in the thread."""
        claim = click_claim(ticket_id, change.key)
        if not self.store.claim(claim, CLICK_CLAIM_TTL):
            return
        try:
            change.apply()
            ticket = self.gateway.get_ticket(ticket_id).ticket
            if change.status_set is not None and not self.gateway.capabilities.status_in:
                ticket = ticket.model_copy(update={"status": change.status_set})
            self.store.remember_ticket_state(ticket.id, ticket.status, ticket.priority)
        except GatewayError as exc:
            self.store.release(claim)
            click.respond(
                **render("notice.json.j2", text=f":warning: {explain(exc)}", details=None),
                response_type="ephemeral",
                replace_original=False,
            )
            return
        self.slack.chat_update(channel=click.card.channel, ts=click.card.ts, **self.render(ticket))
        who = self.lookups.person(click.user_id).name
        self.note(click.card, f"{who} {change.done}.")

    def note(self, thread: ThreadRef, text: str) -> None:
        """A short line in a ticket's thread: plain text, or `Mrkdwn` the caller built."""
        self.slack.chat_postMessage(
            channel=thread.channel, thread_ts=thread.ts, **render("thread_note.json.j2", text=text)
        )
