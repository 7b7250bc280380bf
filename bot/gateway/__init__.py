"""Helpdesk gateways: the domain models, the errors, the interface, and the factory."""

from __future__ import annotations

from bot.config import Backend, ConfigError, Settings
from bot.gateway.base import TicketGateway
from bot.gateway.errors import (
    GatewayError,
    InvalidState,
    LimitReached,
    NotFound,
    NotOwner,
    OutcomeUnknown,
    Unauthorized,
    Unavailable,
    Unsupported,
    ValidationFailed,
)
from bot.gateway.models import (
    Attachment,
    Capabilities,
    Category,
    Conversation,
    FileUpload,
    NewTicket,
    Priority,
    Requester,
    Status,
    Tag,
    Ticket,
    TicketDetail,
    TicketPage,
)

__all__ = [
    "Attachment",
    "Capabilities",
    "Category",
    "Conversation",
    "FileUpload",
    "GatewayError",
    "InvalidState",
    "LimitReached",
    "NewTicket",
    "NotFound",
    "NotOwner",
    "OutcomeUnknown",
    "Priority",
    "Requester",
    "Status",
    "Tag",
    "Ticket",
    "TicketDetail",
    "TicketGateway",
    "TicketPage",
    "Unauthorized",
    "Unavailable",
    "Unsupported",
    "ValidationFailed",
    "build_gateway",
]


def build_gateway(settings: Settings) -> TicketGateway:
    """The configured backend; `ConfigError` when it is unknown or lacks credentials."""
    if settings.TICKET_BACKEND == Backend.EPIXEL:
        # Imported here so that importing the models does not load the HTTP stack.
        from bot.gateway.epixel import EpixelGateway

        return EpixelGateway.from_settings(settings)
    raise ConfigError(
        [f"TICKET_BACKEND={settings.TICKET_BACKEND.value} is not available in this version"]
    )
