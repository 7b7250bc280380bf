"""The durable outbox: what listeners hand to the workers, written before they return.

Each entry of the Redis Stream holds one job as JSON. Jobs of one ticket (or of
one modal, for a creation) share a *lane* so that a worker delivers them in
order; different lanes are delivered concurrently.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from bot.slack.forms import Draft, ModalContext, SharedFile
from bot.store import Store, StreamEntry

log = logging.getLogger(__name__)

#: how many earlier undelivered entries an entry's order is checked against: a backlog
#: deeper than this is delivered without looking further back
ORDER_LOOKBACK = 1000


class ThreadMessageJob(BaseModel):
    """Something about one message in a ticket's thread; a ticket's jobs share a lane."""

    ticket_id: str
    channel: str
    thread_ts: str
    ts: str
    #: in the ticket's thread in the agents' channel: an internal note, never public
    internal: bool = False

    @property
    def lane(self) -> str:
        return f"ticket:{self.ticket_id}"


class ReplyJob(ThreadMessageJob):
    """A person's reply in a ticket's thread, to become a conversation."""

    kind: Literal["reply"] = "reply"
    user: str
    text: str = ""
    files: list[SharedFile] = Field(default_factory=list)

    @classmethod
    def of(
        cls, ticket_id: str, channel: str, message: dict[str, Any], *, internal: bool = False
    ) -> ReplyJob:
        """The job for `message`, a person's reply as Slack sends it (event or history)."""
        return cls(
            ticket_id=ticket_id,
            channel=channel,
            internal=internal,
            thread_ts=message["thread_ts"],
            ts=message["ts"],
            user=message["user"],
            text=message.get("text") or "",
            files=[SharedFile.model_validate(f) for f in message.get("files") or [] if f.get("id")],
        )


class EditJob(ThreadMessageJob):
    """A mirrored reply was edited in Slack; `text` is its new text."""

    kind: Literal["edit"] = "edit"
    user: str
    text: str


class DeleteJob(ThreadMessageJob):
    """A mirrored reply was deleted in Slack."""

    kind: Literal["delete"] = "delete"


class BackfillJob(BaseModel):
    """A Slack thread a ticket took over (bot/desk/threads.py): the replies already in it,
    added to the ticket oldest first. Written with the link itself, so that a reply
    written after the link waits behind it on the ticket's lane."""

    kind: Literal["backfill"] = "backfill"
    ticket_id: str
    channel: str
    thread_ts: str
    #: the ticket's card, a reply in the thread: not added
    card_ts: str
    #: the message the ticket was made of: its description, not a reply to add
    made_of_ts: str | None = None
    #: that message's files the new ticket could not take, added first
    made_of_files: ReplyJob | None = None

    @property
    def lane(self) -> str:
        return f"ticket:{self.ticket_id}"


class CreateJob(BaseModel):
    """A submitted new-ticket modal."""

    kind: Literal["create"] = "create"
    draft: Draft
    user_id: str
    view_id: str
    context: ModalContext

    @property
    def lane(self) -> str:
        return f"view:{self.view_id}"


class IntakeJob(BaseModel):
    """A Slack message to become a ticket: someone reacted with TICKET_REACTION, or it
    was posted in one of TICKET_INTAKE_CHANNELS."""

    kind: Literal["intake"] = "intake"
    channel: str
    ts: str
    #: who reacted (named in the ticket); None: posted in an intake channel
    reactor: str | None = None
    #: the message's author as the event named them (told when it fails)
    author: str | None = None

    @property
    def told(self) -> str | None:
        """Who hears about a failure: who reacted, else who wrote."""
        return self.reactor or self.author

    @property
    def key(self) -> str:
        return f"{self.channel}-{self.ts}"

    @property
    def lane(self) -> str:
        return f"intake:{self.key}"


class SyncJob(BaseModel):
    """A helpdesk webhook said this ticket changed: read it and post what is new."""

    kind: Literal["sync"] = "sync"
    ticket_id: str

    @property
    def lane(self) -> str:
        return f"ticket:{self.ticket_id}"


class DirectMessageJob(BaseModel):
    """One burst of news on a ticket (agent replies, status changes) for its requester:
    one direct message with every line the store gathered for it (bot/store/direct.py),
    written with the burst's first lines and due a window after them."""

    kind: Literal["dm"] = "dm"
    ticket_id: str
    user_id: str
    channel: str
    thread_ts: str
    #: names the burst: its claim's value, and the lines it took
    burst: str

    @property
    def lane(self) -> str:
        return f"ticket:{self.ticket_id}"


class AnnounceJob(BaseModel):
    """A ticket made from Slack, to be announced in the agents' channel
    (TICKET_AGENT_CHANNEL) with a link to its card."""

    kind: Literal["announce"] = "announce"
    ticket_id: str
    subject: str

    @property
    def lane(self) -> str:
        return f"ticket:{self.ticket_id}"


AnyJob = (
    ReplyJob
    | EditJob
    | DeleteJob
    | BackfillJob
    | CreateJob
    | IntakeJob
    | SyncJob
    | DirectMessageJob
    | AnnounceJob
)
Job = Annotated[AnyJob, Field(discriminator="kind")]
JOB = TypeAdapter[Any](Job)


class Entry(NamedTuple):
    id: str
    job: AnyJob
    enqueued_at: float
    fields: dict[str, str]


class Outbox:
    def __init__(self, store: Store) -> None:
        self.store = store

    def put(self, job: AnyJob) -> str:
        """Write `job` durably; returns the stream entry id."""
        return self.store.outbox_add(self.fields(job))

    @staticmethod
    def fields(job: AnyJob, due: float | None = None) -> dict[str, str]:
        """`job` as a stream entry; `due`: not delivered before this time (epoch seconds)."""
        fields = {"job": job.model_dump_json(), "lane": job.lane, "at": f"{time.time():.6f}"}
        if due is not None:
            fields["due"] = f"{due:.6f}"
        return fields

    @staticmethod
    def lane_of(raw: StreamEntry) -> str:
        """The entry's lane (its ticket), read without parsing the job."""
        return raw.fields.get("lane") or raw.id

    @staticmethod
    def due_of(raw: StreamEntry) -> float:
        """When the entry may be delivered (epoch seconds; 0: at once)."""
        try:
            return float(raw.fields.get("due", "0"))
        except ValueError:
            return 0.0  # parse() dead-letters what is unreadable

    def waits_behind_older(self, raw: StreamEntry) -> bool:
        """Whether an earlier entry of the same lane is still to be delivered (by this
        worker or another): one ticket's jobs go out in the order they were written,
        however many workers read the stream. Entries waiting for their due time do not
        hold the others back."""
        lane, now = self.lane_of(raw), time.time()
        return any(
            self.lane_of(older) == lane and self.due_of(older) <= now
            for older in self.store.outbox_before(raw.id, ORDER_LOOKBACK)
        )

    def parse(self, raw: StreamEntry) -> Entry | None:
        """The entry's job, or None (dead-lettered) when it cannot be read."""
        try:
            job = JOB.validate_json(raw.fields["job"])
            enqueued_at = float(raw.fields.get("at", "0"))
        except (KeyError, ValueError, ValidationError) as exc:
            log.error("outbox entry %s is unreadable; dead-lettered", raw.id)
            self.store.outbox_dead_letter(raw.id, raw.fields, f"unreadable: {type(exc).__name__}")
            return None
        return Entry(raw.id, job, enqueued_at, raw.fields)
