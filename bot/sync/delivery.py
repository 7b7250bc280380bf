"""Slack → helpdesk, worker side: one outbox entry delivered, or given up visibly.

`deliver` raises `Retry` (or the gateway's `Unavailable`) when trying again
later may work; any other `GatewayError` is final. Delivery is idempotent per
Slack message: its state in the store says what already reached the helpdesk
(`status`, `parts_done`, `sent_text`), and a retried attempt first looks for its
text in the ticket's conversations before sending it again.

A reply becomes "<name>: <plain text>"; Epixel takes one attachment per
conversation, so the first file rides with the text and each further file gets
a conversation of its own, "<name>: (file 2 of 3: report.pdf)". Files over the
backend's limit are left out, named in the text, and a thread note gives the limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk.agents import AgentChannel, NotAnnounced
from bot.desk.cards import Cards
from bot.desk.create import CardNotPosted, Creation
from bot.desk.explain import size_label
from bot.desk.intake import Intake
from bot.desk.lookups import Lookups
from bot.desk.threads import ThreadNotRead, Threads
from bot.gateway import FileUpload, TicketGateway
from bot.slack.client import FileRefused, FileTooLarge, download_file, file_url, token_may_fetch
from bot.slack.forms import SharedFile
from bot.slack.render import render
from bot.slack.text import to_plain_text
from bot.store import Store, ThreadRef
from bot.store.keys import note_claim
from bot.sync.outbox import (
    AnnounceJob,
    BackfillJob,
    CreateJob,
    DeleteJob,
    DirectMessageJob,
    EditJob,
    Entry,
    IntakeJob,
    ReplyJob,
    SyncJob,
)

log = logging.getLogger(__name__)

DELIVERED = "white_check_mark"
FAILED = "x"
NOTE_ONCE_TTL = 30 * 24 * 3600
#: the note kind of "could not reach the helpdesk", once per thread until a delivery works
DEAD_NOTE = "dead-note"
#: Slack's errors worth another attempt later (its retry handlers have tried already)
SLACK_TRANSIENT = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class Retry(Exception):
    """Not now: try this entry again after a backoff."""


class Part(NamedTuple):
    """One conversation to write: its text and at most one file."""

    text: str
    file: SharedFile | None = None


@dataclass
class Delivery:
    gateway: TicketGateway
    store: Store
    slack: WebClient
    lookups: Lookups
    cards: Cards
    creation: Creation
    threads: Threads
    #: the poller's read of one ticket (None: another poller is reading it; retry)
    sync_ticket: Callable[[str], object | None]
    #: tickets made of Slack messages (None: IntakeJobs are retried until dead-lettered)
    intake: Intake | None = None
    #: the agents' channel (None: new tickets are not announced)
    agents: AgentChannel | None = None

    def deliver(self, entry: Entry, attempt: int) -> None:
        job = entry.job
        if isinstance(job, ReplyJob):
            self._reply(job, retried=attempt > 1)
        elif isinstance(job, EditJob):
            self._edit(job, retried=attempt > 1)
        elif isinstance(job, DeleteJob):
            self._delete(job)
        elif isinstance(job, BackfillJob):
            self._backfill(job, retried=attempt > 1)
        elif isinstance(job, DirectMessageJob):
            self._direct_message(job)
        elif isinstance(job, SyncJob):
            if self.sync_ticket(job.ticket_id) is None:
                raise Retry("another poller is reading this ticket")
        elif isinstance(job, IntakeJob):
            if self.intake is None:
                raise Retry("this worker makes no tickets of messages")
            try:
                self.intake.create(job, redelivered=attempt > 1)
            except CardNotPosted as exc:
                raise Retry(str(exc)) from exc
            self._announce_created(job.key)
        elif isinstance(job, AnnounceJob):
            self._announce(job)
        else:
            try:
                self.creation.create(
                    job.draft, job.user_id, job.view_id, job.context, redelivered=attempt > 1
                )
            except CardNotPosted as exc:
                raise Retry(str(exc)) from exc  # the ticket is made; its card is retried
            self._announce_created(job.view_id)

    def give_up(self, entry: Entry, reason: str) -> None:
        """Make a dead-lettered entry visible where it came from (a SyncJob has no
        such place: the next poll of its ticket reads what it would have)."""
        job = entry.job
        try:
            if isinstance(job, ReplyJob):
                self.store.set_message_state(job.channel, job.ts, status="dead")
                self._react(job.channel, job.ts, FAILED)  # on each message that failed
                self._note_dead_once(job, f":x: This reply could not reach the helpdesk: {reason}")
            elif isinstance(job, EditJob):
                self._note_dead_once(job, f":x: An edit could not reach the helpdesk: {reason}")
            elif isinstance(job, BackfillJob):  # one per ticket: said once anyway
                earlier = "Replies written here before the ticket was made"
                self._note(job, f":x: {earlier} did not reach it: {reason}")
            elif isinstance(job, IntakeJob) and self.intake is not None:
                self.intake.gave_up(job, reason)
            elif isinstance(job, CreateJob):
                self.creation.gave_up(job.view_id, job.draft, job.context, reason)
        except Exception:
            log.exception("could not report a dead-lettered %s entry", job.kind)

    def _announce_created(self, key: str) -> None:
        """After a create or intake job, its card posted: the ticket it made goes to the
        agents' channel, as a job of its own (a Slack failure there retries only that)."""
        if self.agents is not None:
            self.agents.ticket_created(key)

    def _announce(self, job: AnnounceJob) -> None:
        if self.agents is None:
            raise Retry("this worker has no agents' channel")
        try:
            self.agents.announce(job)
        except NotAnnounced as exc:
            raise Retry(str(exc)) from exc

    def _direct_message(self, job: DirectMessageJob) -> None:
        """Every line of the job's burst in one message to the requester's IM with the bot
        (`chat.postMessage` to a user id opens it). A retried attempt sends the lines the
        first one took; one that follows a post whose answer was lost posts it again."""
        lines = self.store.take_news(job.ticket_id, job.burst)
        if lines and self.store.wants_direct_messages(job.user_id):  # switched off meanwhile?
            self._post_direct_message(job, lines)
        self.store.news_sent(job.burst)

    def _post_direct_message(self, job: DirectMessageJob, lines: list[str]) -> None:
        try:
            link = self.slack.chat_getPermalink(channel=job.channel, message_ts=job.thread_ts)
            permalink: str | None = str(link["permalink"])
        except SlackApiError:
            permalink = None  # the message goes without its link
        message = render(
            "direct_message.json.j2", ticket_id=job.ticket_id, lines=lines, link=permalink
        )
        try:
            self.slack.chat_postMessage(channel=job.user_id, **message)
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error in SLACK_TRANSIENT:
                raise Retry(f"Slack answered {error}") from None
            raise

    # --- replies ---------------------------------------------------------------

    def _backfill(self, job: BackfillJob, retried: bool) -> None:
        """The replies a thread held when its ticket took it over, each delivered as its
        ReplyJob would be, oldest first, in this one entry: the entries of replies
        written since wait behind it. A retried attempt skips the delivered ones; only
        the first it sends may have reached the helpdesk unrecorded, so only it looks."""
        look_first = retried
        try:
            for reply in self.threads.earlier_replies(job):
                if self._reply(reply, retried=look_first):
                    look_first = False
        except ThreadNotRead as exc:
            raise Retry(str(exc)) from exc

    def _reply(self, job: ReplyJob, retried: bool) -> bool:
        """Whether it was sent now (not before, not deleted first)."""
        state = self.store.message_state(job.channel, job.ts)
        if state.get("status") == "delivered":
            self._react(job.channel, job.ts, DELIVERED)  # the reaction may be what was lost
            return False
        if state.get("deleted"):
            self.store.set_message_state(job.channel, job.ts, status="dropped")
            return False
        text = state.get("latest_text", job.text)
        parts = self._parts(job, text)
        done = int(state.get("parts_done", "0"))
        for index in range(done, len(parts)):
            self._send(job, parts[index], look_first=retried and index == done)
            self.store.set_message_state(job.channel, job.ts, parts_done=str(index + 1))
        self.store.set_message_state(job.channel, job.ts, status="delivered", sent_text=text)
        # delivered again: the thread's next failure is a new outage, worth a note
        self.store.release(note_claim(DEAD_NOTE, job.channel, job.thread_ts))
        self._react(job.channel, job.ts, DELIVERED)
        return True

    def _parts(self, job: ReplyJob, text: str) -> list[Part]:
        caps = self.gateway.capabilities
        name = self.lookups.person(job.user).name
        body = self._plain(text)
        limit = caps.max_attachment_bytes
        too_large = [f for f in job.files if limit and f.size is not None and f.size > limit]
        elsewhere = [f for f in job.files if not self._in_slack(f)]
        sendable = (
            [f for f in job.files if f not in too_large and f not in elsewhere]
            if caps.attachments
            else []
        )
        left_out = [f for f in job.files if f not in sendable]
        if too_large:
            self._note_too_large(job, too_large)
        if elsewhere and caps.attachments:
            self._note_not_in_slack(job, elsewhere)
        if left_out:
            body = f"{body} [not attached: {', '.join(f.name for f in left_out)}]".strip()
        if not body:
            body = "(shared " + ", ".join(f.name for f in sendable) + ")"
        parts = [Part(f"{name}: {body}", sendable[0] if sendable else None)]
        for number, file in enumerate(sendable[1:], start=2):
            parts.append(Part(f"{name}: (file {number} of {len(sendable)}: {file.name})", file))
        return parts

    def _send(self, job: ReplyJob | EditJob, part: Part, look_first: bool) -> None:
        """One conversation, unless a retried attempt finds it already in the helpdesk."""
        ticket_id = job.ticket_id
        if look_first and self._helpdesk_has(ticket_id, part.text):
            log.info("ticket %s already has a retried conversation; not sent again", ticket_id)
            return
        attachment = self._download(job, part.file) if part.file else None
        self.store.remember_sent(ticket_id, part.text)
        self.gateway.add_conversation(ticket_id, part.text, attachment, public=not job.internal)

    def _helpdesk_has(self, ticket_id: str, text: str) -> bool:
        if not self.store.was_sent(ticket_id, text):
            return False  # never sent by anyone: nothing to find
        wanted = " ".join(text.split())
        conversations = self.gateway.get_ticket(ticket_id).conversations
        return any(" ".join(c.text.split()) == wanted for c in conversations)

    def _download(self, job: ReplyJob | EditJob, file: SharedFile) -> FileUpload | None:
        limit = self.gateway.capabilities.max_attachment_bytes
        try:
            return download_file(self.slack, file.download_spec(), limit)
        except FileTooLarge:
            self._note_too_large(job, [file])  # Slack did not tell its size in advance
            return None
        except FileRefused:
            self._note_not_in_slack(job, [file])
            return None
        except httpx.HTTPError as exc:
            raise Retry(f"Slack did not hand over {file.name} ({type(exc).__name__})") from None

    # --- edits and deletions ----------------------------------------------------

    def _edit(self, job: EditJob, retried: bool) -> None:
        state = self.store.message_state(job.channel, job.ts)
        status = state.get("status")
        if status in (None, "queued"):
            raise Retry("the reply itself is still on its way")
        latest = state.get("latest_text", job.text)
        if status != "delivered" or latest == state.get("sent_text"):
            return  # never sent (deleted, dead), or sent with this text already
        name = self.lookups.person(job.user).name if job.user else "Someone"
        self._send(job, Part(f"{name}: (edited) {self._plain(latest)}"), look_first=retried)
        self.store.set_message_state(job.channel, job.ts, sent_text=latest)

    def _delete(self, job: DeleteJob) -> None:
        status = self.store.message_state(job.channel, job.ts).get("status")
        if status in (None, "queued"):
            raise Retry("the reply itself is still on its way")
        if status == "delivered" and self._once(note_claim("deleted-note", job.channel, job.ts)):
            self._note(job, _deleted_note(job))

    # --- Slack side ---------------------------------------------------------------

    def _plain(self, text: str) -> str:
        return to_plain_text(text, lambda user: self.lookups.person(user).name).strip()

    def _note_too_large(self, job: ReplyJob | EditJob, files: list[SharedFile]) -> None:
        limit = self.gateway.capabilities.max_attachment_bytes or 0
        names = ", ".join(f.name for f in files)
        if self._once(note_claim("too-large-note", job.channel, job.ts)):
            self._note(
                job,
                f":warning: {names} not sent to the helpdesk: it takes files up to "
                f"{size_label(limit)}.",
            )

    def _in_slack(self, file: SharedFile) -> bool:
        return token_may_fetch(file_url(file.download_spec()), self.slack.base_url)

    def _note_not_in_slack(self, job: ReplyJob | EditJob, files: list[SharedFile]) -> None:
        names = ", ".join(f.name for f in files)
        if self._once(note_claim("not-in-slack-note", job.channel, job.ts)):
            self._note(
                job,
                f":warning: {names} not sent to the helpdesk: the bot fetches only files "
                "stored in Slack.",
            )

    def _note_dead_once(self, job: ReplyJob | EditJob, text: str) -> None:
        """One note per thread per outage: messages failing one after another (or sent to
        fill the dead letters) add a reaction each, not a note each."""
        if self._once(note_claim(DEAD_NOTE, job.channel, job.thread_ts)):
            self._note(job, text + " (messages marked :x: here did not reach it)")

    def _note(self, job: ReplyJob | EditJob | DeleteJob | BackfillJob, text: str) -> None:
        try:
            self.cards.note(ThreadRef(job.channel, job.thread_ts), text)
        except SlackApiError as exc:
            log.warning("thread note failed: %s", exc.response.get("error"))

    def _react(self, channel: str, ts: str, name: str) -> None:
        try:
            self.slack.reactions_add(channel=channel, timestamp=ts, name=name)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_reacted":
                log.warning("reaction %s failed: %s", name, exc.response.get("error"))

    def _once(self, what: str) -> bool:
        return self.store.claim(what, NOTE_ONCE_TTL)


def _deleted_note(job: DeleteJob) -> str:
    """What the thread is told of a deleted reply: agents can remove the internal note
    themselves; a requester has to ask one."""
    if job.internal:
        return (
            f"A message deleted here stays in the helpdesk as an internal note on ticket "
            f"#{job.ticket_id}: delete it there if it must go."
        )
    return (
        f"A message deleted here stays in the helpdesk: ticket #{job.ticket_id} "
        "keeps its text. Ask an agent if it must go."
    )
