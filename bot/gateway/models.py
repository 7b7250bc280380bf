"""The helpdesk in domain terms: what every backend speaks, whatever its wire format."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Status(StrEnum):
    OPEN = "open"
    PROCESSING = "processing"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


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


class Ticket(BaseModel):
    id: str
    subject: str
    description: str = ""
    status: Status = Status.OPEN
    priority: Priority | None = None
    category_id: str | None = None
    category_name: str | None = None
    tag_ids: list[str] = Field(default_factory=list)
    author: str | None = None


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
    priority: Priority | None = None
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
    statuses: list[Status] = Field(default_factory=list)
