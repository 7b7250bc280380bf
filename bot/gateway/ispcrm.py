"""ISPCRM (Netgroot) as a `TicketGateway`: subscriber tickets over a JSON API.

Documented: `GET Tickets/getSubjects` (the category list), `POST subscriber/CreateTicket`
(JSON `subject_id, type_id, status_id, priority_id, group_id, message`) with a Bearer
token. The vendor's public docs add `POST subscriber/Login` (`{username, password}` →
`{"token": …}`) and `GET subscriber/getCustomerTickets` (the subscriber's tickets, with
subject, status and priority as *names*). There is no reply, detail, status or
attachment endpoint, and the capabilities say so.

Credentials: a token (TICKET_API_TOKEN) is used first when it is set; with a username
and password as well, a refused token (401, or 404 "Subscriber not found": the token
belongs to no subscriber) leads to one login, whose token is used from then on. With
only a username and password, the first request logs in.

Tickets have no title: the subject typed in Slack travels as the first line of
`message`, followed by the description and who asked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.gateway.auth import LoginOrToken
from bot.gateway.common import (
    Connection,
    Problem,
    check_page,
    json_body,
    text_problems,
    with_footer,
)
from bot.gateway.errors import (
    GatewayError,
    NotFound,
    Unauthorized,
    Unavailable,
    Unsupported,
    ValidationFailed,
)
from bot.gateway.http import HttpTransport, RetryPolicy, Timeouts
from bot.gateway.models import (
    Capabilities,
    Category,
    Classic,
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

log = logging.getLogger(__name__)

LOGIN = "subscriber/Login"
SUBJECTS = "Tickets/getSubjects"
CREATE = "subscriber/CreateTicket"
TICKETS = "subscriber/getCustomerTickets"

SUBSCRIBER_NOT_FOUND = "subscriber not found"
#: the helpdesk's request field -> the domain field the Slack form shows it on
CREATE_FIELDS = {"subject_id": "category", "priority_id": "priority", "message": "description"}
#: status names seen in ISPCRM installs, lower-cased; anything else counts as open
STATUS_WORDS = {
    "open": Classic.OPEN,
    "new": Classic.OPEN,
    "reopened": Classic.OPEN,
    "re-opened": Classic.OPEN,
    "in progress": Classic.PROCESSING,
    "processing": Classic.PROCESSING,
    "pending": Classic.PROCESSING,
    "assigned": Classic.PROCESSING,
    "on hold": Classic.PROCESSING,
    "hold": Classic.PROCESSING,
    "waiting": Classic.PROCESSING,
    "answered": Classic.PROCESSING,
    "customer reply": Classic.PROCESSING,
    "closed": Classic.CLOSED,
    "resolved": Classic.CLOSED,
    "solved": Classic.CLOSED,
    "completed": Classic.CLOSED,
    "done": Classic.CLOSED,
    "cancelled": Classic.CLOSED,
    "canceled": Classic.CLOSED,
}
PRIORITY_WORDS = {
    "low": Classic.LOW,
    "medium": Classic.MEDIUM,
    "normal": Classic.MEDIUM,
    "high": Classic.HIGH,
    "urgent": Classic.HIGH,
    "critical": Classic.HIGH,
    "emergency": Classic.HIGH,
}
IDS_HINT = (
    "check ISPCRM_TYPE_ID, ISPCRM_STATUS_ID, ISPCRM_GROUP_ID and ISPCRM_PRIORITY_IDS "
    "against the helpdesk"
)


class IspcrmSettings(BaseSettings):
    """The ids ISPCRM's CreateTicket needs and the API cannot list; `ISPCRM_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="ISPCRM_", env_file=".env", extra="ignore")

    type_id: int = Field(ge=1)
    status_id: int = Field(ge=1)
    group_id: int = Field(ge=1)
    #: "low=1,medium=2,high=3": the priorities offered, and each one's priority_id
    priority_ids: str

    @field_validator("priority_ids")
    @classmethod
    def _priority_ids(cls, value: str) -> str:
        parse_priority_ids(value)
        return value

    def priority_map(self) -> dict[PriorityLevel, int]:
        return parse_priority_ids(self.priority_ids)


def parse_priority_ids(text: str) -> dict[PriorityLevel, int]:
    """`low=1,medium=2,high=3` (any subset, any order) → {Classic.LOW: 1, …}."""
    found: dict[PriorityLevel, int] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        priority = PRIORITY_WORDS.get(name.strip().lower())
        if not sep or priority is None or not value.strip().isdigit() or priority in found:
            raise ValueError(f"bad priority mapping {item.strip()!r}")
        found[priority] = int(value)
    if not found:
        raise ValueError("no priority mapped")
    return {p: found[p] for p in Classic.PRIORITIES if p in found}  # low, medium, high order


class IspcrmGateway:
    name: str = "ispcrm"
    capabilities = Capabilities(
        categories=True,
        priorities=True,
        ticket_list=True,
        statuses=[Classic.OPEN, Classic.PROCESSING, Classic.CLOSED],
    )

    def __init__(
        self,
        base_url: str,
        *,
        settings: IspcrmSettings,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = HttpTransport(base_url, timeouts=timeouts, retry=retry, transport=transport)
        self.settings = settings
        self._priority_ids = settings.priority_map()
        self._auth = LoginOrToken(
            self._http, LOGIN, _login_token, token=token, username=username, password=password
        )

    @staticmethod
    def connection_problems(connection: Connection) -> list[Problem]:
        """No API key: a subscriber's token, or the subscriber's login."""
        return connection.missing("base_url") + connection.token_or_login()

    @classmethod
    def connect(cls, connection: Connection, settings: IspcrmSettings) -> IspcrmGateway:
        connection.check(cls.connection_problems(connection))
        return cls(
            connection.base_url,
            settings=settings,
            token=connection.token,
            username=connection.username,
            password=connection.password,
        )

    # -- reads ---------------------------------------------------------------

    def list_categories(self) -> list[Category]:
        rows = _rows(self._call("GET", SUBJECTS, idempotent=True), SUBJECTS)
        return [
            Category(id=_id(row.get("subject_id")), name=str(row.get("name") or "")) for row in rows
        ]

    def list_priorities(self) -> list[PriorityLevel]:
        return list(self._priority_ids)

    def list_tickets(
        self,
        *,
        status: TicketStatus | StatusKind | None = None,
        subject: str | None = None,
        category_id: str | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> TicketPage:
        check_page(offset, limit)
        # The endpoint takes no filter and no paging: both happen here.
        tickets = self._all_tickets()
        if status is not None:
            tickets = [t for t in tickets if status in (t.status, t.status.kind)]
        if subject:
            tickets = [t for t in tickets if subject.lower() in t.subject.lower()]
        if category_id is not None:
            names = {c.name for c in self.list_categories() if c.id == category_id}
            tickets = [t for t in tickets if t.subject in names]
        return TicketPage(
            tickets=tickets[offset : offset + limit],
            offset=offset,
            limit=limit,
            has_more=len(tickets) > offset + limit,
        )

    def configuration_problems(self) -> list[str]:
        """The subjects (category list) must exist, and the credentials must be a
        subscriber's. The type, status, group and priority ids cannot be listed through
        the API, so only a created ticket proves them."""
        problems = []
        if not self.list_categories():
            problems.append(
                f"{SUBJECTS} lists no ticket subjects, so the category list would be empty. "
                "Fix: add ticket subjects in ISPCRM."
            )
        self._all_tickets()  # Unauthorized when the token belongs to no subscriber
        return problems

    # -- writes --------------------------------------------------------------

    def create_ticket(self, new: NewTicket) -> Ticket:
        body, priority = self._create_body(new)
        answer = self._call("POST", CREATE, idempotent=False, fields=CREATE_FIELDS, json=body)
        data = answer if isinstance(answer, Mapping) else {}
        ticket_id = data.get("ticket_id")
        if ticket_id is None or ticket_id == "":
            found = self._find_created(str(body["subject_id"]))
            ticket_id, status = found.id, found.status
        else:
            status = _status(data.get("status"))
        return Ticket(
            id=_id(ticket_id),
            subject=new.subject.strip(),
            description=new.description.strip(),
            status=status,
            priority=priority,
            category_id=str(body["subject_id"]),
            author=new.requester.name if new.requester else None,
        )

    # -- what ISPCRM has no endpoint for ------------------------------------------

    def list_tags(self) -> list[Tag]:
        raise Unsupported("ISPCRM has no ticket tags")

    def get_ticket(self, ticket_id: str) -> TicketDetail:
        raise Unsupported("ISPCRM's API has no ticket detail endpoint")

    def update_ticket(
        self,
        ticket_id: str,
        *,
        priority: PriorityLevel | None = None,
        tag_ids: list[str] | None = None,
    ) -> None:
        raise Unsupported("ISPCRM's API cannot change a ticket")

    def add_conversation(
        self,
        ticket_id: str,
        text: str,
        attachment: FileUpload | None = None,
        *,
        public: bool = True,
    ) -> None:
        raise Unsupported("ISPCRM's API takes no replies")

    def download_attachment(self, attachment_id: str) -> FileUpload:
        raise Unsupported("ISPCRM's API has no attachments")

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        raise Unsupported("ISPCRM's API cannot change a ticket's status")

    def close(self) -> None:
        self._http.close()

    # -- creating ------------------------------------------------------------------

    def _create_body(self, new: NewTicket) -> tuple[dict[str, Any], PriorityLevel]:
        problems = text_problems(new)
        category = (new.category_id or "").strip()
        if not category.isdigit():
            problems["category"] = ["Choose a category (an ISPCRM ticket subject)."]
        priority = new.priority or self._default_priority()
        if priority not in self._priority_ids:
            problems["priority"] = [f"No ISPCRM priority id is configured for {priority.label}."]
        if new.attachment is not None:
            problems["attachment"] = ["ISPCRM's API takes no attachments."]
        if problems:
            raise ValidationFailed(problems)
        body = {
            "subject_id": int(category),
            "type_id": self.settings.type_id,
            "status_id": self.settings.status_id,
            "priority_id": self._priority_ids[priority],
            "group_id": self.settings.group_id,
            "message": compose_message(new),
        }
        return body, priority

    def _default_priority(self) -> PriorityLevel:
        if Classic.MEDIUM in self._priority_ids:
            return Classic.MEDIUM
        return next(iter(self._priority_ids))

    def _find_created(self, subject_id: str) -> Ticket:
        """For an answer without `ticket_id` (the document promises one): the newest of
        the subscriber's tickets with the chosen subject. Two tickets of one subject
        created at the same moment by the same account could be confused."""
        names = {c.name for c in self.list_categories() if c.id == subject_id}
        found = next((t for t in self._all_tickets() if t.subject in names), None)
        if found is None:
            raise GatewayError(
                f"POST {CREATE}: the ticket was created but the helpdesk gave no id and "
                "does not list it"
            )
        return found

    def _all_tickets(self) -> list[Ticket]:
        rows = _rows(self._call("GET", TICKETS, idempotent=True), TICKETS)
        tickets = [self._ticket(row) for row in rows]
        return sorted(tickets, key=_newest_first)

    def _ticket(self, row: Mapping[str, Any]) -> Ticket:
        return Ticket(
            id=_id(row.get("ticket_id")),
            # The list gives the subject's *name* (the category): the only title there is.
            subject=_name(row.get("subject")),
            status=_status(row.get("status")),
            priority=self._priority(row.get("priority")),
        )

    def _priority(self, value: Any) -> PriorityLevel | None:
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            by_id = {priority_id: p for p, priority_id in self._priority_ids.items()}
            return by_id.get(int(value))
        return PRIORITY_WORDS.get(_name(value).lower())

    # -- auth and transport --------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        fields: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Send, raise the mapped error if refused, return the envelope's `data`."""
        response = self._send(method, path, idempotent=idempotent, **kwargs)
        body = json_body(response)
        failed = isinstance(body, Mapping) and body.get("success") is False
        if response.status_code >= 400 or failed:
            status = response.status_code if response.status_code >= 400 else 400
            raise _error(method, path, status, body, fields or {})
        return body.get("data") if isinstance(body, Mapping) else None

    def _send(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        # Both refusals come before anything is done, so resending cannot duplicate.
        return self._auth.send(
            lambda token: self._http.request(
                method, path, idempotent=idempotent, headers=_bearer(token), **kwargs
            ),
            _wants_login,
        )


def compose_message(new: NewTicket) -> str:
    """ISPCRM tickets have no title: the subject is the message's first line."""
    return with_footer(f"{new.subject.strip()}\n\n{new.description.strip()}", new)


# -- reading answers ------------------------------------------------------------


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def _login_token(body: Any) -> Any:
    """`{"token": …}`, or the same inside `data`."""
    if not isinstance(body, Mapping):
        return None
    token, data = body.get("token"), body.get("data")
    return data.get("token") if token is None and isinstance(data, Mapping) else token


def _said(body: Any) -> str:
    message = body.get("message") if isinstance(body, Mapping) else None
    return message.strip() if isinstance(message, str) else ""


def _wants_login(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return True
    return (
        response.status_code == 404 and SUBSCRIBER_NOT_FOUND in _said(json_body(response)).lower()
    )


def _rows(data: Any, where: str) -> list[Mapping[str, Any]]:
    if data in (None, ""):
        return []  # an account without tickets may get no list at all
    if not isinstance(data, list):
        raise GatewayError(f"{where}: the helpdesk's answer has no list")
    return [row for row in data if isinstance(row, Mapping)]


def _id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        raise GatewayError(f"the helpdesk sent an unexpected id: {value!r}")
    return str(value).strip()


def _name(value: Any) -> str:
    """A name that may come bare or as {"name": …}."""
    if isinstance(value, Mapping):
        value = value.get("name")
    return str(value).strip() if value is not None else ""


def _status(value: Any) -> TicketStatus:
    return STATUS_WORDS.get(_name(value).lower(), Classic.OPEN)


def _newest_first(ticket: Ticket) -> tuple[int, str]:
    number = int(ticket.id) if ticket.id.isdigit() else -1
    return (-number, ticket.id)


# -- errors ---------------------------------------------------------------------


def _error(
    method: str, path: str, status: int, body: Any, fields: Mapping[str, str]
) -> GatewayError:
    where, said = f"{method} {path}", _said(body)
    if status in (401, 403):
        return Unauthorized(f"{where}: the helpdesk refused the credentials (HTTP {status})")
    if status == 404 and SUBSCRIBER_NOT_FOUND in said.lower():
        return Unauthorized(
            f"{where}: the credentials belong to no ISPCRM subscriber (Subscriber not found); "
            "use a subscriber's token or TICKET_API_USERNAME and TICKET_API_PASSWORD"
        )
    if status == 404:
        return NotFound(f"{where}: not found (check TICKET_API_URL)")
    if status == 429:
        return Unavailable(f"{where}: the helpdesk asks to slow down (HTTP 429)")
    if status in (400, 422):
        return ValidationFailed(_field_errors(body, fields) or {"request": [_with_hint(said)]})
    return GatewayError(f"{where}: {said or f'HTTP {status}'}")


def _with_hint(said: str) -> str:
    return f"{said or 'Invalid request data'} ({IDS_HINT})"


def _field_errors(body: Any, fields: Mapping[str, str]) -> dict[str, list[str]]:
    """Per-field messages when the helpdesk gives them (`errors: {field: [..]}`)."""
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if not isinstance(errors, Mapping):
        return {}
    found: dict[str, list[str]] = {}
    for name, value in errors.items():
        messages = [str(m) for m in value] if isinstance(value, list) else [str(value)]
        if messages:
            found.setdefault(fields.get(str(name), str(name)), []).extend(messages)
    return found
