"""Helpdesk gateways: the domain models, the errors and the interface (bot/runtime/backends.py
builds the configured one)."""

from __future__ import annotations

from bot.gateway.base import PushingGateway, TicketGateway
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
    Classic,
    Conversation,
    FileUpload,
    NewTicket,
    PriorityLevel,
    Requester,
    StatusKind,
    Tag,
    Ticket,
    TicketDetail,
    TicketPage,
    TicketStatus,
)

__all__ = [
    "Attachment",
    "Capabilities",
    "Category",
    "Classic",
    "Conversation",
    "FileUpload",
    "GatewayError",
    "InvalidState",
    "LimitReached",
    "NewTicket",
    "NotFound",
    "NotOwner",
    "OutcomeUnknown",
    "PriorityLevel",
    "PushingGateway",
    "Requester",
    "StatusKind",
    "Tag",
    "Ticket",
    "TicketDetail",
    "TicketGateway",
    "TicketPage",
    "TicketStatus",
    "Unauthorized",
    "Unavailable",
    "Unsupported",
    "ValidationFailed",
]
