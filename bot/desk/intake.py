"""Tickets made from a Slack message: a reaction with TICKET_REACTION on it, or a
person's new top-level message in one of TICKET_INTAKE_CHANNELS.

Listener side (`reacted`, Redis only, before Slack's answer): one claim per
(channel, message ts) lets exactly one of simultaneous reactions and Slack's
redeliveries through, and writes an IntakeJob to the outbox. Worker side
(`create`): read the message, create the ticket once, post its card as a reply
in the message's thread and link that thread to the ticket, so replies there
become the ticket's conversations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk.cards import Cards
from bot.desk.explain import explain
from bot.desk.lookups import Lookups
from bot.desk.threads import (
    CardNotPosted,
    Threads,
    from_a_person,
    raise_if_transient,
    ticket_of_thread,
)
from bot.gateway import GatewayError, NewTicket, OutcomeUnknown, Ticket, TicketGateway
from bot.slack.text import to_plain_text
from bot.store import Store, ThreadRef
from bot.store.keys import create_claim, intake_claim
from bot.sync.outbox import IntakeJob, Outbox

log = logging.getLogger(__name__)

#: a message becomes a ticket once, however late a reaction comes
INTAKE_CLAIM_TTL = 90 * 24 * 3600
CREATED_TTL = 24 * 3600
DEFAULT_SUBJECT_CHARS = 200
#: changes to a message, which go where replies' changes go (bot/sync/replies.py)
EDITS = {"message_changed", "message_deleted"}


@dataclass
class Intake:
    gateway: TicketGateway
    store: Store
    slack: WebClient
    lookups: Lookups
    cards: Cards
    threads: Threads
    #: TICKET_REACTION: the emoji name (no colons); empty: reactions make no tickets
    reaction: str = ""
    #: TICKET_INTAKE_CHANNELS
    channels: frozenset[str] = frozenset()

    # --- listener side --------------------------------------------------------------

    def reacted(self, event: dict[str, Any]) -> None:
        """A `reaction_added` event: the job is in the outbox on return, or nothing is."""
        item = event.get("item") or {}
        channel, ts, user = item.get("channel"), item.get("ts"), event.get("user")
        if not self.reaction or event.get("reaction") != self.reaction:
            return
        if item.get("type") != "message" or not (channel and ts and user):
            return
        if self.store.ticket_for_thread(ThreadRef(channel, ts)) is not None:
            return  # its thread is a ticket's already (a card, or a message made a ticket)
        self._enqueue_once(IntakeJob(channel=channel, ts=ts, reactor=user))

    def takes(self, event: dict[str, Any]) -> bool:
        """A `message` event that is a new top-level message in an intake channel (who
        wrote it is checked by `posted`); thread replies are not."""
        if event.get("subtype") in EDITS or event.get("channel") not in self.channels:
            return False
        return event.get("thread_ts") in (None, event.get("ts"))

    def posted(self, event: dict[str, Any]) -> None:
        """A person's new message in an intake channel: the job is in the outbox on return."""
        channel, ts, user = event.get("channel"), event.get("ts"), event.get("user")
        if not from_a_person(event) or not (channel and ts and user):
            return  # joins, edits, deletions, bots (the bot's own cards among them)
        self._enqueue_once(IntakeJob(channel=channel, ts=ts, author=user))

    def _enqueue_once(self, job: IntakeJob) -> None:
        claim = intake_claim(job.channel, job.ts)
        if not self.store.claim(claim, INTAKE_CLAIM_TTL):
            return  # another reaction, or Slack's redelivery, got there first
        try:
            Outbox(self.store).put(job)
        except Exception:
            self.store.release(claim)  # Slack retries; let the retry through
            raise

    # --- worker side ----------------------------------------------------------------

    def create(self, job: IntakeJob, *, redelivered: bool = False) -> None:
        """Create the message's ticket once and post its card in the message's thread."""
        key = job.key
        created = self.store.created_ticket(key)
        if created is not None:  # an earlier attempt created it: the card is what is left
            self._announce(Ticket.model_validate_json(created), job, self._thread_of(job))
            return
        claim = create_claim(key)
        if not self.store.claim(claim, CREATED_TTL):
            if redelivered:
                self._tell(job, f":grey_question: {explain(OutcomeUnknown('create interrupted'))}")
            return
        message = self._message(job)
        if message is None or not from_a_person(message):
            return  # gone, a bot's, a join, a topic change: nothing to make a ticket of
        thread = ThreadRef(job.channel, message.get("thread_ts") or job.ts)
        if ticket_of_thread(self.store, thread):
            return  # the thread it is in belongs to a ticket already (its agents' thread too)
        try:
            ticket = self.gateway.create_ticket(self._new_ticket(job, message))
        except OutcomeUnknown as exc:
            self._tell(job, f":grey_question: {explain(exc)}")
            return
        except GatewayError as exc:
            self.store.release(claim)
            self.store.release(intake_claim(job.channel, job.ts))  # a new reaction may retry
            self._tell(job, f":x: The ticket was not created. {explain(exc)}")
            return
        self.store.remember_created(key, ticket.model_dump_json(), CREATED_TTL)
        author = str(message["user"])
        self.store.remember_requester(ticket.id, self.lookups.person(author).name, author)
        self._announce(ticket, job, thread)

    def gave_up(self, job: IntakeJob, reason: str) -> None:
        self._tell(job, f":x: No ticket was made of that message: {reason}")

    def _new_ticket(self, job: IntakeJob, message: dict[str, Any]) -> NewTicket:
        text = to_plain_text(message.get("text") or "", lambda u: self.lookups.person(u).name)
        subject = subject_of(text, self.gateway.capabilities.max_subject_chars)
        if job.reactor:
            made_by = made_in_slack_by(self.lookups.person(job.reactor).name)
        else:
            made_by = "Posted in a Slack channel that takes tickets."
        description = f"{text}\n\n{self.threads.permalink(job.channel, job.ts)}\n\n{made_by}"
        caps = self.gateway.capabilities
        categories = self.lookups.categories() if caps.categories else []
        priorities = self.lookups.priorities() if caps.priorities else []
        return NewTicket(
            subject=subject,
            description=description.strip(),
            # no form to choose in: the helpdesk's first category, its middle priority
            category_id=categories[0].id if categories else None,
            priority=priorities[len(priorities) // 2] if priorities else None,
            requester=self.lookups.person(str(message["user"])),
            reference=f"slack-{job.key}",
        )

    def _message(self, job: IntakeJob) -> dict[str, Any] | None:
        """The message as Slack has it now: top-level from the history, else from a thread."""
        try:
            answer = self.slack.conversations_history(
                channel=job.channel, latest=job.ts, inclusive=True, limit=1
            )
            for message in answer.get("messages") or []:
                if message.get("ts") == job.ts:
                    return dict(message)
            answer = self.slack.conversations_replies(
                channel=job.channel, ts=job.ts, latest=job.ts, inclusive=True, limit=1
            )
        except SlackApiError as exc:
            raise_if_transient(exc)
            log.warning("message %s not readable: %s", job.key, exc.response.get("error"))
            return None
        found = [m for m in answer.get("messages") or [] if m.get("ts") == job.ts]
        return dict(found[0]) if found else None

    def _thread_of(self, job: IntakeJob) -> ThreadRef:
        message = self._message(job) or {}
        return ThreadRef(job.channel, message.get("thread_ts") or job.ts)

    def _announce(self, ticket: Ticket, job: IntakeJob, thread: ThreadRef) -> None:
        if self.store.thread_for_ticket(ticket.id) is not None:
            return  # posted by an attempt that stopped right after (its backfill written)
        try:
            posted = self.slack.chat_postMessage(
                channel=thread.channel, thread_ts=thread.ts, **self.cards.render(ticket)
            )
        except SlackApiError as exc:
            raise_if_transient(exc)
            log.warning("card of ticket %s not posted: %s", ticket.id, exc.response.get("error"))
            return
        except OSError as exc:
            raise CardNotPosted(f"Slack could not be reached ({type(exc).__name__})") from exc
        card = ThreadRef(posted["channel"], posted["ts"])
        self.threads.link(ticket, thread, card, made_of={"ts": job.ts})

    def _tell(self, job: IntakeJob, text: str) -> None:
        if job.told is None:
            return
        try:
            self.slack.chat_postEphemeral(channel=job.channel, user=job.told, text=text)
        except SlackApiError as exc:
            log.warning("could not tell %s: %s", job.told, exc.response.get("error"))


def subject_of(text: str, limit: int | None) -> str:
    """A ticket's subject from a message's plain text: its first line, cut to `limit`."""
    limit = limit or DEFAULT_SUBJECT_CHARS
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    subject = first_line or "Message from Slack"
    if len(subject) > limit:
        subject = subject[: limit - 1].rstrip() + "…"
    return subject


def made_in_slack_by(name: str) -> str:
    """The line a ticket made of a message gets, naming who made it (not its requester)."""
    return f"Ticket made in Slack by {name}."
