"""The interface every helpdesk backend implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.gateway.models import (
    Capabilities,
    Category,
    FileUpload,
    NewTicket,
    PriorityLevel,
    StatusKind,
    Tag,
    Ticket,
    TicketDetail,
    TicketPage,
    TicketStatus,
)


@runtime_checkable
class TicketGateway(Protocol):
    """A helpdesk in domain terms. Methods a backend cannot serve raise `Unsupported`."""

    name: str
    capabilities: Capabilities

    def list_categories(self) -> list[Category]: ...

    def list_priorities(self) -> list[PriorityLevel]:
        """The helpdesk's priorities in its own order, with its labels."""
        ...

    def list_tags(self) -> list[Tag]: ...

    def create_ticket(self, new: NewTicket) -> Ticket: ...

    def list_tickets(
        self,
        *,
        status: TicketStatus | StatusKind | None = None,
        subject: str | None = None,
        category_id: str | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> TicketPage: ...

    def get_ticket(self, ticket_id: str) -> TicketDetail: ...

    def update_ticket(
        self,
        ticket_id: str,
        *,
        priority: PriorityLevel | None = None,
        tag_ids: list[str] | None = None,
    ) -> None: ...

    def add_conversation(
        self,
        ticket_id: str,
        text: str,
        attachment: FileUpload | None = None,
        *,
        public: bool = True,
    ) -> None:
        """A reply the requester sees, or (public=False, capabilities.internal_notes)
        an internal note for agents."""
        ...

    def download_attachment(self, attachment_id: str) -> FileUpload: ...

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        """One of capabilities.statuses (Close: closing_status(), Reopen: reopening_status())."""
        ...

    def configuration_problems(self) -> list[str]:
        """What is wrong with this backend's configured ids and names, checked against
        the helpdesk where it can be (`ticket-bot check`); each line says how to fix it."""
        ...

    def close(self) -> None:
        """Release pooled connections."""
        ...


@runtime_checkable
class PushingGateway(Protocol):
    """A backend whose helpdesk calls webhooks (`POST /hooks/<backend>/<secret>`)."""

    def webhook_ticket_id(self, payload: bytes) -> str | None:
        """The ticket a webhook payload is about; None when it names none. Nothing else
        in the payload is trusted: the ticket is read again through the API."""
        ...


@runtime_checkable
class ChangeFeed(Protocol):
    """A backend that can say which tickets changed since a position (`change_feed` in
    its capabilities): the poller then reads only those, so an idle cycle costs a request
    or two however many tickets are linked."""

    def changes_since(self, cursor: str | None) -> tuple[str, set[str]]:
        """The new cursor and the ids of the tickets changed after `cursor`. `None` (no
        cursor yet): the helpdesk's current position and no ids."""
        ...


@runtime_checkable
class Assigns(Protocol):
    """A backend that can make an agent the owner of a ticket (`assign` in its capabilities)."""

    def assign(self, ticket_id: str, email: str) -> None:
        """Make the helpdesk user with this e-mail address the ticket's assignee."""
        ...
