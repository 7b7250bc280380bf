"""Slack → helpdesk, listener side: which messages are mirrored, written to the outbox.

Runs on the request's thread, before Slack gets its answer, and does only Redis
work (dedupe claims, the outbox entry, the message's state); everything that
talks to the helpdesk or to Slack happens in the worker (bot/sync/delivery.py).

What is mirrored: a person's message in the thread of a ticket card (subtype
none, `file_share` or `thread_broadcast`), as a public conversation; and one in
the thread of a ticket's announcement in the agents' channel (bot/desk/agents.py),
as an internal note, or, where the helpdesk has none, not at all (one note in
that thread says so). Not mirrored: bot messages, the bot's own posts, the card
itself, messages outside ticket threads, and every other subtype (joins, topic
changes, …).

Edits and deletions of a mirrored reply:
- edited before it reached the helpdesk: the new text is what will be sent;
- edited after: the new text goes to the helpdesk as a new conversation,
  "(edited) …" (the helpdesk cannot change a conversation);
- deleted before it reached the helpdesk: it is not sent;
- deleted after: a thread note says the helpdesk keeps the text.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from bot.desk.agents import AgentChannel
from bot.desk.deferred import Defer
from bot.desk.intake import Intake
from bot.gateway import TicketGateway
from bot.store import Store, ThreadRef
from bot.store.keys import delete_claim, edit_claim, event_claim, message_claim, note_claim
from bot.sync.outbox import DeleteJob, EditJob, Outbox, ReplyJob

log = logging.getLogger(__name__)

#: Slack retries for about 5 minutes; claims outlive that with room to spare
DEDUPE_TTL = 15 * 60
ONCE_PER_THREAD_TTL = 30 * 24 * 3600
MIRRORED_SUBTYPES = {None, "file_share", "thread_broadcast"}
NO_CONVERSATIONS_NOTE = (
    "This helpdesk does not take replies from Slack, so messages in this thread stay "
    "here. Write in the helpdesk to reach the agents."
)
NO_INTERNAL_NOTES_NOTE = (
    "This helpdesk has no internal notes, so messages in this thread stay here: nothing "
    "was sent to the helpdesk, and the requester sees none of it."
)


class Replies:
    def __init__(
        self,
        store: Store,
        gateway: TicketGateway,
        note: Callable[[ThreadRef, str], None],
        after_ack: Defer,
        intake: Intake | None = None,
        agents: AgentChannel | None = None,
    ) -> None:
        """`intake`: where top-level messages of TICKET_INTAKE_CHANNELS go; `agents`:
        the agents' channel, whose announcement threads take internal notes."""
        self.store = store
        self.intake = intake
        self.agents = agents
        self.gateway = gateway  # for its capabilities only: this side makes no requests
        self.note = note
        self.after_ack = after_ack
        self.outbox = Outbox(store)

    def accept(self, event: dict[str, Any], event_id: str | None) -> None:
        """Decide about one `message` event; what is mirrored is in the outbox on return."""
        subtype = event.get("subtype")
        if self.intake is not None and self.intake.takes(event):
            self.intake.posted(event)
        elif subtype == "message_changed":
            self._edited(event, event_id)
        elif subtype == "message_deleted":
            self._deleted(event, event_id)
        elif subtype in MIRRORED_SUBTYPES and not _from_a_bot(event):
            self._replied(event, event_id)

    def _replied(self, event: dict[str, Any], event_id: str | None) -> None:
        channel, ts, thread_ts = event.get("channel"), event.get("ts"), event.get("thread_ts")
        if not (channel and ts and thread_ts) or thread_ts == ts or not event.get("user"):
            return
        thread = ThreadRef(channel, thread_ts)
        found = self._ticket_of(thread)
        if found is None:
            return
        ticket_id, internal = found
        caps = self.gateway.capabilities
        if internal and not caps.internal_notes:
            self._say_once("no-internal-notes", thread, NO_INTERNAL_NOTES_NOTE)
            return
        if not caps.conversations_out:
            self._say_once("no-conversations-out", thread, NO_CONVERSATIONS_NOTE)
            return
        job = ReplyJob.of(ticket_id, channel, event, internal=internal)
        state = {"status": "queued", "ticket_id": ticket_id}
        if internal:
            state["internal"] = "1"  # its edits are internal notes too
        self._enqueue_once(event_id, message_claim(channel, ts), job, **state)

    def _ticket_of(self, thread: ThreadRef) -> tuple[str, bool] | None:
        """The ticket whose thread this is, and whether replies there are internal notes
        (the thread of its announcement in the agents' channel)."""
        ticket_id = self.store.ticket_for_thread(thread)
        if ticket_id is not None:
            return ticket_id, False
        ticket_id = self.agents.ticket_of(thread) if self.agents is not None else None
        return None if ticket_id is None else (ticket_id, True)

    def _edited(self, event: dict[str, Any], event_id: str | None) -> None:
        message = event.get("message") or {}
        before = event.get("previous_message") or {}
        channel, ts = event.get("channel"), message.get("ts")
        if (
            not channel
            or not ts
            or _from_a_bot(message)
            or message.get("text") == before.get("text")
        ):
            return  # unfurls, reply counts and other changes that are not edits
        state = self.store.message_state(channel, ts)
        if not state.get("ticket_id"):
            return  # not a reply the bot mirrors
        text = message.get("text") or ""
        version = (message.get("edited") or {}).get("ts") or _digest(text)
        job = EditJob(
            ticket_id=state["ticket_id"],
            channel=channel,
            thread_ts=message.get("thread_ts") or ts,
            ts=ts,
            user=message.get("user") or "",
            text=text,
            internal=state.get("internal") == "1",
        )
        self._enqueue_once(event_id, edit_claim(channel, ts, version), job, latest_text=text)

    def _deleted(self, event: dict[str, Any], event_id: str | None) -> None:
        channel, ts = event.get("channel"), event.get("deleted_ts")
        if not channel or not ts:
            return
        state = self.store.message_state(channel, ts)
        if not state.get("ticket_id"):
            return
        before = event.get("previous_message") or {}
        job = DeleteJob(
            ticket_id=state["ticket_id"],
            channel=channel,
            thread_ts=before.get("thread_ts") or ts,
            ts=ts,
            internal=state.get("internal") == "1",
        )
        self._enqueue_once(event_id, delete_claim(channel, ts), job, deleted="1")

    def _enqueue_once(
        self,
        event_id: str | None,
        message_claim: str,
        job: ReplyJob | EditJob | DeleteJob,
        **state: str,
    ) -> None:
        """Claim the event id and the message, record its state, write the job.

        A Slack retry carries the same event id; the same message delivered under
        two event ids carries the same (channel, ts): either claim stops it.
        """
        claims = [event_claim(event_id)] if event_id else []
        claims.append(message_claim)
        taken = []
        try:
            for claim in claims:
                if not self.store.claim(claim, DEDUPE_TTL):
                    return
                taken.append(claim)
            self.store.set_message_state(job.channel, job.ts, **state)
            self.outbox.put(job)
        except Exception:
            for claim in taken:  # Slack retries; let the retry through
                self.store.release(claim)
            raise

    def _say_once(self, kind: str, thread: ThreadRef, text: str) -> None:
        """One note of this `kind` per thread, however many messages come."""
        if self.store.claim(note_claim(kind, thread.channel, thread.ts), ONCE_PER_THREAD_TTL):
            self.after_ack(lambda: self.note(thread, text))


def _from_a_bot(message: dict[str, Any]) -> bool:
    return bool(message.get("bot_id")) or message.get("subtype") == "bot_message"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
