"""django-helpdesk's REST API (`…/helpdesk/api/`, Django REST Framework) as a `TicketGateway`.

Every request carries `Authorization: Token <TICKET_API_TOKEN>`, a staff user's DRF token
(Basic auth costs the helpdesk a password hash per request). Facts this module relies on,
verified against django-helpdesk 2.6.1:

- Tickets: `queue` (an id; the API has no queue list, so queues are configured in
  DJANGO_HELPDESK_QUEUES), `title`, `description` and `priority` are all required on
  create (a missing description is a 500, not a 400). One file, field `attachment`,
  lands on the "Ticket Opened" followup.
- A ticket's history is its `followup_set`: the first followup is the opening one (its
  comment is the description), the others are replies, internal notes (`public`
  false) and status changes (`new_status`). Followup ids are one increasing sequence.
- A followup's `title` renames the ticket, so none is ever sent. Closing and reopening
  are followups with `new_status`, so the history records them and the helpdesk's
  webhooks fire; a PATCH would do neither.
- Errors: DRF's 400 field errors, 401/403/404 with `detail`; some faults are 500 HTML
  pages (a followup whose file is refused is then created without it), hence the
  checks before sending and `OutcomeUnknown` for a write answered with a 5xx.
- Attachment files are plain media URLs under the site, downloadable without the token.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.gateway.common import (
    Connection,
    Problem,
    check_page,
    create_unknown,
    json_body,
    reference_line,
    text_problems,
    with_footer,
)
from bot.gateway.errors import (
    GatewayError,
    NotFound,
    OutcomeUnknown,
    Unauthorized,
    Unavailable,
    Unsupported,
    ValidationFailed,
)
from bot.gateway.http import HttpTransport, RetryPolicy, Timeouts
from bot.gateway.keliweb import parse_pairs
from bot.gateway.models import (
    Attachment,
    Capabilities,
    Category,
    Conversation,
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

MAX_SUBJECT_CHARS = 200  # Ticket.title's max_length
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
#: django-helpdesk's default HELPDESK_VALID_EXTENSIONS (a file without one is accepted too)
DEFAULT_EXTENSIONS = ".txt,.asc,.pdf,.doc,.docx,.odt,.jpg,.png,.eml"
#: tickets read back from the end of the list when looking for an ambiguous create
LOOKUP_ROWS = 25

TICKETS = "tickets/"
FOLLOWUPS = "followups/"
ATTACHMENTS = "followups-attachments/"

OPEN = TicketStatus(id="1", name="Open", kind=StatusKind.OPEN)
REOPENED = TicketStatus(id="2", name="Reopened", kind=StatusKind.OPEN)
RESOLVED = TicketStatus(id="3", name="Resolved", kind=StatusKind.CLOSED)
CLOSED = TicketStatus(id="4", name="Closed", kind=StatusKind.CLOSED)
DUPLICATE = TicketStatus(id="5", name="Duplicate", kind=StatusKind.CLOSED)
STATUSES = [OPEN, REOPENED, RESOLVED, CLOSED, DUPLICATE]
STATUS_BY_ID = {status.id: status for status in STATUSES}

PRIORITIES = [
    PriorityLevel(id="1", label="Critical"),
    PriorityLevel(id="2", label="High"),
    PriorityLevel(id="3", label="Normal"),
    PriorityLevel(id="4", label="Low"),
    PriorityLevel(id="5", label="Very Low"),
]
PRIORITY_BY_ID = {priority.id: priority for priority in PRIORITIES}
DEFAULT_PRIORITY = "3"

#: the comment of the followups that Close and Reopen write; they are not replies
STATUS_NOTES = {
    StatusKind.CLOSED: "Closed from Slack.",
    StatusKind.OPEN: "Reopened from Slack.",
    StatusKind.PENDING: "Status changed from Slack.",
}

#: helpdesk field name -> domain field name (the rest keep their name)
FIELD_NAMES = {
    "title": "subject",
    "queue": "category",
    "comment": "text",
    "attachments": "attachment",
}


class DjangoHelpdeskSettings(BaseSettings):
    """The django-helpdesk backend's ids; each field is `DJANGO_HELPDESK_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="DJANGO_HELPDESK_", env_file=".env", extra="ignore"
    )

    #: the category dropdown: "queueid=name,…" (the API has no queue list)
    queues: str
    #: file name extensions the helpdesk takes (its HELPDESK_VALID_EXTENSIONS)
    extensions: str = DEFAULT_EXTENSIONS

    @field_validator("queues")
    @classmethod
    def _queues(cls, value: str) -> str:
        if not parse_pairs(value, "queue"):
            raise ValueError("no queue")
        return value

    @property
    def queue_names(self) -> dict[int, str]:
        return parse_pairs(self.queues, "queue")


class DjangoHelpdeskGateway:
    name: str = "django-helpdesk"
    capabilities = Capabilities(
        categories=True,
        priorities=True,
        priority_change=True,
        status_change=True,
        ticket_list=True,
        ticket_detail=True,
        conversations_out=True,
        conversations_in=True,
        attachments=True,
        max_attachment_bytes=MAX_ATTACHMENT_BYTES,
        max_subject_chars=MAX_SUBJECT_CHARS,
        statuses=STATUSES,
        close_status=CLOSED,
        reopen_status=REOPENED,
        internal_notes=True,
    )

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        settings: DjangoHelpdeskSettings,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = HttpTransport(base_url, timeouts=timeouts, retry=retry, transport=transport)
        self._headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        self.settings = settings
        self._queues = settings.queue_names
        self._extensions = {e.strip().lower() for e in settings.extensions.split(",") if e.strip()}
        self._max_download = max_download_bytes
        site = urlsplit(base_url)
        self._origin = (site.scheme, site.netloc)
        # Media files need no token: a separate client never carries it.
        self._media = httpx.Client(
            timeout=(timeouts or Timeouts()).to_httpx(),
            transport=transport,
            follow_redirects=False,
        )

    @staticmethod
    def connection_problems(connection: Connection) -> list[Problem]:
        """A staff user's DRF token; no API key, no login."""
        if connection.token:
            return []
        return [Problem("TICKET_API_TOKEN", "is required: a staff user's DRF token")]

    @classmethod
    def connect(
        cls, connection: Connection, settings: DjangoHelpdeskSettings
    ) -> DjangoHelpdeskGateway:
        connection.check(cls.connection_problems(connection))
        return cls(connection.base_url, connection.token or "", settings=settings)

    # -- reads ---------------------------------------------------------------

    def list_categories(self) -> list[Category]:
        return [Category(id=str(qid), name=name) for qid, name in self._queues.items()]

    def list_priorities(self) -> list[PriorityLevel]:
        return list(PRIORITIES)

    def list_tags(self) -> list[Tag]:
        raise Unsupported("django-helpdesk has no tags in its API")

    def configuration_problems(self) -> list[str]:
        """A ticket list checks the URL and the token. The API lists no queues, so each
        configured id is tried in a create that lacks a title: DRF answers 400 naming
        every bad field, the queue too when it does not exist, and creates nothing."""
        self._call("GET", TICKETS, idempotent=True, params={"page_size": "1"})
        problems = []
        for queue_id, name in self._queues.items():
            try:
                self._call("POST", TICKETS, idempotent=True, json={"queue": queue_id})
            except ValidationFailed as refused:
                if "category" in refused.fields:
                    problems.append(
                        f"DJANGO_HELPDESK_QUEUES names queue {queue_id} ({name}), which "
                        "django-helpdesk does not have. Fix: use the ids of Helpdesk → Queues "
                        "in the Django admin (docs/backends/django-helpdesk.md)."
                    )
        return problems

    def list_tickets(
        self,
        *,
        status: TicketStatus | StatusKind | None = None,
        subject: str | None = None,
        category_id: str | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> TicketPage:
        """Newest first. The API pages by id ascending and filters by status alone, so the
        page is read from the end; `subject` and `category_id` filter the page read."""
        check_page(offset, limit)
        params = {"page_size": str(limit)}
        wanted = _status_filter(status)
        if wanted:
            params["status"] = wanted
        first = self._call("GET", TICKETS, idempotent=True, params={**params, "page": "1"})
        count = int(first.get("count") or 0)
        end = count - offset  # the window [start, end) counted from the oldest
        start = max(0, end - limit)
        rows: list[Mapping[str, Any]] = []
        if end > 0:
            for page in range(start // limit + 1, (end - 1) // limit + 2):
                body = (
                    first
                    if page == 1
                    else self._call(
                        "GET", TICKETS, idempotent=True, params={**params, "page": str(page)}
                    )
                )
                page_start = (page - 1) * limit
                for index, row in enumerate(_results(body), start=page_start):
                    if start <= index < end:
                        rows.append(row)
        tickets = [self._ticket(row) for row in reversed(rows)]
        if subject:
            tickets = [t for t in tickets if subject.casefold() in t.subject.casefold()]
        if category_id is not None:
            tickets = [t for t in tickets if t.category_id == category_id]
        return TicketPage(tickets=tickets, offset=offset, limit=limit, has_more=start > 0)

    def get_ticket(self, ticket_id: str) -> TicketDetail:
        path = f"{TICKETS}{_path_id(ticket_id, 'ticket')}/"
        return self._detail(self._call("GET", path, idempotent=True))

    def download_attachment(self, attachment_id: str) -> FileUpload:
        path = f"{ATTACHMENTS}{_path_id(attachment_id, 'attachment')}/"
        meta = self._call("GET", path, idempotent=True)
        url = str(meta.get("file") or "")
        named = posixpath.basename(str(meta.get("filename") or ""))
        filename = named or f"attachment-{attachment_id}"
        if not self._same_site(url):
            raise NotFound(f"GET {path}: the file is not on the helpdesk's site")
        content_type = str(meta.get("mime_type") or "application/octet-stream")
        return FileUpload(
            filename=filename, content=self._fetch_media(url), content_type=content_type
        )

    # -- writes --------------------------------------------------------------

    def create_ticket(self, new: NewTicket) -> Ticket:
        self._check_new_ticket(new)
        form: dict[str, Any] = {
            "queue": int(new.category_id) if new.category_id else next(iter(self._queues)),
            "title": new.subject.strip(),
            "description": with_footer(new.description.strip(), new),
            "priority": int(new.priority.id if new.priority else DEFAULT_PRIORITY),
        }
        if new.requester is not None and new.requester.email:
            form["submitter_email"] = new.requester.email
        try:
            body = self._write(TICKETS, form, _files("attachment", new.attachment))
        except OutcomeUnknown as exc:
            return self._resolve_unknown_create(new.reference, exc)
        return self._ticket(body)

    def update_ticket(
        self,
        ticket_id: str,
        *,
        priority: PriorityLevel | None = None,
        tag_ids: list[str] | None = None,
    ) -> None:
        if tag_ids is not None:
            raise Unsupported("django-helpdesk has no tags in its API")
        if priority is None:
            return
        path = f"{TICKETS}{_path_id(ticket_id, 'ticket')}/"
        # Setting the same priority twice changes nothing, so this write may be retried.
        self._call("PATCH", path, idempotent=True, json={"priority": int(priority.id)})

    def add_conversation(
        self,
        ticket_id: str,
        text: str,
        attachment: FileUpload | None = None,
        *,
        public: bool = True,
    ) -> None:
        problems = self._attachment_problems(attachment)
        if not text.strip():
            problems["text"] = ["The reply may not be blank."]
        if problems:
            raise ValidationFailed(problems)
        form = {"ticket": int(_path_id(ticket_id, "ticket")), "comment": text.strip()}
        self._write(FOLLOWUPS, {**form, "public": public}, _files("attachments", attachment))

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        if status.id not in STATUS_BY_ID:
            raise ValidationFailed({"status": [f"django-helpdesk has no status {status.name!r}."]})
        form = {
            "ticket": int(_path_id(ticket_id, "ticket")),
            "comment": STATUS_NOTES[status.kind],
            "public": True,
            "new_status": int(status.id),
        }
        self._write(FOLLOWUPS, form, None)

    def webhook_ticket_id(self, payload: bytes) -> str | None:
        """django-helpdesk's hooks send {"ticket": {"id": …, …}, …}; only the id is used."""
        try:
            body = json.loads(payload)
        except ValueError:
            return None
        ticket = body.get("ticket") if isinstance(body, dict) else None
        ticket_id = ticket.get("id") if isinstance(ticket, dict) else None
        if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or ticket_id < 1:
            return None
        return str(ticket_id)

    def close(self) -> None:
        self._http.close()
        self._media.close()

    # -- mapping answers -----------------------------------------------------

    def _ticket(self, row: Mapping[str, Any]) -> Ticket:
        queue = _optional_id(row.get("queue"))
        assigned = _optional_id(row.get("assigned_to"))
        return Ticket(
            id=_id(row.get("id")),
            subject=str(row.get("title") or ""),
            description=str(row.get("description") or ""),
            status=STATUS_BY_ID.get(_optional_id(row.get("status")) or "", OPEN),
            priority=PRIORITY_BY_ID.get(_optional_id(row.get("priority")) or ""),
            category_id=queue,
            category_name=self._queues.get(int(queue)) if queue and queue.isdigit() else None,
            author=str(row.get("submitter_email") or "") or None,
            assignee=f"user {assigned}" if assigned else None,
        )

    def _detail(self, row: Mapping[str, Any]) -> TicketDetail:
        ticket = self._ticket(row)
        followups = sorted(
            (f for f in row.get("followup_set") or [] if isinstance(f, Mapping)),
            key=lambda f: int(_id(f.get("id"))),
        )
        opening: list[Attachment] = []
        conversations: list[Conversation] = []
        for index, followup in enumerate(followups):
            attachments = [_attachment(a) for a in followup.get("followupattachment_set") or []]
            if index == 0 and _is_opening(followup, ticket):
                opening = attachments
            elif not _is_own_status_note(followup):
                conversations.append(
                    Conversation(
                        id=_id(followup.get("id")),
                        ticket_id=ticket.id,
                        text=str(followup.get("comment") or ""),
                        author="Agent" if followup.get("user") is not None else "",
                        attachments=attachments,
                        public=followup.get("public") is True,
                    )
                )
        return TicketDetail(ticket=ticket, conversations=conversations, attachments=opening)

    # -- checks before sending -----------------------------------------------

    def _check_new_ticket(self, new: NewTicket) -> None:
        problems = {
            **self._attachment_problems(new.attachment),
            **text_problems(new, MAX_SUBJECT_CHARS),
        }
        if new.category_id is not None and (
            not new.category_id.isdigit() or int(new.category_id) not in self._queues
        ):
            problems["category"] = [f"There is no queue {new.category_id!r}."]
        if new.priority is not None and new.priority.id not in PRIORITY_BY_ID:
            problems["priority"] = [f"There is no priority {new.priority.label!r}."]
        if problems:
            raise ValidationFailed(problems)

    def _attachment_problems(self, attachment: FileUpload | None) -> dict[str, list[str]]:
        if attachment is None:
            return {}
        if len(attachment.content) > MAX_ATTACHMENT_BYTES:
            return {"attachment": ["The file is too big: the bot sends at most 10 MiB."]}
        extension = posixpath.splitext(attachment.filename)[1].lower()
        if extension not in ("", ".") and extension not in self._extensions:
            allowed = ", ".join(sorted(self._extensions))
            refused = f"The helpdesk does not take {extension} files (it takes {allowed})."
            return {"attachment": [refused]}
        return {}

    # -- creating without duplicates -----------------------------------------

    def _resolve_unknown_create(self, reference: str | None, exc: OutcomeUnknown) -> Ticket:
        # Never resent: look once among the newest tickets for the reference only this
        # create can have written.
        if reference:
            marker = reference_line(reference)
            try:
                newest = self.list_tickets(limit=LOOKUP_ROWS).tickets
            except GatewayError:
                newest = []
            for ticket in newest:
                if marker in ticket.description:
                    log.info("ambiguous create resolved: reference %s found", reference)
                    return ticket
        raise create_unknown(exc, f"reference {reference}" if reference else None) from None

    # -- transport -------------------------------------------------------------

    def _write(
        self,
        path: str,
        form: dict[str, Any],
        files: dict[str, tuple[str, bytes, str]] | None,
    ) -> dict[str, Any]:
        """POST as JSON, or as multipart when a file goes with it."""
        if files is None:
            return self._call("POST", path, idempotent=False, json=form)
        data = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in form.items()}
        return self._call("POST", path, idempotent=False, data=data, files=files)

    def _call(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> dict[str, Any]:
        response = self._http.request(
            method, path, idempotent=idempotent, headers=self._headers, **kwargs
        )
        body = json_body(response)
        if response.status_code >= 400:
            raise _error(method, path, response.status_code, body)
        if not isinstance(body, dict):
            raise GatewayError(f"{method} {path}: the helpdesk's answer is not a JSON object")
        return body

    def _same_site(self, url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc) == self._origin

    def _fetch_media(self, url: str) -> bytes:
        where = f"GET {urlsplit(url).path.rsplit('/', 1)[-1]}"
        try:
            with self._media.stream("GET", url) as response:
                if response.status_code == 404:
                    raise NotFound(f"{where}: the file is gone from the helpdesk")
                if response.status_code >= 400:
                    raise Unavailable(f"{where}: HTTP {response.status_code}")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self._max_download:
                        limit = _size(self._max_download)
                        too_big = f"The file is bigger than the {limit} the bot fetches."
                        raise ValidationFailed({"attachment": [too_big]})
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TransportError as exc:
            raise Unavailable(f"{where}: transport error ({type(exc).__name__})") from None


# -- helpers ----------------------------------------------------------------------


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:g} MiB" if count >= 1024 * 1024 else f"{count} bytes"


def _status_filter(status: TicketStatus | StatusKind | None) -> str:
    if status is None:
        return ""
    if isinstance(status, TicketStatus):
        return status.id
    return ",".join(s.id for s in STATUSES if s.kind is status)


def _is_opening(followup: Mapping[str, Any], ticket: Ticket) -> bool:
    """The followup the helpdesk wrote when the ticket was opened: not a reply."""
    return followup.get("new_status") is None and (
        followup.get("title") == "Ticket Opened"
        or str(followup.get("comment") or "").strip() == ticket.description.strip()
    )


def _is_own_status_note(followup: Mapping[str, Any]) -> bool:
    """A followup Close or Reopen wrote: the status change is announced, not its comment."""
    return followup.get("new_status") is not None and (
        str(followup.get("comment") or "") in STATUS_NOTES.values()
    )


def _files(field: str, attachment: FileUpload | None) -> dict[str, tuple[str, bytes, str]] | None:
    if attachment is None:
        return None
    return {field: (attachment.filename, attachment.content, attachment.content_type)}


def _results(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rows = body.get("results")
    if not isinstance(rows, list):
        raise GatewayError("the helpdesk's ticket list has no results")
    return [row for row in rows if isinstance(row, Mapping)]


def _id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise GatewayError(f"the helpdesk sent an unexpected id: {value!r}")
    return str(value).strip()


def _optional_id(value: Any) -> str | None:
    return None if value is None or value == "" else _id(value)


def _path_id(value: str, what: str) -> str:
    """An id that becomes part of a path: digits only."""
    if not value.isdigit():
        raise NotFound(f"there is no {what} {value!r} in django-helpdesk")
    return value


def _attachment(row: Any) -> Attachment:
    if not isinstance(row, Mapping):
        raise GatewayError("the helpdesk sent an unexpected attachment")
    filename = row.get("filename")
    return Attachment(
        id=_id(row.get("id")),
        conversation_id=_optional_id(row.get("followup")),
        filename=str(filename) if filename else None,
    )


def _error(method: str, path: str, status: int, body: Any) -> GatewayError:
    where = f"{method} {path}"
    if status in (401, 403):
        return Unauthorized(f"{where}: the helpdesk refused the token (HTTP {status})")
    if status == 404:
        return NotFound(f"{where}: not found")
    errors = _field_errors(body)
    ticket_errors = " ".join(errors.pop("ticket", [])).lower()
    if "does not exist" in ticket_errors or "incorrect type" in ticket_errors:
        return NotFound(f"{where}: no such ticket")
    general = errors.pop("detail", []) + errors.pop("non_field_errors", [])
    if errors:
        return ValidationFailed({FIELD_NAMES.get(k, k): msgs for k, msgs in errors.items()})
    said = " ".join(general)
    return GatewayError(f"{where}: {said or f'HTTP {status}'}")


def _field_errors(body: Any) -> dict[str, list[str]]:
    if not isinstance(body, Mapping):
        return {}
    errors: dict[str, list[str]] = {}
    for name, value in body.items():
        messages = [value] if isinstance(value, str) else value
        if isinstance(messages, list):
            errors[str(name)] = [str(m) for m in messages if m]
    return {name: messages for name, messages in errors.items() if messages}
