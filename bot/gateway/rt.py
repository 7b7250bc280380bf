"""Request Tracker 5 through its REST2 API (`TICKET_API_URL=https://rt.example.com/REST/2.0/`).

Authentication is an RT auth token (`TICKET_API_TOKEN`, sent as `Authorization: token …`);
everything is done as the token's user. Queues are the categories, the queue's lifecycle
statuses carry kinds (`RT_STATUSES`), priorities are RT's numbers with labels
(`RT_PRIORITIES`), a Comment is an internal note and a Correspond a public reply.

RT's ways this module absorbs:
- A refused change often comes back as 200/201 with a list of sentences
  (`["Ticket 7: That user does not exist"]`): each write's answer is checked and a
  refusal becomes a typed error. An empty list means "nothing changed", which is also
  how RT answers a field it ignored, so such an answer is checked by reading back.
- Priority names sent on create are stored as text: numbers are always sent.
- Ids are numbers in single records and strings in collections; most numbers are strings.
- A transaction's text is in its attachments, next to the MIME containers and the
  outgoing mail RT records: bodies are the filename-less text parts of the Create,
  Correspond and Comment transactions, files the parts with a filename.
- Attachments come back base64-encoded from `attachment/:id`, read here within a bound.
- Transaction ids are one global increasing sequence, which makes a change feed: one
  query for everything after a cursor (`changes_since`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.gateway.common import (
    Connection,
    Problem,
    create_unknown,
    html_to_text,
    reference_line,
    text_problems,
    with_footer,
)
from bot.gateway.errors import (
    GatewayError,
    InvalidState,
    NotFound,
    NotOwner,
    OutcomeUnknown,
    TooLarge,
    Unauthorized,
    Unsupported,
    ValidationFailed,
)
from bot.gateway.http import HttpTransport, RetryPolicy, Timeouts
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

#: RT's default $MaxAttachmentSize
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
#: RT caps per_page at 100 without saying so
PAGE = 100
#: transactions read per `changes_since` call at most; the rest comes next call
MAX_FEED_PAGES = 10
#: transaction ids per attachments query (each one an OR'ed condition)
IDS_PER_QUERY = 50
CATEGORY_TTL = 300.0
#: what a change feed looks at: what a thread shows (text, status, priority, owner)
FEED_TYPES = ("Create", "Correspond", "Comment", "Status", "Set", "SetWatcher")
CONVERSATION_TYPES = ("Create", "Correspond", "Comment")
EMAIL = re.compile(r"^[^@\s'\"\\]+@[^@\s'\"\\]+$")
#: RT's own sentences for changes that happened
DONE = re.compile(r"\b(changed|added|set to|created|resolved)\b", re.IGNORECASE)
PERL_TAIL = re.compile(r" at /\S+ line \d+\.?\s*$")

DEFAULT_STATUSES = (
    "new=open,open=open,stalled=pending,resolved=closed,rejected=closed,deleted=closed"
)
DEFAULT_PRIORITIES = "0=Low,50=Medium,100=High"


class RtSettings(BaseSettings):
    """The rt backend's names; each field is `RT_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="RT_", env_file=".env", extra="ignore")

    #: the priority choices, RT number=label, lowest first
    priorities: str = DEFAULT_PRIORITIES
    #: the lifecycle's statuses with their kinds (open, pending, closed), in order
    statuses: str = DEFAULT_STATUSES
    #: the status the Close button sets, and the one Reopen sets
    close_status: str = "resolved"
    reopen_status: str = "open"

    @field_validator("priorities")
    @classmethod
    def _priorities(cls, value: str) -> str:
        if not parse_priorities(value):
            raise ValueError("no priority")
        return value

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, value: str) -> str:
        parse_statuses(value)
        return value

    def status_list(self) -> list[TicketStatus]:
        return parse_statuses(self.statuses)

    def priority_list(self) -> list[PriorityLevel]:
        return [
            PriorityLevel(id=str(n), label=label) for n, label in parse_priorities(self.priorities)
        ]


def parse_priorities(text: str) -> list[tuple[int, str]]:
    """`"0=Low,50=Medium"` → `[(0, "Low"), (50, "Medium")]`, sorted; ValueError when malformed."""
    levels: dict[int, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        number, sep, label = item.partition("=")
        if not sep or not number.strip().lstrip("-").isdigit() or not label.strip():
            raise ValueError(f"priorities: expected number=label pairs, got {item!r}")
        if int(number) in levels:
            raise ValueError(f"priorities: {int(number)} given twice")
        levels[int(number)] = label.strip()
    return sorted(levels.items())


def parse_statuses(text: str) -> list[TicketStatus]:
    """`"new=open,stalled=pending"` → TicketStatus list in that order; ValueError if malformed."""
    statuses: list[TicketStatus] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, kind = item.partition("=")
        kinds = {k.value for k in StatusKind}
        if not sep or not name.strip() or kind.strip() not in kinds:
            raise ValueError(f"statuses: expected name=kind ({'/'.join(kinds)}), got {item!r}")
        statuses.append(
            TicketStatus(
                id=name.strip(), name=name.strip().capitalize(), kind=StatusKind(kind.strip())
            )
        )
    if not any(s.kind == StatusKind.OPEN for s in statuses) or not any(
        s.kind == StatusKind.CLOSED for s in statuses
    ):
        raise ValueError("statuses: need at least one open and one closed status")
    return statuses


def capabilities_for(section: RtSettings) -> Capabilities:
    statuses = section.status_list()
    by_id = {s.id: s for s in statuses}
    return Capabilities(
        categories=True,
        priorities=True,
        priority_change=True,
        tags=False,
        status_change=True,
        status_in=True,
        ticket_list=True,
        ticket_detail=True,
        conversations_out=True,
        conversations_in=True,
        attachments=True,
        max_attachment_bytes=MAX_ATTACHMENT_BYTES,
        max_subject_chars=200,
        statuses=statuses,
        close_status=by_id.get(section.close_status),
        reopen_status=by_id.get(section.reopen_status),
        internal_notes=True,
        assign=True,
        change_feed=True,
    )


class RtGateway:
    name: str = "rt"

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        settings: RtSettings | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not token:
            raise ValueError("RtGateway needs an auth token")
        self._http = HttpTransport(base_url, timeouts=timeouts, retry=retry, transport=transport)
        self._headers = {"Authorization": f"token {token}", "Accept": "application/json"}
        self.settings = settings or RtSettings()
        self.capabilities = capabilities_for(self.settings)
        self._statuses = {s.id: s for s in self.settings.status_list()}
        self._priorities = parse_priorities(self.settings.priorities)
        self._clock = clock
        self._queues: tuple[float, list[Category]] | None = None
        self._queues_lock = threading.Lock()

    @staticmethod
    def connection_problems(connection: Connection) -> list[Problem]:
        """An RT auth token (REST2 also takes Basic auth, which the bot does not use)."""
        if connection.token:
            return []
        return [Problem("TICKET_API_TOKEN", "is required: an RT auth token")]

    @classmethod
    def connect(cls, connection: Connection, settings: RtSettings) -> RtGateway:
        connection.check(cls.connection_problems(connection))
        return cls(connection.base_url, connection.token or "", settings=settings)

    # -- reads -------------------------------------------------------------------

    def list_categories(self) -> list[Category]:
        queues = self._read_queues()
        with self._queues_lock:
            self._queues = (self._clock(), queues)
        return queues

    def _read_queues(self) -> list[Category]:
        rows = self._collection("GET", "queues/all", {"fields": "Name,Description"})
        return [
            Category(
                id=str(row["id"]),
                name=str(row.get("Name") or ""),
                description=str(row.get("Description") or ""),
            )
            for row in rows
        ]

    def list_priorities(self) -> list[PriorityLevel]:
        return self.settings.priority_list()

    def list_tags(self) -> list[Tag]:
        return []

    def list_tickets(
        self,
        *,
        status: StatusKind | TicketStatus | None = None,
        subject: str | None = None,
        category_id: str | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> TicketPage:
        if offset < 0 or not 1 <= limit <= PAGE:
            raise ValueError(f"offset must be >= 0 and limit from 1 to {PAGE}")
        clauses = []
        if category_id is not None:
            clauses.append(f"Queue = {_number(category_id, 'category')}")
        if status is not None:
            names = (
                [status.id]
                if isinstance(status, TicketStatus)
                else [s.id for s in self._statuses.values() if s.kind == StatusKind(status)]
            )
            clauses.append("(" + " OR ".join(f"Status = {_quote(n)}" for n in names) + ")")
        if subject:
            clauses.append(f"Subject LIKE {_quote(subject)}")
        # A page size that divides the offset lets RT do the paging.
        per_page = limit
        while offset % per_page:
            per_page -= 1
        wanted = offset + limit + 1  # one more than asked tells whether more exist
        first_page = offset // per_page + 1
        params = {
            "query": " AND ".join(clauses) or "id > 0",
            "orderby": "id",
            "order": "DESC",
            "per_page": str(per_page),
            "fields": "Subject,Status,Priority,Queue,Owner,Requestor",
            "fields[Queue]": "Name",
        }
        rows: list[Mapping[str, Any]] = []
        page = first_page
        while len(rows) < limit + 1:
            body = self._call(
                "GET", "tickets", idempotent=True, params={**params, "page": str(page)}
            )
            items = _items(body)
            rows += items
            if len(items) < per_page or (page - first_page + 1) * per_page >= wanted:
                break
            page += 1
        tickets = [self._ticket(row) for row in rows]
        return TicketPage(
            tickets=tickets[:limit], offset=offset, limit=limit, has_more=len(tickets) > limit
        )

    def get_ticket(self, ticket_id: str) -> TicketDetail:
        number = _number(ticket_id, "ticket")
        row = self._call("GET", f"ticket/{number}", idempotent=True)
        if not isinstance(row, Mapping) or "id" not in row:
            raise NotFound(f"GET ticket/{number}: no ticket")
        ticket = self._ticket(row)
        transactions = self._conversation_transactions(number)
        bodies, files = self._transaction_parts(number, [t for t, _, _ in transactions])
        description = ""
        attachments: list[Attachment] = []
        conversations = []
        for txn_id, kind, author in transactions:
            if kind == "Create":
                description = bodies.get(txn_id, "")
                attachments += files.get(txn_id, [])
                continue
            conversations.append(
                Conversation(
                    id=txn_id,
                    ticket_id=str(number),
                    text=bodies.get(txn_id, ""),
                    author=author,
                    attachments=files.get(txn_id, []),
                    public=kind == "Correspond",
                )
            )
        ticket = ticket.model_copy(update={"description": description})
        return TicketDetail(ticket=ticket, conversations=conversations, attachments=attachments)

    def download_attachment(self, attachment_id: str) -> FileUpload:
        number = _number(attachment_id, "attachment")
        path = f"attachment/{number}"
        # base64 grows by a third; the JSON around it is small
        limit = MAX_ATTACHMENT_BYTES * 4 // 3 + 64 * 1024
        try:
            response = self._http.request(
                "GET", path, idempotent=True, max_bytes=limit, headers=self._headers
            )
        except TooLarge:
            raise ValidationFailed(
                {"attachment": [f"the file is larger than {MAX_ATTACHMENT_BYTES // 2**20} MB"]}
            ) from None
        body = _json_bytes(response.content)
        if response.status_code >= 400:
            raise _error("GET", path, response.status_code, body)
        if not isinstance(body, Mapping):
            raise GatewayError(f"GET {path}: unexpected answer")
        try:
            content = base64.b64decode(str(body.get("Content") or ""), validate=False)
        except (binascii.Error, ValueError):
            raise GatewayError(f"GET {path}: the file's content is not base64") from None
        return FileUpload(
            filename=str(body.get("Filename") or f"attachment-{number}"),
            content=content,
            content_type=str(body.get("ContentType") or "application/octet-stream"),
        )

    def changes_since(self, cursor: str | None) -> tuple[str, set[str]]:
        """The tickets with a transaction after `cursor` (a transaction id), and the new
        cursor. `None`: no cursor yet; the answer is the current end and no tickets."""
        if cursor is None or not cursor.isdigit():
            body = self._call(
                "GET",
                "transactions",
                idempotent=True,
                params={"query": "id > 0", "orderby": "id", "order": "DESC", "per_page": "1"},
            )
            items = _items(body)
            return (str(items[0]["id"]) if items else "0", set())
        types = " OR ".join(f"Type = '{t}'" for t in FEED_TYPES)
        last = int(cursor)
        changed: set[str] = set()
        for _ in range(MAX_FEED_PAGES):
            params = {
                "query": f"ObjectType = 'RT::Ticket' AND id > {last} AND ({types})",
                "fields": "ObjectId",
                "orderby": "id",
                "order": "ASC",
                "per_page": str(PAGE),
            }
            items = _items(self._call("GET", "transactions", idempotent=True, params=params))
            for item in items:
                last = max(last, int(item["id"]))
                changed.add(str(item.get("ObjectId")))
            if len(items) < PAGE:
                break
        return (str(last), changed)

    def configuration_problems(self) -> list[str]:
        problems = []
        queues = self.list_categories()
        if not queues:
            problems.append(
                "RT shows the token's user no queue: give that user CreateTicket and "
                "ShowTicket rights on the queues tickets go to"
            )
        known = set(self._statuses)
        for variable, name in (
            ("RT_CLOSE_STATUS", self.settings.close_status),
            ("RT_REOPEN_STATUS", self.settings.reopen_status),
        ):
            if name not in known:
                problems.append(f"{variable}={name} is not among RT_STATUSES ({', '.join(known)})")
        return problems

    # -- writes --------------------------------------------------------------------

    def create_ticket(self, new: NewTicket) -> Ticket:
        problems = text_problems(new, self.capabilities.max_subject_chars)
        if not new.category_id:
            problems["category"] = ["Choose the RT queue for the ticket."]
        if problems or not new.category_id:
            raise ValidationFailed(problems)
        body: dict[str, Any] = {
            "Queue": _number(new.category_id, "category"),
            "Subject": new.subject.strip(),
            "Content": with_footer(new.description.strip(), new),
            "ContentType": "text/plain",
        }
        if new.priority is not None:
            body["Priority"] = self._priority_number(new.priority)
        requester = new.requester
        if requester and requester.email and EMAIL.match(requester.email):
            body["Requestor"] = requester.email
        if new.attachment is not None:
            body["Attachments"] = [_attachment_json(new.attachment)]
        try:
            answer = self._call("POST", "ticket", idempotent=False, json=body, ok=(201,))
        except OutcomeUnknown as exc:
            return self._resolve_unknown_create(new, exc)
        if not isinstance(answer, Mapping) or not str(answer.get("id", "")).isdigit():
            raise GatewayError("POST ticket: the ticket was created but RT sent no id")
        return self.get_ticket(str(answer["id"])).ticket

    def update_ticket(
        self,
        ticket_id: str,
        *,
        priority: PriorityLevel | None = None,
        tag_ids: list[str] | None = None,
    ) -> None:
        if tag_ids:
            raise Unsupported("RT tickets have no tags the bot can set")
        if priority is None:
            return
        number = self._priority_number(priority)
        self._put_fields(ticket_id, {"Priority": number}, "priority")

    def add_conversation(
        self,
        ticket_id: str,
        text: str,
        attachment: FileUpload | None = None,
        *,
        public: bool = True,
    ) -> None:
        number = _number(ticket_id, "ticket")
        path = f"ticket/{number}/{'correspond' if public else 'comment'}"
        body: dict[str, Any] = {"Content": text, "ContentType": "text/plain"}
        if attachment is not None:
            body["Attachments"] = [_attachment_json(attachment)]
        messages = self._call("POST", path, idempotent=False, json=body, ok=(201,))
        _check_messages("POST", path, messages, field="conversation", empty_ok=False)

    def set_status(self, ticket_id: str, status: StatusKind | TicketStatus) -> None:
        name = self._status_name(status)
        self._put_fields(ticket_id, {"Status": name}, "status")

    def assign(self, ticket_id: str, email: str) -> None:
        """Make the RT user with this e-mail address the ticket's owner."""
        user = self._user_by_email(email)
        self._put_fields(ticket_id, {"Owner": user}, "assignee")

    def close(self) -> None:
        self._http.close()

    # -- helpers: tickets ------------------------------------------------------------

    def _ticket(self, row: Mapping[str, Any]) -> Ticket:
        queue = _mapping(row.get("Queue"))
        owner = _mapping(row.get("Owner"))
        requestors = [_mapping(r) for r in row.get("Requestor") or [] if isinstance(r, Mapping)]
        queue_id = str(queue.get("id")) if queue.get("id") is not None else None
        owner_name = str(owner.get("id") or "")
        return Ticket(
            id=str(row["id"]),
            subject=str(row.get("Subject") or ""),
            status=self._status(row.get("Status")),
            priority=self._priority(row.get("Priority")),
            category_id=queue_id,
            category_name=str(queue.get("Name"))
            if queue.get("Name")
            else self._queue_name(queue_id),
            author=str(requestors[0].get("id")) if requestors else None,
            assignee=None if owner_name in ("", "Nobody") else owner_name,
        )

    def _status(self, name: Any) -> TicketStatus:
        text = str(name or "")
        known = self._statuses.get(text)
        if known is not None:
            return known
        # A status of a lifecycle the settings do not list: shown by name, read as open.
        return TicketStatus(id=text, name=text.capitalize(), kind=StatusKind.OPEN)

    def _status_name(self, status: StatusKind | TicketStatus) -> str:
        if isinstance(status, TicketStatus):
            return status.id
        if StatusKind(status) == StatusKind.CLOSED:
            return self.settings.close_status
        if StatusKind(status) == StatusKind.OPEN:
            return self.settings.reopen_status
        pending = [s.id for s in self._statuses.values() if s.kind == StatusKind.PENDING]
        if not pending:
            raise Unsupported("RT_STATUSES lists no pending status")
        return pending[0]

    def _priority(self, value: Any) -> PriorityLevel | None:
        text = str(value if value is not None else "").strip()
        if not text:
            return None
        if not text.lstrip("-").isdigit():  # a name RT stored as text (sent by someone else)
            for number, label in self._priorities:
                if label.casefold() == text.casefold():
                    return PriorityLevel(id=str(number), label=label)
            return None
        # RT's numbers are a scale: the highest configured level at or below the value.
        value_number = int(text)
        chosen = self._priorities[0]
        for number, label in self._priorities:
            if number <= value_number:
                chosen = (number, label)
        return PriorityLevel(id=str(chosen[0]), label=chosen[1])

    def _priority_number(self, priority: PriorityLevel) -> int:
        if priority.id.lstrip("-").isdigit():
            return int(priority.id)
        raise ValidationFailed({"priority": [f"{priority.label} is not an RT priority number"]})

    def _queue_name(self, queue_id: str | None) -> str | None:
        if queue_id is None:
            return None
        try:
            queues = self._cached_queues()
        except GatewayError:
            return None
        return next((q.name for q in queues if q.id == queue_id), None)

    def _cached_queues(self) -> list[Category]:
        # Under the lock: pollers in many threads ask at once, and one of them asks RT.
        with self._queues_lock:
            cached = self._queues
            if cached is not None and self._clock() - cached[0] < CATEGORY_TTL:
                return cached[1]
            queues = self._read_queues()
            self._queues = (self._clock(), queues)
            return queues

    def _conversation_transactions(self, number: int) -> list[tuple[str, str, str]]:
        """(id, type, creator name) of the ticket's Create, Correspond and Comment, oldest first."""
        types = " OR ".join(f"Type = '{t}'" for t in CONVERSATION_TYPES)
        params = {
            "query": f"ObjectType = 'RT::Ticket' AND ObjectId = {number} AND ({types})",
            "fields": "Type,Creator",
            "orderby": "id",
            "order": "ASC",
        }
        rows = self._collection("GET", "transactions", params)
        found = []
        for row in rows:
            creator = row.get("Creator")
            author = str(creator.get("id") or "") if isinstance(creator, Mapping) else ""
            found.append((str(row["id"]), str(row.get("Type") or ""), author))
        return found

    def _transaction_parts(
        self, number: int, transaction_ids: list[str]
    ) -> tuple[dict[str, str], dict[str, list[Attachment]]]:
        """Each transaction's text (its first filename-less text part, plain preferred)
        and its files, in two queries per IDS_PER_QUERY transactions."""
        bodies: dict[str, tuple[int, str]] = {}
        files: dict[str, list[Attachment]] = {}
        path = f"ticket/{number}/attachments"
        for chunk in _chunks(transaction_ids, IDS_PER_QUERY):
            wanted = [{"field": "TransactionId", "operator": "=", "value": int(t)} for t in chunk]
            texts = self._collection(
                "POST",
                path,
                {"fields": "TransactionId,ContentType,Content"},
                json=[
                    *wanted,
                    {"field": "Filename", "operator": "IS", "value": "NULL"},
                    {"field": "ContentType", "operator": "LIKE", "value": "text/"},
                ],
            )
            for row in texts:
                txn = str(row.get("TransactionId"))
                kind = str(row.get("ContentType") or "")
                rank = 0 if kind == "text/plain" else 1 if kind == "text/html" else 2
                if rank == 2 or (txn in bodies and bodies[txn][0] <= rank):
                    continue
                content = str(row.get("Content") or "")
                bodies[txn] = (rank, html_to_text(content) if rank else content)
            named = self._collection(
                "POST",
                path,
                {"fields": "TransactionId,Filename"},
                json=[*wanted, {"field": "Filename", "operator": "IS NOT", "value": "NULL"}],
            )
            for row in named:
                txn = str(row.get("TransactionId"))
                files.setdefault(txn, []).append(
                    Attachment(
                        id=str(row["id"]),
                        conversation_id=txn,
                        filename=str(row.get("Filename") or "") or None,
                    )
                )
        return ({t: text.strip() for t, (_, text) in bodies.items()}, files)

    def _put_fields(self, ticket_id: str, fields: dict[str, Any], field: str) -> None:
        """PUT and check RT's sentences; an empty answer (no change, or an ignored field)
        is checked by reading the ticket back."""
        number = _number(ticket_id, "ticket")
        path = f"ticket/{number}"
        # Setting a field to a value is the same change however often it is sent.
        messages = self._call("PUT", path, idempotent=True, json=fields)
        if _check_messages("PUT", path, messages, field=field, empty_ok=True):
            return
        row = self._call("GET", path, idempotent=True)
        for key, value in fields.items():
            now = row.get(key) if isinstance(row, Mapping) else None
            now = now.get("id") if isinstance(now, Mapping) else now
            if str(now) != str(value):
                raise ValidationFailed({field: [f"RT did not set {key} to {value}"]})

    def _user_by_email(self, email: str) -> str:
        if not EMAIL.match(email or ""):
            raise ValidationFailed({"assignee": ["no e-mail address to find the RT user by"]})
        rows = self._collection(
            "POST",
            "users",
            {"fields": "Name,EmailAddress"},
            json=[{"field": "EmailAddress", "operator": "=", "value": email}],
        )
        if not rows:
            raise ValidationFailed({"assignee": [f"RT has no user with the e-mail {email}"]})
        return str(rows[0].get("Name") or rows[0]["id"])

    def _resolve_unknown_create(self, new: NewTicket, exc: OutcomeUnknown) -> Ticket:
        # Never resent: look once for the reference among the queue's newest tickets
        # with this subject, which only this create can have written.
        if new.reference and new.category_id:
            try:
                query = (
                    f"Queue = {_number(new.category_id, 'category')} "
                    f"AND Subject = {_quote(new.subject.strip())}"
                )
                params = {"query": query, "orderby": "id", "order": "DESC", "per_page": "5"}
                for row in _items(self._call("GET", "tickets", idempotent=True, params=params)):
                    detail = self.get_ticket(str(row["id"]))
                    if reference_line(new.reference) in detail.ticket.description:
                        log.info("ambiguous create resolved: reference %s found", new.reference)
                        return detail.ticket
            except GatewayError:
                pass
        hint = f"look for reference {new.reference} in RT" if new.reference else None
        raise create_unknown(exc, hint) from None

    # -- transport ---------------------------------------------------------------------

    def _collection(
        self, method: str, path: str, params: Mapping[str, str], **kwargs: Any
    ) -> list[Mapping[str, Any]]:
        """Every item of a paged collection (a POST search is POSTed again per page)."""
        rows: list[Mapping[str, Any]] = []
        page = 1
        while True:
            body = self._call(
                method,
                path,
                idempotent=True,
                params={**params, "per_page": str(PAGE), "page": str(page)},
                **kwargs,
            )
            items = _items(body)
            rows += items
            if len(items) < PAGE:
                return rows
            page += 1

    def _call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        ok: tuple[int, ...] = (200,),
        json: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Send; raise the mapped error if refused; return the JSON body."""
        headers = dict(self._headers)
        if method in ("POST", "PUT"):
            headers["Content-Type"] = "application/json"  # RT answers 415 without it
            kwargs["content"] = _dumps(json if json is not None else {})
        response = self._http.request(
            method, path, idempotent=idempotent, headers=headers, **kwargs
        )
        body = _json_bytes(response.content)
        if response.status_code >= 400:
            raise _error(method, path, response.status_code, body)
        if response.status_code not in ok:
            raise GatewayError(f"{method} {path}: unexpected answer (HTTP {response.status_code})")
        return body


def _attachment_json(upload: FileUpload) -> dict[str, str]:
    if len(upload.content) > MAX_ATTACHMENT_BYTES:
        raise ValidationFailed(
            {"attachment": [f"{upload.filename} is larger than {MAX_ATTACHMENT_BYTES // 2**20} MB"]}
        )
    return {
        "FileName": upload.filename,
        "FileType": upload.content_type or "application/octet-stream",
        "FileContent": base64.b64encode(upload.content).decode("ascii"),
    }


# -- answers and errors ---------------------------------------------------------------------


def _check_messages(method: str, path: str, messages: Any, *, field: str, empty_ok: bool) -> bool:
    """True when RT said it changed something; False for an empty answer (when that
    is allowed); a typed error when one of its sentences is a refusal."""
    if not isinstance(messages, list):
        raise GatewayError(f"{method} {path}: unexpected answer")
    sentences = [_sentence(str(m)) for m in messages]
    refused = [s for s in sentences if not DONE.search(s)]
    if refused:
        text = "; ".join(refused)
        if field == "status" and "status" in text.lower():
            raise InvalidState(f"RT refused the status change: {text}")
        if "permission denied" in text.lower():
            raise NotOwner(f"{method} {path}: {text}")
        raise ValidationFailed({field: refused})
    if not sentences and not empty_ok:
        raise GatewayError(f"{method} {path}: RT recorded nothing")
    return bool(sentences)


def _sentence(message: str) -> str:
    """RT's sentence without its "Ticket 7: " prefix and Perl file paths."""
    return PERL_TAIL.sub("", re.sub(r"^Ticket \d+: ", "", message.strip())).strip()


def _error(method: str, path: str, status: int, body: Any) -> GatewayError:
    where = f"{method} {path}"
    said = _sentence(str(body.get("message") or "")) if isinstance(body, Mapping) else ""
    lowered = said.lower()
    if status == 401:
        return Unauthorized(f"{where}: RT refused the token (TICKET_API_TOKEN)")
    if status == 404:
        return NotFound(f"{where}: not found")
    if status == 403 and "create tickets in the queue" in lowered:
        return ValidationFailed({"category": [said]})
    if status == 403 or "permission denied" in lowered:
        return NotOwner(f"{where}: RT refused: {said or 'Forbidden'}")
    if status == 400 and "could not be recorded" in lowered:
        return NotFound(f"{where}: no such ticket ({said})")
    if status == 400:
        return ValidationFailed({"request": [said or "RT refused the request"]})
    return GatewayError(f"{where}: RT answered HTTP {status}" + (f" ({said})" if said else ""))


def _items(body: Any) -> list[Mapping[str, Any]]:
    items = body.get("items") if isinstance(body, Mapping) else None
    return (
        [i for i in items if isinstance(i, Mapping) and "id" in i]
        if isinstance(items, list)
        else []
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _json_bytes(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def _number(value: str, what: str) -> int:
    text = str(value).strip()
    if not text.isdigit():
        raise NotFound(f"no {what} {value!r} in RT (RT ids are numbers)")
    return int(text)


def _quote(text: str) -> str:
    """A TicketSQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
