"""The configured helpdesk backend, built from the settings (the convention backends follow
is in bot/gateway/common.py)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TypeVar

from pydantic_settings import BaseSettings

from bot.gateway import TicketGateway
from bot.gateway.common import Connection, Problem, SettingsProblems
from bot.runtime.settings import Backend, ConfigError, Settings, load_section, problem, require

if TYPE_CHECKING:
    from bot.sandbox import Sandbox

SectionT = TypeVar("SectionT", bound=BaseSettings)


def build_gateway(settings: Settings) -> TicketGateway:
    """The configured backend; `ConfigError` when it is unknown or lacks credentials."""
    try:
        return _build(settings, connection_of(settings))
    except SettingsProblems as exc:
        raise ConfigError(_lines(exc.problems)) from None


def _build(settings: Settings, connection: Connection) -> TicketGateway:
    # Backends are imported here so that importing the models does not load the HTTP stack.
    if settings.TICKET_BACKEND == Backend.EPIXEL:
        if not settings.TICKET_API_URL:  # unset: a sandbox helpdesk in this process
            from bot.sandbox.run import embedded_gateway

            return embedded_gateway()
        from bot.gateway.epixel import EpixelGateway

        return EpixelGateway.connect(connection)
    require(settings, "TICKET_API_URL")  # only epixel has an embedded sandbox
    if settings.TICKET_BACKEND == Backend.GETFLY:
        from bot.gateway.getfly import GetflyGateway, GetflySettings

        getfly = _section(GetflySettings, GetflyGateway.connection_problems(connection))
        return GetflyGateway.connect(connection, getfly)
    if settings.TICKET_BACKEND == Backend.ISPCRM:
        from bot.gateway.ispcrm import IspcrmGateway, IspcrmSettings

        ispcrm = _section(IspcrmSettings, IspcrmGateway.connection_problems(connection))
        return IspcrmGateway.connect(connection, ispcrm)
    if settings.TICKET_BACKEND == Backend.KELIWEB:
        from bot.gateway.keliweb import KeliwebGateway, KeliwebSettings

        keliweb = _section(KeliwebSettings, KeliwebGateway.connection_problems(connection))
        return KeliwebGateway.connect(connection, keliweb)
    if settings.TICKET_BACKEND == Backend.DJANGO_HELPDESK:
        from bot.gateway.django_helpdesk import DjangoHelpdeskGateway, DjangoHelpdeskSettings

        helpdesk = _section(
            DjangoHelpdeskSettings, DjangoHelpdeskGateway.connection_problems(connection)
        )
        return DjangoHelpdeskGateway.connect(connection, helpdesk)
    if settings.TICKET_BACKEND == Backend.RT:
        from bot.gateway.rt import RtGateway, RtSettings

        rt = _section(RtSettings, RtGateway.connection_problems(connection))
        return RtGateway.connect(connection, rt)
    raise ConfigError(
        [f"TICKET_BACKEND={settings.TICKET_BACKEND.value} is not available in this version"]
    )


def connection_of(settings: Settings) -> Connection:
    """The TICKET_API_* values, secrets revealed for the backend that sends them."""
    key, token = settings.TICKET_API_KEY, settings.TICKET_API_TOKEN
    password, client_secret = settings.TICKET_API_PASSWORD, settings.TICKET_API_CLIENT_SECRET
    return Connection(
        base_url=settings.TICKET_API_URL,
        api_key=key.get_secret_value() if key else None,
        token=token.get_secret_value() if token else None,
        username=settings.TICKET_API_USERNAME,
        password=password.get_secret_value() if password else None,
        client_id=settings.TICKET_API_CLIENT_ID,
        client_secret=client_secret.get_secret_value() if client_secret else None,
    )


def _lines(problems: list[Problem]) -> list[str]:
    return [problem(p.variable, p.what) for p in problems]


def _section(section: type[SectionT], connection_problems: list[Problem]) -> SectionT:
    """The backend's own settings; `ConfigError` listing the connection's problems first."""
    try:
        loaded = load_section(section)
    except ConfigError as exc:
        raise ConfigError(_lines(connection_problems) + exc.problems) from None
    if connection_problems:
        raise SettingsProblems(connection_problems)
    return loaded


def embedded_sandbox(gateway: TicketGateway) -> Sandbox | None:
    """The sandbox helpdesk this process started because TICKET_API_URL is unset, if any."""
    # imported only by a process that started one: importing it here would load the
    # sandbox (its web pages, sqlite3) into every serving process for nothing
    run = sys.modules.get("bot.sandbox.run")
    if run is None:
        return None
    return gateway.sandbox if isinstance(gateway, run.SandboxGateway) else None
