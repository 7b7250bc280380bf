"""A ticket's Slack thread: its card linked to it, and the replies already in it brought in.

`link` is the one place where a posted card becomes its ticket's, for every way a
ticket is made (the modal: bot/desk/create.py; a message: bot/desk/intake.py).

A ticket made of a message (shortcut, reaction, intake channel) takes over that
message's thread, which may hold replies already. They go to the ticket the way
later replies do (bot/sync/replies.py): one ReplyJob each in the outbox, on the
ticket's lane, oldest first, delivered by bot/sync/delivery.py (files, dedupe).
Each one is claimed under the name the live path claims it by, so a reply is
enqueued once whether its event or the backfill comes first, and a retried job
(which backfills again: it may have stopped half way) enqueues nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk.cards import ticket_state
from bot.gateway import Ticket, TicketGateway
from bot.store import Store, ThreadRef
from bot.store.keys import message_claim
from bot.sync.outbox import Outbox, ReplyJob

log = logging.getLogger(__name__)

#: Slack's own answers that say "not now" rather than "never"
SLACK_TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
#: a person's message, as opposed to joins, topic changes and other subtypes
PEOPLE_SUBTYPES = {None, "file_share", "thread_broadcast"}
#: a backfilled reply is never enqueued again (its ts is unique: the claim may live long)
BACKFILL_CLAIM_TTL = 30 * 24 * 3600
#: conversations.replies page size (Slack recommends no more than 200)
PAGE = 200


class CardNotPosted(Exception):
    """The ticket exists but Slack did not take its card (or its thread) for now: the job
    is retried."""


def raise_if_transient(exc: SlackApiError, retried_as: type[Exception] = CardNotPosted) -> None:
    """`retried_as` (an error the job's worker retries) when Slack's error says "try
    again later"."""
    data, status = exc.response.data, exc.response.status_code
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    if status >= 500 or error in SLACK_TRANSIENT:
        raise retried_as(f"Slack answered {status} {error}".strip()) from exc


def from_a_person(message: dict[str, Any]) -> bool:
    """Written by a person: not by a bot (the bot's own posts among them), not a join."""
    if message.get("bot_id") or message.get("subtype") == "bot_message":
        return False
    return message.get("subtype") in PEOPLE_SUBTYPES and bool(message.get("user"))


def ticket_of_thread(store: Store, thread: ThreadRef) -> str | None:
    """The ticket `thread` belongs to: as its conversation, or as its announcement's thread
    in the agents' channel (which must never get a card: it would turn public)."""
    return store.ticket_for_thread(thread) or store.ticket_for_agents_thread(thread)


@dataclass
class Threads:
    gateway: TicketGateway
    store: Store
    slack: WebClient

    def link(
        self,
        ticket: Ticket,
        thread: ThreadRef,
        card: ThreadRef | None = None,
        *,
        made_of: dict[str, Any] | None = None,
    ) -> None:
        """The card is posted: `thread` (the card's own, or the thread it is a reply in)
        becomes the ticket's conversation, polled from now on, and the replies already
        in it are added to the ticket. `made_of`: the message the ticket was made of
        (see `backfill`)."""
        self.store.link_thread(ticket.id, thread, card=card)
        self.store.start_sync(ticket.id, *ticket_state(ticket))
        self.backfill(ticket.id, made_of=made_of)

    def backfill(self, ticket_id: str, *, made_of: dict[str, Any] | None = None) -> None:
        """The replies in the ticket's thread from before it was linked, each enqueued
        once (a retried job calls this again). `made_of`, the message the ticket was made
        of, is its description, not a reply to add; files it carries are (the ones the
        new ticket could not take). Nothing for a card that opened its own thread."""
        thread = self.store.thread_for_ticket(ticket_id)
        card = self.store.card_for_ticket(ticket_id)
        if thread is None or card == thread or not self.gateway.capabilities.conversations_out:
            return
        if made_of is not None:
            self._made_of(ticket_id, thread, made_of)
        try:
            for message in self._replies(thread):
                if message.get("ts") not in (thread.ts, card and card.ts) and from_a_person(
                    message
                ):
                    self._enqueue_once(ticket_id, thread, message)
        except SlackApiError as exc:
            raise_if_transient(exc)
            log.warning("thread of ticket %s not read: %s", ticket_id, exc.response.get("error"))

    def permalink(self, channel: str, ts: str) -> str:
        """A message's link, "" when Slack will not give it (`CardNotPosted` for now)."""
        try:
            answer = self.slack.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError as exc:
            raise_if_transient(exc)
            return ""
        return str(answer.get("permalink") or "")

    def _made_of(self, ticket_id: str, thread: ThreadRef, message: dict[str, Any]) -> None:
        if message.get("files") and message.get("user"):
            self._enqueue_once(ticket_id, thread, message)
        else:
            self.store.claim(message_claim(thread.channel, message["ts"]), BACKFILL_CLAIM_TTL)

    def _replies(self, thread: ThreadRef) -> Iterator[dict[str, Any]]:
        """The thread's messages, oldest first, page by page."""
        cursor = None
        while True:
            page = self.slack.conversations_replies(
                channel=thread.channel, ts=thread.ts, limit=PAGE, cursor=cursor
            )
            yield from page.get("messages") or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def _enqueue_once(self, ticket_id: str, thread: ThreadRef, message: dict[str, Any]) -> None:
        ts = str(message["ts"])
        claim = message_claim(thread.channel, ts)
        if not self.store.claim(claim, BACKFILL_CLAIM_TTL):
            return  # its event, or an earlier attempt, enqueued it
        job = ReplyJob.of(ticket_id, thread.channel, {**message, "thread_ts": thread.ts})
        try:
            self.store.set_message_state(thread.channel, ts, status="queued", ticket_id=ticket_id)
            Outbox(self.store).put(job)
        except Exception:
            self.store.release(claim)  # the retried job tries this one again
            raise
