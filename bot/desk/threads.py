"""A ticket's Slack thread: its card linked to it, and the replies already in it brought in.

`link` is the one place where a posted card becomes its ticket's, for every way a
ticket is made (the modal: bot/desk/create.py; a message: bot/desk/intake.py).

A ticket made of a message (shortcut, reaction, intake channel) takes over that
message's thread, which may hold replies already. `link` writes one BackfillJob
for them in the same Redis transaction as the link: a reply written after the
link (bot/sync/replies.py) is an outbox entry behind it on the ticket's lane, so it
cannot reach the helpdesk before the older ones. The worker (bot/sync/delivery.py)
reads the thread (`earlier_replies`) and delivers each reply as a ReplyJob is
delivered, oldest first, in that one entry: a reply whose own entry is still
waiting behind it goes with them, in its place, and its entry then finds it
delivered. Each reply takes the claim the live path takes, so a late event for one
adds no entry; a retried backfill skips what an earlier attempt delivered.
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
from bot.sync.outbox import BackfillJob, Outbox, ReplyJob

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
    """The ticket exists but Slack did not take its card for now: the job is retried."""


class ThreadNotRead(Exception):
    """Slack did not hand over the replies of a thread a ticket took over for now: the
    backfill is retried."""


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
        in it are to be added to the ticket (a BackfillJob, written with the link).
        `made_of`: the message the ticket was made of, its description, not a reply to
        add; the files it carries are (the ones the new ticket could not take)."""
        backfill = self._backfill_job(ticket.id, thread, card, made_of)
        then = Outbox.fields(backfill) if backfill is not None else None
        self.store.link_thread(ticket.id, thread, card=card, then=then)
        self.store.start_sync(ticket.id, *ticket_state(ticket))

    def earlier_replies(self, job: BackfillJob) -> Iterator[ReplyJob]:
        """The replies of the job's thread to add to its ticket, oldest first, each
        claimed as the live path claims it (`ThreadNotRead` when Slack may answer later).
        Also the ones claimed already: an earlier attempt's, or live replies whose own
        entries wait behind the backfill; their state tells delivery what is done."""
        thread = ThreadRef(job.channel, job.thread_ts)
        if job.made_of_files is not None:
            yield self._claimed(job.made_of_files)
        elif job.made_of_ts is not None:
            self.store.claim(message_claim(thread.channel, job.made_of_ts), BACKFILL_CLAIM_TTL)
        left_out = {thread.ts, job.card_ts, job.made_of_ts}
        try:
            for message in self._replies(thread):
                if message.get("ts") not in left_out and from_a_person(message):
                    reply = {**message, "thread_ts": thread.ts}
                    yield self._claimed(ReplyJob.of(job.ticket_id, thread.channel, reply))
        except SlackApiError as exc:
            raise_if_transient(exc, ThreadNotRead)
            log.warning(
                "thread of ticket %s not read: %s", job.ticket_id, exc.response.get("error")
            )

    def permalink(self, channel: str, ts: str) -> str:
        """A message's link, "" when Slack will not give it (`CardNotPosted` for now)."""
        try:
            answer = self.slack.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError as exc:
            raise_if_transient(exc)
            return ""
        return str(answer.get("permalink") or "")

    def _backfill_job(
        self,
        ticket_id: str,
        thread: ThreadRef,
        card: ThreadRef | None,
        made_of: dict[str, Any] | None,
    ) -> BackfillJob | None:
        """The job that adds the replies already in `thread`; None for a card that opened
        its own thread, or a helpdesk that takes no conversations."""
        if card is None or card == thread or not self.gateway.capabilities.conversations_out:
            return None
        files = None
        if made_of is not None and made_of.get("files") and made_of.get("user"):
            files = ReplyJob.of(ticket_id, thread.channel, {**made_of, "thread_ts": thread.ts})
        return BackfillJob(
            ticket_id=ticket_id,
            channel=thread.channel,
            thread_ts=thread.ts,
            card_ts=card.ts,
            made_of_ts=made_of["ts"] if made_of is not None else None,
            made_of_files=files,
        )

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

    def _claimed(self, reply: ReplyJob) -> ReplyJob:
        """`reply`, claimed and known as the ticket's (for its edits and deletion) unless
        its event or an earlier attempt did that first."""
        if self.store.claim(message_claim(reply.channel, reply.ts), BACKFILL_CLAIM_TTL):
            self.store.set_message_state(
                reply.channel, reply.ts, status="queued", ticket_id=reply.ticket_id
            )
        return reply
