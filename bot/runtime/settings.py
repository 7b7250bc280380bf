"""Settings from the environment and a `.env` file, exactly as CONTRACT.md lists them.

A missing or malformed value becomes a `ConfigError` whose lines each name one
variable and what it wants; secrets are `SecretStr`, masked in every repr.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REQUIREMENTS = {
    "SLACK_BOT_TOKEN": "a bot token starting with xoxb-",
    "SLACK_SIGNING_SECRET": "the app's signing secret (Basic Information → App Credentials)",
    "SLACK_APP_TOKEN": "an app-level token starting with xapp- (Socket Mode)",
    "SLACK_API_URL": "an http(s) URL ending in /, e.g. https://slack.com/api/",
    "REDIS_URL": "a redis://, rediss:// or unix:// URL",
    "TICKET_BACKEND": "one of: epixel, getfly, ispcrm, keliweb, django-helpdesk, rt",
    "TICKET_API_URL": "the helpdesk API's base URL with prefix and version, "
    "e.g. https://desk.example.com/api/v1/",
    "TICKET_API_KEY": "the helpdesk API key",
    "TICKET_API_TOKEN": "a bearer token for the helpdesk API",
    "TICKET_API_USERNAME": "the helpdesk login name",
    "TICKET_API_PASSWORD": "the helpdesk login password",
    "TICKET_API_CLIENT_ID": "the OAuth client id",
    "TICKET_API_CLIENT_SECRET": "the OAuth client secret",
    "TICKET_WEBHOOK_SECRET": "16 or more letters, digits, '-', '_' or '.' (a URL path segment), "
    "e.g. from `openssl rand -hex 16`",
    "DJANGO_HELPDESK_QUEUES": "the category dropdown as django-helpdesk queue id=name pairs, "
    "e.g. 1=IT Support,2=Facilities",
    "DJANGO_HELPDESK_EXTENSIONS": "the file extensions django-helpdesk takes, e.g. .txt,.pdf,.png",
    "TICKET_CHANNEL": "a channel id such as C0123456789",
    "TICKET_AGENT_CHANNEL": "a channel id (C… or G…) such as G0123456789, best a private "
    "channel of agents",
    "TICKET_REACTION": "an emoji name such as ticket (or :ticket:), or empty for none",
    "TICKET_INTAKE_CHANNELS": "channel ids (C… or G…), comma-separated, e.g. C0123ABCD,G0456EFGH",
    "TICKET_AGENTS": "Slack user ids (U…) and user group ids (S…), comma-separated, "
    "e.g. U0123ABCD,S0456EFGH",
    "TICKET_SYNC_INTERVAL": "a whole number of seconds, at least 1",
    "TICKET_SYNC_RATE": "a number of helpdesk requests per second above 0, e.g. 20",
    "TICKET_SYNC_CLOSED_DAYS": "a number of days, 0 or more",
    "TICKET_DM_WINDOW": "a number of seconds, 0 or more, e.g. 60",
    "PORT": "a TCP port number from 1 to 65535",
    "LOG_LEVEL": "one of DEBUG, INFO, WARNING, ERROR",
    "LOG_FORMAT": "text, or json (one JSON object a line)",
    "REDIS_PREFIX": "a key prefix of letters, digits, '-', '_' or ':'",
    "OUTBOX_LANES": "a whole number of delivery threads",
    "OUTBOX_READ_AHEAD": "a whole number of entries per lane",
    "OUTBOX_BLOCK_MS": "milliseconds, a whole number",
    "OUTBOX_CLAIM_IDLE_MS": "milliseconds, a whole number",
    "OUTBOX_CLAIM_EVERY": "seconds",
    "OUTBOX_BACKOFF_BASE": "seconds",
    "OUTBOX_BACKOFF_CAP": "seconds",
    "OUTBOX_MAX_ATTEMPTS": "a whole number",
    "OUTBOX_MAX_AGE": "seconds",
    "GETFLY_STATUS_OPEN": "the Getfly status name of a new or reopened ticket, e.g. New",
    "GETFLY_STATUS_CLOSED": "the Getfly status name the Close button sets, e.g. Closed",
    "GETFLY_STATUS_PROCESSING": "a Getfly status name read back as processing, e.g. In progress",
    "GETFLY_READ_STATUS": "true when Getfly returns status_name in ticket answers, else false",
    "GETFLY_EXPECTED_DAYS": "days from creation to a new ticket's expected_at, 0 to 3650",
    "GETFLY_CUSTOM_FIELDS": "custom_fields for new tickets as a JSON object, "
    'e.g. {"source": "Slack"}',
    "KELIWEB_DEPARTMENTS": "the category dropdown as Keliweb department id=name pairs, "
    "e.g. 1=Support,2=Billing",
    "KELIWEB_CUSTOM_FIELDS": "fixed custom field values for new tickets as id=value pairs, "
    "e.g. 5=Slack",
    "KELIWEB_REQUESTER_FIELD": "the id of a custom field that gets the Slack requester, "
    "a whole number",
    "ISPCRM_TYPE_ID": "the ISPCRM ticket type id new tickets get, a whole number, e.g. 1",
    "ISPCRM_STATUS_ID": "the ISPCRM status id new tickets start in, a whole number, e.g. 1",
    "ISPCRM_GROUP_ID": "the ISPCRM group id new tickets are assigned to, a whole number, e.g. 1",
    "ISPCRM_PRIORITY_IDS": "each priority's ISPCRM priority_id, e.g. low=1,medium=2,high=3",
    "RT_PRIORITIES": "RT priority numbers with their labels, lowest first, "
    "e.g. 0=Low,50=Medium,100=High",
    "RT_STATUSES": "the RT lifecycle's statuses with their kinds (open, pending, closed), "
    "e.g. new=open,open=open,stalled=pending,resolved=closed,rejected=closed",
    "RT_CLOSE_STATUS": "the RT status the Close button sets, e.g. resolved",
    "RT_REOPEN_STATUS": "the RT status the Reopen button sets, e.g. open",
}


class ConfigError(Exception):
    """Start-up cannot go on; each line names a variable and what it wants."""

    #: the process's exit status (`ticket-bot` prints the lines and exits with it)
    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Unreachable(ConfigError):
    """A service a variable names refused us or did not answer at start-up (REDIS_URL,
    SLACK_APP_TOKEN): each line names the variable and says what to check."""

    exit_code = 1


def redact_url(url: str) -> str:
    """`url` without its userinfo (a proxy's or Redis's password): safe to print."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def problem(variable: str, what: str = "is required") -> str:
    return f"{variable} {what}: {REQUIREMENTS.get(variable, 'a value')}"


class Shown(ValueError):
    """A validator's complaint that its error line may show (it holds no secret)."""


#: a Slack user id (U…, W… on Enterprise Grid) or user group id (S…)
AGENT_ID = re.compile(r"[UWS][A-Z0-9]+")
REACTION_NAME = re.compile(r"[a-z0-9_+\-']+")


class Backend(StrEnum):
    EPIXEL = "epixel"
    GETFLY = "getfly"
    ISPCRM = "ispcrm"
    KELIWEB = "keliweb"
    DJANGO_HELPDESK = "django-helpdesk"
    RT = "rt"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    SLACK_BOT_TOKEN: SecretStr
    SLACK_SIGNING_SECRET: SecretStr | None = None
    SLACK_APP_TOKEN: SecretStr | None = None
    SLACK_API_URL: str = "https://slack.com/api/"
    REDIS_URL: SecretStr | None = None  # may carry a password
    REDIS_PREFIX: str = "ticket-bot"
    TICKET_BACKEND: Backend = Backend.EPIXEL
    #: "" (unset): the epixel backend starts an embedded sandbox helpdesk (bot/sandbox)
    TICKET_API_URL: str = ""
    TICKET_API_KEY: SecretStr | None = None
    TICKET_API_TOKEN: SecretStr | None = None
    TICKET_API_USERNAME: str | None = None
    TICKET_API_PASSWORD: SecretStr | None = None
    TICKET_API_CLIENT_ID: str | None = None
    TICKET_API_CLIENT_SECRET: SecretStr | None = None
    TICKET_CHANNEL: str | None = None
    TICKET_AGENTS: str = ""
    #: where new tickets are announced and their internal notes live; unset: nowhere
    TICKET_AGENT_CHANNEL: str | None = None
    #: the emoji name whose reaction makes a ticket of a message; empty: off
    TICKET_REACTION: str = "ticket"
    #: channel ids where every person's new top-level message becomes a ticket
    TICKET_INTAKE_CHANNELS: str = ""
    #: unset: POST /hooks/… answers 404
    TICKET_WEBHOOK_SECRET: SecretStr | None = None
    TICKET_SYNC_INTERVAL: int = Field(default=15, ge=1)
    TICKET_SYNC_RATE: float = Field(default=20.0, gt=0)
    TICKET_SYNC_CLOSED_DAYS: float = Field(default=7.0, ge=0)
    #: news of one ticket within this many seconds of the first goes in one direct message
    TICKET_DM_WINDOW: float = Field(default=60.0, ge=0)
    PORT: int = Field(default=3000, ge=1, le=65535)
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: Literal["text", "json"] = "text"

    @field_validator("SLACK_BOT_TOKEN")
    @classmethod
    def _bot_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("bad prefix")
        return value

    @field_validator("TICKET_WEBHOOK_SECRET")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        secret = value.get_secret_value()
        if len(secret) < 16 or not all(c.isalnum() or c in "-_." for c in secret):
            raise ValueError("too short, or not usable in a URL path")
        return value

    @field_validator("SLACK_APP_TOKEN")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("bad prefix")
        return value

    @field_validator("SLACK_API_URL", "TICKET_API_URL")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.field_name == "TICKET_API_URL":
            return value  # unset: see build_gateway
        if not value.startswith(("http://", "https://")):
            raise ValueError("not an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("not a redis URL")
        return value

    @field_validator("TICKET_CHANNEL")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value and value[:1] not in {"C", "G", "D"}:
            raise ValueError("not a channel id")
        return value or None

    @field_validator("TICKET_AGENT_CHANNEL")
    @classmethod
    def _agent_channel(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if value and (value[:1] not in {"C", "G"} or not value.isalnum()):
            raise ValueError("not a channel id")
        return value or None

    @field_validator("TICKET_REACTION")
    @classmethod
    def _reaction(cls, value: str) -> str:
        name = value.strip().strip(":")
        if name and not REACTION_NAME.fullmatch(name):
            raise ValueError("not an emoji name")
        return name

    @field_validator("TICKET_INTAKE_CHANNELS")
    @classmethod
    def _intake_channels(cls, value: str) -> str:
        ids = [part.strip() for part in value.split(",") if part.strip()]
        if any(part[:1] not in {"C", "G"} for part in ids):
            raise ValueError("not channel ids")
        return ",".join(ids)

    @field_validator("TICKET_AGENTS")
    @classmethod
    def _agents(cls, value: str) -> str:
        ids = [part.strip() for part in value.split(",") if part.strip()]
        bad = [part for part in ids if not AGENT_ID.fullmatch(part)]
        if bad:
            raise Shown("not a user or user group id: " + ", ".join(bad))
        return ",".join(ids)

    @property
    def agent_ids(self) -> list[str]:
        return [part for part in self.TICKET_AGENTS.split(",") if part]

    @property
    def intake_channel_ids(self) -> list[str]:
        return [part for part in self.TICKET_INTAKE_CHANNELS.split(",") if part]

    @field_validator("LOG_LEVEL")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("unknown level")
        return value.upper()

    @field_validator("REDIS_PREFIX")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_:" for c in value):
            raise ValueError("bad prefix")
        return value

    def secrets(self) -> list[str]:
        """Every secret value set, for the log filter that masks them."""
        values = [
            self.SLACK_BOT_TOKEN,
            self.SLACK_SIGNING_SECRET,
            self.SLACK_APP_TOKEN,
            self.TICKET_API_KEY,
            self.TICKET_API_TOKEN,
            self.TICKET_API_PASSWORD,
            self.TICKET_API_CLIENT_SECRET,
            self.TICKET_WEBHOOK_SECRET,
            self.REDIS_URL,
        ]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]

    @property
    def redis_url(self) -> str | None:
        return self.REDIS_URL.get_secret_value() if self.REDIS_URL else None


def load_settings(*required: str, **overrides: Any) -> Settings:
    """Read the settings; `required`: variables this mode needs besides the ones every mode
    does. Raise `ConfigError` naming every problem at once, one line per variable."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = _describe(exc)
        named = {line.split(" ", 1)[0] for line in problems}
        unset = [v for v in required if v not in named and not _given(v, overrides)]
        raise ConfigError(problems + [problem(v) for v in unset]) from None
    require(settings, *required)
    return settings


def _given(variable: str, overrides: dict[str, Any]) -> bool:
    """Whether `variable` has a value where Settings would read it."""
    if overrides.get(variable) or os.environ.get(variable):
        return True
    env_file = overrides.get("_env_file", Settings.model_config.get("env_file"))
    if not isinstance(env_file, str | Path) or not Path(env_file).is_file():
        return False
    return bool(dotenv_values(env_file).get(variable))


def _describe(exc: ValidationError, prefix: str = "") -> list[str]:
    problems = []
    for error in exc.errors():
        variable = prefix + str(error["loc"][0]).upper() if error["loc"] else "configuration"
        missing = error["type"] == "missing"
        line = problem(variable, "is required" if missing else "is malformed")
        shown = error.get("ctx", {}).get("error")
        problems.append(f"{line} ({shown})" if isinstance(shown, Shown) else line)
    return problems


SectionT = TypeVar("SectionT", bound=BaseSettings)


def load_section(section: type[SectionT], **overrides: Any) -> SectionT:
    """A settings section with its own `env_prefix` (a backend's ids and names, the
    outbox's timings), with the same one-line errors as the main settings.

    Describe each variable for the error lines by adding it to REQUIREMENTS."""
    try:
        return section(**overrides)
    except ValidationError as exc:
        prefix = str(section.model_config.get("env_prefix") or "")
        raise ConfigError(_describe(exc, prefix)) from None


def require(settings: Settings, *variables: str) -> None:
    """Raise `ConfigError` naming each of `variables` that is unset for this mode."""
    missing = [problem(v) for v in variables if not getattr(settings, v)]
    if missing:
        raise ConfigError(missing)
