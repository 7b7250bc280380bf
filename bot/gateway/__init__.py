"""Helpdesk gateways: the domain models, the errors, the interface, and the factory."""

from __future__ import annotations

from bot.config import Backend, ConfigError, Settings, require
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

        if not settings.TICKET_API_URL:  # unset: a sandbox helpdesk in this process
            from bot.sandbox.run import embedded_gateway

            return embedded_gateway(settings)
        return EpixelGateway.from_settings(settings)
    require(settings, "TICKET_API_URL")  # only epixel has an embedded sandbox
    if settings.TICKET_BACKEND == Backend.GETFLY:
        from bot.gateway.getfly import GetflyGateway

        return GetflyGateway.from_settings(settings)
    if settings.TICKET_BACKEND == Backend.ISPCRM:
        from bot.gateway.ispcrm import IspcrmGateway

        return IspcrmGateway.from_settings(settings)
    if settings.TICKET_BACKEND == Backend.KELIWEB:
        from bot.gateway.keliweb import KeliwebGateway

        return KeliwebGateway.from_settings(settings)
    raise ConfigError(
        [f"TICKET_BACKEND={settings.TICKET_BACKEND.value} is not available in this version"]
    )
