"""The configured helpdesk backend, built from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.gateway import TicketGateway
from bot.runtime.settings import Backend, ConfigError, Settings, require

if TYPE_CHECKING:
    from bot.sandbox import Sandbox


def build_gateway(settings: Settings) -> TicketGateway:
    """The configured backend; `ConfigError` when it is unknown or lacks credentials."""
    if settings.TICKET_BACKEND == Backend.EPIXEL:
        # Imported here so that importing the models does not load the HTTP stack.
        from bot.gateway.epixel import EpixelGateway

        if not settings.TICKET_API_URL:  # unset: a sandbox helpdesk in this process
            from bot.sandbox.run import embedded_gateway

            return embedded_gateway()
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
    if settings.TICKET_BACKEND == Backend.DJANGO_HELPDESK:
        from bot.gateway.django_helpdesk import DjangoHelpdeskGateway

        return DjangoHelpdeskGateway.from_settings(settings)
    raise ConfigError(
        [f"TICKET_BACKEND={settings.TICKET_BACKEND.value} is not available in this version"]
    )


def embedded_sandbox(gateway: TicketGateway) -> Sandbox | None:
    """The sandbox helpdesk this process started because TICKET_API_URL is unset, if any."""
    from bot.sandbox.run import SandboxGateway

    return gateway.sandbox if isinstance(gateway, SandboxGateway) else None
