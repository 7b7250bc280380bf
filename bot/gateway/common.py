"""What the backends share: how a backend is configured, the ticket footer, JSON bodies.

The convention every backend (`bot/gateway/<name>.py`) follows for its settings:
- `<Name>Gateway.__init__` takes plain values: the base URL, credentials, and its own
  options as `settings=<Name>Settings(...)` (keyword, kept as `self.settings`), plus
  timeouts/retry/transport for tests. Without options of its own: no settings (epixel).
- Options of its own are a `<Name>Settings(BaseSettings)` in the module with
  `env_prefix="<NAME>_"`, `env_file=".env"`, `extra="ignore"`; each variable is described
  in REQUIREMENTS in bot/runtime/settings.py, which words the error lines.
- `<Name>Gateway.connection_problems(connection)` (a staticmethod) names each TICKET_API_*
  value it needs and lacks, as `Problem`s (`Connection.missing`, `token_or_login`);
  `<Name>Gateway.connect(connection, settings)` builds it from checked values.
- bot/runtime/backends.py fills the `Connection` from the main settings, loads the section,
  and calls `connect`; it words every `Problem` (and any `SettingsProblems` raised) as one
  `ConfigError` line per variable, the connection's first. Add the backend's branch there.
- Nothing in bot/gateway imports the rest of `bot` (tests/unit/test_layers.py checks it).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import httpx

from bot.gateway.errors import OutcomeUnknown
from bot.gateway.models import NewTicket, Requester

#: the Connection field -> the environment variable that sets it
VARIABLES = {
    "base_url": "TICKET_API_URL",
    "api_key": "TICKET_API_KEY",
    "token": "TICKET_API_TOKEN",
    "username": "TICKET_API_USERNAME",
    "password": "TICKET_API_PASSWORD",
    "client_id": "TICKET_API_CLIENT_ID",
    "client_secret": "TICKET_API_CLIENT_SECRET",
}


@dataclass(frozen=True)
class Problem:
    """One variable that is unset or wrong: `"<variable> <what>: <its requirement>"` to users."""

    variable: str
    what: str = "is required"


class SettingsProblems(ValueError):
    """A backend cannot be built: each problem names a variable."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(", ".join(f"{p.variable} {p.what}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Connection:
    """Where a backend's helpdesk is and the credentials for it (the TICKET_API_* values);
    a value that is not set is None or ""."""

    base_url: str
    api_key: str | None = None
    token: str | None = None
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    def missing(self, *fields: str) -> list[Problem]:
        """A problem for each of these fields (names as above) that is not set."""
        return [Problem(VARIABLES[field]) for field in fields if not getattr(self, field)]

    def token_or_login(self) -> list[Problem]:
        """A token, or a username and a password (both), must be set."""
        if self.token or (self.username and self.password):
            return []
        if self.username:
            return self.missing("password")
        if self.password:
            return self.missing("username")
        unless = "is required unless TICKET_API_USERNAME and TICKET_API_PASSWORD are set"
        return [Problem("TICKET_API_TOKEN", unless)]

    def check(self, problems: list[Problem]) -> Connection:
        """This connection, or `SettingsProblems` when there are any."""
        if problems:
            raise SettingsProblems(problems)
        return self


# -- the footer of a ticket created from Slack --------------------------------------


def requester_label(requester: Requester) -> str:
    """`Name <email>`, or the name alone."""
    return f"{requester.name} <{requester.email}>" if requester.email else requester.name


def reference_line(reference: str) -> str:
    """The footer line that carries the reference: it finds a ticket whose create was lost."""
    return f"Reference: {reference}"


def footer_lines(new: NewTicket) -> list[str]:
    """Who asked and the reference, each a line; none when neither is known."""
    lines = []
    if new.requester is not None:
        lines.append(f"Requested by {requester_label(new.requester)} via Slack")
    if new.reference:
        lines.append(reference_line(new.reference))
    return lines


def with_footer(text: str, new: NewTicket) -> str:
    """`text`, then `--` and the footer lines when there are any."""
    footer = footer_lines(new)
    return "\n".join([text, "", "--", *footer] if footer else [text])


# -- checks before sending ----------------------------------------------------------


def text_problems(new: NewTicket, max_subject_chars: int | None = None) -> dict[str, list[str]]:
    """Domain field -> messages for a blank subject or description, or too long a subject."""
    problems: dict[str, list[str]] = {}
    subject = new.subject.strip()
    if not subject:
        problems["subject"] = ["The subject may not be blank."]
    elif max_subject_chars is not None and len(subject) > max_subject_chars:
        problems["subject"] = [
            f"The subject has {len(subject)} characters; at most {max_subject_chars} are allowed."
        ]
    if not new.description.strip():
        problems["description"] = ["The description may not be blank."]
    return problems


def check_page(offset: int, limit: int) -> None:
    if offset < 0 or limit < 1:
        raise ValueError("offset must be >= 0 and limit >= 1")


def create_unknown(exc: OutcomeUnknown, hint: str | None) -> OutcomeUnknown:
    """A create whose answer was lost, and none found: it may or may not exist; `hint`
    says where to look."""
    return OutcomeUnknown(
        f"{exc.message}; the ticket may or may not exist" + (f" ({hint})" if hint else "")
    )


# -- answers -----------------------------------------------------------------------


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when there is none or it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


class _TextOfHtml(HTMLParser):
    BREAKS = {"br": "\n", "hr": "\n--\n"}
    BLOCKS = {"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts.append(self.BREAKS.get(tag, ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(re.sub(r"\s*\n\s*", " ", data))


def html_to_text(content: str) -> str:
    """A helpdesk's HTML (Getfly's ticket content, RT's HTML bodies) as plain text:
    paragraphs and <br> become line breaks, entities are decoded, tags dropped."""
    if "<" not in content:
        return html.unescape(content).strip()
    parser = _TextOfHtml()
    parser.feed(content)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
