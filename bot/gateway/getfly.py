"""Getfly CRM's ticket API (v6.1) as a `TicketGateway`.

Every request carries the `X-API-KEY` header; bodies are JSON. The documents show a
`Cookie` header in their examples too: it is not part of the documented auth and is
never sent.

- Tickets are known by their `ticket_code` (e.g. `TICKET-12345`), which is the domain
  `Ticket.id`. Create answers `{"data": {"identity", "ticket_code"}}`.
- Create and update take a category *name* (`cate_name`); the category list gives
  `{"id", "cate_name"}` and ticket rows give `cate_id`, so ids are the domain's and the
  name is looked up when creating.
- `PUT ticket` replaces every field it is given: the bot sends `ticket_code` and only
  the fields it changes, so what an agent wrote is never overwritten.
- There is no status list and no status in the documented read fields: the open and
  closed status *names* are configured, reads ask for `status_name` with `fields=`, and
  whether the answers carry it is configured too (`GETFLY_READ_STATUS`, checked by
  `ticket-bot check`). Without it, statuses do not sync back (`status_in=False`).
- No priority, no tags, no conversations, no attachments.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from functools import cache
from typing import Annotated, Any

import httpx
import jinja2
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.gateway.common import (
    Connection,
    Problem,
    check_page,
    create_unknown,
    footer_lines,
    html_to_text,
    json_body,
    reference_line,
    text_problems,
)
from bot.gateway.errors import (
    GatewayError,
    NotFound,
    NotOwner,
    OutcomeUnknown,
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

CATEGORIES = "ticket/categories"
TICKETS = "tickets"
TICKET = "ticket"

#: the documented read fields the bot uses, plus the undocumented status it asks for
READ_FIELDS = ("id", "ticket_code", "ticket_title", "ticket_content", "cate_id", "account_name")
STATUS_FIELD = "status_name"
#: Getfly documents no limit; a title longer than this is refused before sending
MAX_SUBJECT_CHARS = 255
#: newest tickets searched for the reference of a create whose answer was lost
LOOKUP_ROWS = 20
#: filtered lists are filtered here: rows read per request, and at most this many in all
SCAN_BATCH = 50
SCAN_ROWS = 500
CATEGORY_TTL = 300.0
#: a ticket code as it may travel in a query string and a Slack block id
TICKET_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

#: Getfly's field names -> the domain's, in field errors
DOMAIN_FIELDS = {
    "ticket_title": "subject",
    "ticket_content": "description",
    "cate_name": "category",
    "ticket_code": "ticket",
}
NO_ATTACHMENTS = "Getfly takes no attachments through its API."


class GetflySettings(BaseSettings):
    """Getfly's names and choices; each field is `GETFLY_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="GETFLY_", env_file=".env", extra="ignore")

    #: the status name a new or reopened ticket gets
    status_open: str = Field(min_length=1)
    #: the status name the Close button sets
    status_closed: str = Field(min_length=1)
    #: read back as "processing" (any other name that is neither open nor closed is too)
    status_processing: str | None = None
    #: this Getfly returns `status_name` when asked with `fields=` (see `ticket-bot check`)
    read_status: bool = False
    #: `expected_at` is this many days after the day of creation; unset: not sent
    expected_days: int | None = Field(default=None, ge=0, le=3650)
    #: constant `custom_fields` sent with every new ticket, as a JSON object
    custom_fields: Annotated[dict[str, str | int | float | bool], NoDecode] = Field(
        default_factory=dict
    )

    @field_validator("status_open", "status_closed", "status_processing")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("blank")
        return value.strip() if value is not None else None

    @field_validator("custom_fields", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        # Decoded here, not by the settings source: bad JSON is then "malformed".
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError:
                raise ValueError("not a JSON object") from None
        return value


def capabilities_for(settings: GetflySettings) -> Capabilities:
    return Capabilities(
        categories=True,
        priorities=False,
        priority_change=False,
        tags=False,
        status_change=True,
        status_in=settings.read_status,
        ticket_list=True,
        ticket_detail=True,
        conversations_out=False,
        conversations_in=False,
        attachments=False,
        max_subject_chars=MAX_SUBJECT_CHARS,
        statuses=[Classic.OPEN, Classic.CLOSED],
    )


class GetflyGateway:
    name: str = "getfly"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        settings: GetflySettings,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        today: Callable[[], date] = date.today,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key:
            raise ValueError("GetflyGateway needs an API key")
        self._http = HttpTransport(base_url, timeouts=timeouts, retry=retry, transport=transport)
        self._api_key = api_key
        self.settings = settings
        self.capabilities = capabilities_for(settings)
        self._today = today
        self._clock = clock
        self._categories: tuple[float, list[Category]] | None = None
        self._categories_lock = threading.Lock()

    @staticmethod
    def connection_problems(connection: Connection) -> list[Problem]:
        return connection.missing("base_url", "api_key")

    @classmethod
    def connect(cls, connection: Connection, settings: GetflySettings) -> GetflyGateway:
        connection.check(cls.connection_problems(connection))
        return cls(connection.base_url, connection.api_key or "", settings=settings)

    # -- reads ---------------------------------------------------------------

    def list_categories(self) -> list[Category]:
        body = self._call("GET", CATEGORIES, idempotent=True)
        rows = _rows(body)
        categories = [
            Category(id=_text_id(row.get("id")), name=str(row.get("cate_name") or ""))
            for row in rows
        ]
        with self._categories_lock:
            self._categories = (self._clock(), categories)
        return categories

    def list_priorities(self) -> list[PriorityLevel]:
        return []  # Getfly tickets have no priority

    def list_tags(self) -> list[Tag]:
        return []

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
        if status is not None and not self.capabilities.status_in:
            raise Unsupported(
                "Getfly does not say which status a ticket has, so tickets cannot be "
                "listed by status; use the list without a status"
            )
        if status is None and not subject and category_id is None:
            # One row more than asked tells whether another page exists.
            rows = self._ticket_rows(offset, limit + 1)
            tickets = [self._ticket(row) for row in rows]
        else:
            wanted = _matcher(status, subject, category_id)
            tickets = self._scan(wanted, offset + limit + 1)[offset:]
        tickets = self._with_category_names(tickets)
        return TicketPage(
            tickets=tickets[:limit], offset=offset, limit=limit, has_more=len(tickets) > limit
        )

    def get_ticket(self, ticket_id: str) -> TicketDetail:
        code = _checked_code(ticket_id, "GET", TICKET)
        params = {"ticket_code": code, "fields": _fields()}
        body = self._call("GET", TICKET, idempotent=True, params=params, not_found_on_400=True)
        row = body.get("data") if isinstance(body, Mapping) and "data" in body else body
        if not isinstance(row, Mapping) or not row:
            raise NotFound(f"GET {TICKET}: no ticket {code!r}")
        return TicketDetail(ticket=self._ticket(row, code))

    def download_attachment(self, attachment_id: str) -> FileUpload:
        raise Unsupported("Getfly's API has no attachments")

    def configuration_problems(self) -> list[str]:
        problems = []
        if not self.list_categories():
            problems.append(
                "Getfly has no ticket categories, and the new-ticket form needs one: "
                "add a category in Getfly"
            )
        if self.settings.read_status:
            rows = self._ticket_rows(0, 1)
            if rows and STATUS_FIELD not in rows[0]:
                problems.append(
                    "GETFLY_READ_STATUS is true but Getfly's ticket answers carry no "
                    f"{STATUS_FIELD}: set GETFLY_READ_STATUS=false (statuses then do not "
                    "sync back from Getfly)"
                )
        return problems

    # -- writes --------------------------------------------------------------

    def create_ticket(self, new: NewTicket) -> Ticket:
        _check_new_ticket(new)
        category = self._category(new.category_id) if new.category_id is not None else None
        body = self._new_ticket_body(new, category)
        try:
            answer = self._call("POST", TICKET, idempotent=False, json=body)
        except OutcomeUnknown as exc:
            return self._resolve_unknown_create(new.reference, exc)
        data = answer.get("data") if isinstance(answer, Mapping) else None
        code = data.get("ticket_code") if isinstance(data, Mapping) else None
        if not isinstance(code, str) or not code.strip():
            raise GatewayError(f"POST {TICKET}: the ticket was created but Getfly sent no code")
        return Ticket(
            id=code.strip(),
            subject=new.subject.strip(),
            description=new.description.strip(),
            status=Classic.OPEN,
            category_id=category.id if category else None,
            category_name=category.name if category else None,
            author=new.requester.name if new.requester else None,
        )

    def update_ticket(
        self,
        ticket_id: str,
        *,
        priority: PriorityLevel | None = None,
        tag_ids: list[str] | None = None,
    ) -> None:
        if priority is None and tag_ids is None:
            return
        raise Unsupported("Getfly tickets have no priority and no tags")

    def add_conversation(
        self,
        ticket_id: str,
        text: str,
        attachment: FileUpload | None = None,
        *,
        public: bool = True,
    ) -> None:
        raise Unsupported("Getfly's API takes no replies to a ticket")

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        code = _checked_code(ticket_id, "PUT", TICKET)
        name = self.settings.status_closed if status.is_closed else self.settings.status_open
        # Only the code and the one field that changes: PUT replaces what it is given.
        # Setting the same status twice changes nothing, so this write may be retried.
        self._call(
            "PUT",
            TICKET,
            idempotent=True,
            json={"ticket_code": code, "status_name": name},
            not_found_on_400=True,
        )

    def close(self) -> None:
        self._http.close()

    # -- building and reading tickets ------------------------------------------

    def _new_ticket_body(self, new: NewTicket, category: Category | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ticket_title": new.subject.strip(),
            "ticket_content": ticket_html(new),
            "status_name": self.settings.status_open,
        }
        if category is not None:
            body["cate_name"] = category.name
        if new.requester is not None:
            body["contact_name"] = new.requester.name
            if new.requester.email:
                body["account_email"] = new.requester.email
        if self.settings.custom_fields:
            body["custom_fields"] = dict(self.settings.custom_fields)
        if self.settings.expected_days is not None:
            expected = self._today() + timedelta(days=self.settings.expected_days)
            body["expected_at"] = expected.isoformat()
        return body

    def _ticket(self, row: Mapping[str, Any], code: str | None = None) -> Ticket:
        found_code = row.get("ticket_code")
        cate_id = row.get("cate_id")
        author = row.get("account_name")
        return Ticket(
            id=str(found_code).strip() if found_code else (code or _text_id(row.get("id"))),
            subject=str(row.get("ticket_title") or ""),
            description=html_to_text(str(row.get("ticket_content") or "")),
            status=self._status(row.get(STATUS_FIELD)),
            category_id=None if cate_id in (None, "") else _text_id(cate_id),
            author=str(author) if author else None,
        )

    def _status(self, name: Any) -> TicketStatus:
        """The configured names read back; a ticket whose status is unknown reads as open
        (with `status_in` False the Slack side does not trust it)."""
        if not isinstance(name, str) or not name.strip():
            return Classic.OPEN
        folded = name.strip().casefold()
        if folded == self.settings.status_closed.casefold():
            return Classic.CLOSED
        if folded == self.settings.status_open.casefold():
            return Classic.OPEN
        return Classic.PROCESSING

    def _ticket_rows(self, offset: int, limit: int) -> list[Mapping[str, Any]]:
        params = {"fields": _fields(), "offset": str(offset), "limit": str(limit)}
        return _rows(self._call("GET", TICKETS, idempotent=True, params=params))

    def _scan(self, wanted: Callable[[Ticket], bool], enough: int) -> list[Ticket]:
        """Tickets that match, newest first, reading at most SCAN_ROWS rows."""
        found: list[Ticket] = []
        for offset in range(0, SCAN_ROWS, SCAN_BATCH):
            rows = self._ticket_rows(offset, SCAN_BATCH)
            found += [t for t in (self._ticket(row) for row in rows) if wanted(t)]
            if len(found) >= enough or len(rows) < SCAN_BATCH:
                break
        return found

    def _with_category_names(self, tickets: list[Ticket]) -> list[Ticket]:
        """Rows carry `cate_id` only; the names come from the (cached) category list."""
        try:
            names = {c.id: c.name for c in self._cached_categories()}
        except GatewayError:
            return tickets  # the list is still worth showing without them
        return [
            t.model_copy(update={"category_name": names.get(t.category_id or "")}) for t in tickets
        ]

    def _category(self, category_id: str) -> Category:
        for fresh in (False, True):
            categories = self._cached_categories() if not fresh else self.list_categories()
            found = next((c for c in categories if c.id == category_id), None)
            if found is not None:
                return found
        raise ValidationFailed(
            {"category": [f"Getfly has no category {category_id}: choose another one."]}
        )

    def _cached_categories(self) -> list[Category]:
        with self._categories_lock:
            cached = self._categories
        if cached is not None and self._clock() - cached[0] < CATEGORY_TTL:
            return cached[1]
        return self.list_categories()

    def _resolve_unknown_create(self, reference: str | None, exc: OutcomeUnknown) -> Ticket:
        # Never resent: look once for the reference, which only this create can have written.
        if reference:
            try:
                marker = reference_line(reference)
                for row in self._ticket_rows(0, LOOKUP_ROWS):
                    ticket = self._ticket(row)
                    if marker in ticket.description:
                        log.info("ambiguous create resolved: reference %s found", reference)
                        return ticket
            except GatewayError:
                pass
        raise create_unknown(exc, f"reference {reference}" if reference else None) from None

    # -- transport -------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        not_found_on_400: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Send; raise the mapped error if refused; return the JSON body."""
        headers = {"X-API-KEY": self._api_key, "Accept": "application/json"}
        response = self._http.request(
            method, path, idempotent=idempotent, headers=headers, **kwargs
        )
        body = json_body(response)
        if response.status_code >= 400:
            raise _error(method, path, response.status_code, body, not_found_on_400)
        if response.status_code != 200 or body is None:
            raise GatewayError(f"{method} {path}: unexpected answer (HTTP {response.status_code})")
        return body


# -- the ticket's HTML ------------------------------------------------------------


@cache
def _html_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bot.gateway", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def ticket_html(new: NewTicket) -> str:
    """The description as HTML paragraphs (blank lines) with <br> (line breaks), every
    text escaped by the template, and the requester and reference under a rule."""
    text = new.description.strip().replace("\r\n", "\n")
    paragraphs = [block.split("\n") for block in re.split(r"\n\s*\n", text) if block.strip()]
    template = _html_environment().get_template("getfly_ticket.html.j2")
    rendered = template.render(paragraphs=paragraphs, footer=footer_lines(new))
    return rendered.strip()


# -- checks and parsing -------------------------------------------------------------


def _check_new_ticket(new: NewTicket) -> None:
    problems = text_problems(new, MAX_SUBJECT_CHARS)
    if new.attachment is not None:
        problems["attachment"] = [NO_ATTACHMENTS]
    if problems:
        raise ValidationFailed(problems)


def _checked_code(ticket_id: str, method: str, path: str) -> str:
    code = ticket_id.strip().lstrip("#")
    if not TICKET_CODE.fullmatch(code):
        raise NotFound(f"{method} {path}: {ticket_id!r} is not a Getfly ticket code")
    return code


def _fields() -> str:
    return ",".join((*READ_FIELDS, STATUS_FIELD))


def _matcher(
    status: TicketStatus | StatusKind | None, subject: str | None, category_id: str | None
) -> Callable[[Ticket], bool]:
    def wanted(ticket: Ticket) -> bool:
        return (
            (status is None or status in (ticket.status, ticket.status.kind))
            and (not subject or subject.casefold() in ticket.subject.casefold())
            and (category_id is None or ticket.category_id == category_id)
        )

    return wanted


def _rows(body: Any) -> list[Mapping[str, Any]]:
    rows = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(rows, list):
        raise GatewayError("Getfly's answer has no data list")
    return [row for row in rows if isinstance(row, Mapping)]


def _text_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value).strip() == "":
        raise GatewayError(f"Getfly sent an unexpected id: {value!r}")
    return str(value).strip()


# -- errors ---------------------------------------------------------------------------


def _error(method: str, path: str, status: int, body: Any, not_found_on_400: bool) -> GatewayError:
    where = f"{method} {path}"
    said = _message(body)
    if status == 401:
        return Unauthorized(f"{where}: Getfly refused the API key (HTTP 401)")
    if status == 403 and method == "PUT":
        return NotOwner(f"{where}: the API key may not update this ticket (HTTP 403)")
    if status == 403:
        return Unauthorized(f"{where}: Getfly refused access (HTTP 403)")
    if status == 404 or (status == 400 and not_found_on_400 and _names_code(method, body, said)):
        return NotFound(f"{where}: not found" + (f" ({said})" if said else ""))
    if status >= 500:
        return Unavailable(f"{where}: HTTP {status}")
    fields = _field_errors(body)
    if fields:
        return ValidationFailed(fields)
    if status in (400, 422) and said:
        return ValidationFailed({"request": [said]})
    return GatewayError(f"{where}: {said or f'HTTP {status}'}")


def _message(body: Any) -> str:
    if not isinstance(body, Mapping):
        return ""
    message = body.get("message") or body.get("error") or ""
    return str(message).strip() if isinstance(message, str | int) else ""


def _names_code(method: str, body: Any, said: str) -> bool:
    """A 400 about the ticket code: any 400 of a look-up ("missing or invalid
    ticket_code"), and an update's 400 that names the code."""
    return method == "GET" or "ticket_code" in _field_errors_raw(body) or "ticket_code" in said


def _field_errors_raw(body: Any) -> Mapping[str, Any]:
    errors = body.get("errors") if isinstance(body, Mapping) else None
    return errors if isinstance(errors, Mapping) else {}


def _field_errors(body: Any) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in _field_errors_raw(body).items():
        messages = [str(m) for m in value] if isinstance(value, list) else [str(value)]
        messages = [m for m in messages if m]
        if messages:
            fields[DOMAIN_FIELDS.get(str(name), str(name))] = messages
    return fields
