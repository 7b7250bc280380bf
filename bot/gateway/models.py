"""The helpdesk in domain terms: what every backend speaks, whatever its wire format."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class StatusKind(StrEnum):
    """What a helpdesk status means to the bot, whatever the helpdesk calls it."""

    OPEN = "open"  # someone should act: new, open, reopened, in progress
    PENDING = "pending"  # waiting on someone outside the desk (RT's stalled)
    CLOSED = "closed"  # done: closed, resolved, rejected, duplicate


class TicketStatus(BaseModel):
    """One of the helpdesk's own statuses: its id on the wire, its name for people."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    kind: StatusKind

    @property
    def is_closed(self) -> bool:
        return self.kind is StatusKind.CLOSED


class PriorityLevel(BaseModel):
    """One step of the helpdesk's ordered priority list: its id on the wire, its label."""

    model_config = ConfigDict(frozen=True)

    id: str
    label: str


class Category(BaseModel):
    id: str
    name: str
    description: str = ""


class Tag(BaseModel):
    id: str
    name: str
    keyword: str = ""


class Attachment(BaseModel):
    id: str
    conversation_id: str | None = None
    filename: str | None = None


class Conversation(BaseModel):
    id: str
    ticket_id: str
    text: str
    author: str = ""
    attachments: list[Attachment] = Field(default_factory=list)
    #: False: an internal note, for agents only; it never reaches a requester's thread
    public: bool = True


class Ticket(BaseModel):
    id: str
    subject: str
    description: str = ""
    status: TicketStatus
    priority: PriorityLevel | None = None
    category_id: str | None = None
    category_name: str | None = None
    tag_ids: list[str] = Field(default_factory=list)
    author: str | None = None
    #: who works on it, as the helpdesk names them (a login or an e-mail address)
    assignee: str | None = None


class TicketDetail(BaseModel):
    ticket: Ticket
    conversations: list[Conversation] = Field(default_factory=list)
    #: attachments of the ticket itself (those of a conversation sit on it)
    attachments: list[Attachment] = Field(default_factory=list)


class TicketPage(BaseModel):
    tickets: list[Ticket]
    offset: int
    limit: int
    has_more: bool


class FileUpload(BaseModel):
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


class Requester(BaseModel):
    """Who asked, as Slack knows them; travels into the ticket for the agents."""

    name: str
    email: str | None = None
    slack_user_id: str | None = None


class NewTicket(BaseModel):
    subject: str
    description: str
    category_id: str | None = None
    priority: PriorityLevel | None = None
    requester: Requester | None = None
    attachment: FileUpload | None = None
    #: a unique reference written into the ticket, so that an ambiguous create
    #: (timeout after sending) can be recognised later instead of retried blindly
    reference: str | None = None


class Capabilities(BaseModel):
    """What a backend can do; the Slack side reads this, never backend names."""

    categories: bool = False
    #: a priority can be chosen when creating a ticket
    priorities: bool = False
    #: and changed afterwards (the card's priority select)
    priority_change: bool = False
    #: tags can be listed and set on a ticket (the card's tags select)
    tags: bool = False
    status_change: bool = False
    #: a status (or priority) changed in the helpdesk can be read back: get_ticket's
    #: status is the helpdesk's. False: it is a placeholder, the card keeps the status
    #: the bot set, and the poller does not look for status changes.
    status_in: bool = True
    ticket_list: bool = False
    ticket_detail: bool = False
    #: thread replies can be written to the helpdesk
    conversations_out: bool = False
    #: agent replies can be read back from the helpdesk
    conversations_in: bool = False
    attachments: bool = False
    max_attachment_bytes: int | None = None
    max_subject_chars: int | None = None
    #: the helpdesk's statuses, in its own order
    statuses: list[TicketStatus] = Field(default_factory=list)
    #: what Close and Reopen set; unset: the first status of kind closed / open
    close_status: TicketStatus | None = None
    reopen_status: TicketStatus | None = None
    #: add_conversation(public=False) writes an internal note agents alone see
    internal_notes: bool = False
    #: a ticket can be assigned to an agent from Slack ("Assign to me"): `Assigns`
    assign: bool = False
    #: one request tells which tickets changed since a cursor (`ChangeFeed`): the
    #: poller reads only those instead of every linked ticket
    change_feed: bool = False

    def closing_status(self) -> TicketStatus | None:
        return self.close_status or self._first(StatusKind.CLOSED)

    def reopening_status(self) -> TicketStatus | None:
        return self.reopen_status or self._first(StatusKind.OPEN)

    def status_by_word(self, word: str) -> TicketStatus | None:
        """The status whose id or name is `word` (any case), None when none is."""
        wanted = word.strip().casefold()
        return next(
            (s for s in self.statuses if wanted in (s.id.casefold(), s.name.casefold())), None
        )

    def _first(self, kind: StatusKind) -> TicketStatus | None:
        return next((s for s in self.statuses if s.kind is kind), None)


class Classic:
    """The statuses and priorities of the first backends (Epixel, Getfly, ISPCRM, Keliweb):
    Open, Processing, Closed and Low, Medium, High, the names these APIs use or the bot
    maps theirs onto. Their ids are the words the store and the cards held before
    statuses had names, so state recorded by an earlier version stays valid."""

    OPEN = TicketStatus(id="open", name="Open", kind=StatusKind.OPEN)
    PROCESSING = TicketStatus(id="processing", name="Processing", kind=StatusKind.OPEN)
    CLOSED = TicketStatus(id="closed", name="Closed", kind=StatusKind.CLOSED)
    STATUSES = (OPEN, PROCESSING, CLOSED)

    LOW = PriorityLevel(id="low", label="Low")
    MEDIUM = PriorityLevel(id="medium", label="Medium")
    HIGH = PriorityLevel(id="high", label="High")
    PRIORITIES = (LOW, MEDIUM, HIGH)

    @classmethod
    def first_of(cls, status: TicketStatus | StatusKind) -> TicketStatus | None:
        """`status` itself, or the first classic status of that kind (None for pending)."""
        if isinstance(status, TicketStatus):
            return status
        return next((s for s in cls.STATUSES if s.kind is status), None)
