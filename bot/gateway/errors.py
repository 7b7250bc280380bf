"""Typed gateway errors. Messages are for people: they never carry a secret."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error a backend raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(GatewayError):
    """The ticket, attachment or other object does not exist."""


class NotOwner(GatewayError):
    """The helpdesk account the bot uses does not own the ticket."""


class InvalidState(GatewayError):
    """The change makes no sense now, e.g. closing a ticket that is already closed."""


class ValidationFailed(GatewayError):
    """The helpdesk refused the input; `fields` maps domain field names to messages."""

    def __init__(self, fields: dict[str, list[str]], message: str | None = None) -> None:
        self.fields = fields
        summary = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
        super().__init__(message or summary or "the helpdesk refused the request")


class Unauthorized(GatewayError):
    """The credentials were refused, even after logging in again."""


class LimitReached(GatewayError):
    """The helpdesk limits how many tickets may be open at once."""


class Unsupported(GatewayError):
    """This backend cannot do that (see its capabilities)."""


class TooLarge(GatewayError):
    """A file or an answer from the helpdesk is larger than the bot reads (`limit` bytes):
    reading stopped there, so it cannot be used."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class Unavailable(GatewayError):
    """Timeout, connection error or 5xx: the helpdesk could not answer."""


class OutcomeUnknown(Unavailable):
    """A write was sent but no answer came back: it may or may not have happened."""
