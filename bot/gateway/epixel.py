"""Epixel's support-ticket API (Django REST Framework) as a `TicketGateway`.

Every request carries the `apikey` header and a Bearer access token. The token is
either given (TICKET_API_TOKEN) or obtained by logging in at `user/login/`; with a
username and password configured, a refused token leads to one new login. When both
a token and a login are configured, the token is used first and the login renews it.
"""

from __future__ import annotations

import email.message
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from bot.gateway.auth import LoginOrToken
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
from bot.gateway.http import HttpTransport, RetryPolicy, Timeouts
from bot.gateway.models import (
    Attachment,
    Capabilities,
    Category,
    Classic,
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

MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024
MAX_SUBJECT_CHARS = 500
#: rows of history searched for a ticket just created
LOOKUP_ROWS = 20

LOGIN = "user/login/"
CATEGORIES = "support/get/category-list/"
CREATE = "support/create/ticket/"
HISTORY = "support/get/ticket/history/"
TAGS = "support/get/ticket/tags/"
UPDATE = "support/update/ticket/"
DETAIL = "support/ticket/detailed-view/"
CONVERSATION = "support/ticket/conversation/"
STATUS = "support/ticket/status/"

STATUS_BY_ID = {"1": Classic.OPEN, "2": Classic.PROCESSING, "3": Classic.CLOSED}
STATUS_IDS = {status.id: status_id for status_id, status in STATUS_BY_ID.items()}
PRIORITY_BY_ID = {"1": Classic.LOW, "2": Classic.MEDIUM, "3": Classic.HIGH}
PRIORITY_IDS = {priority.id: priority_id for priority_id, priority in PRIORITY_BY_ID.items()}
#: the status endpoint takes only 2 "(to open)" and 3 "(to close)"
STATUS_CHANGE_IDS = {Classic.OPEN.id: "2", Classic.PROCESSING.id: "2", Classic.CLOSED.id: "3"}

#: helpdesk field name -> domain field name, per operation (the rest keep their name)
CREATE_FIELDS = {"comment": "description"}
CONVERSATION_FIELDS = {"comment": "text"}
COMMON_FIELDS = {"ticket_id": "ticket"}
GENERAL_FIELDS = ("detail", "non_field_errors", "message")


NEEDS_A_TAG = "This helpdesk keeps at least one tag on a ticket: choose tags first."


class EpixelGateway:
    name: str = "epixel"
    capabilities = Capabilities(
        categories=True,
        priorities=True,
        priority_change=True,
        tags=True,
        status_change=True,
        ticket_list=True,
        ticket_detail=True,
        conversations_out=True,
        conversations_in=True,
        attachments=True,
        max_attachment_bytes=MAX_ATTACHMENT_BYTES,
        max_subject_chars=MAX_SUBJECT_CHARS,
        statuses=list(Classic.STATUSES),
    )

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = HttpTransport(base_url, timeouts=timeouts, retry=retry, transport=transport)
        self._api_key = api_key
        self._auth = LoginOrToken(
            self._http,
            LOGIN,
            lambda body: body.get("access") if isinstance(body, dict) else None,
            token=token,
            username=username,
            password=password,
            headers={"apikey": api_key},
        )

    @staticmethod
    def connection_problems(connection: Connection) -> list[Problem]:
        return connection.missing("api_key") + connection.token_or_login()

    @classmethod
    def connect(cls, connection: Connection) -> EpixelGateway:
        """No settings of its own: the credentials are all it needs."""
        connection.check(cls.connection_problems(connection))
        return cls(
            connection.base_url,
            connection.api_key or "",
            token=connection.token,
            username=connection.username,
            password=connection.password,
        )

    # -- reads ---------------------------------------------------------------

    def list_categories(self) -> list[Category]:
        rows = _rows(self._call("GET", CATEGORIES, idempotent=True), "CategoryList")
        return [
            Category(
                id=_id(row.get("id")),
                name=str(row.get("category") or ""),
                description=str(row.get("description") or ""),
            )
            for row in rows
        ]

    def configuration_problems(self) -> list[str]:
        return []  # nothing configured beyond credentials, which every call checks

    def list_priorities(self) -> list[PriorityLevel]:
        return list(Classic.PRIORITIES)

    def list_tags(self) -> list[Tag]:
        rows = _rows(self._call("GET", TAGS, idempotent=True), "TicketTagList")
        return [
            Tag(
                id=_id(row.get("id")),
                name=str(row.get("tag") or ""),
                keyword=str(row.get("keyword") or ""),
            )
            for row in rows
        ]

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
        # One row more than asked tells whether another page exists.
        params = {"offset": str(offset), "limit": str(limit + 1)}
        if status is not None:
            # The API filters by one status: a kind stands for its first one (Open, Closed).
            chosen = Classic.first_of(status)
            if chosen is None:
                return TicketPage(tickets=[], offset=offset, limit=limit, has_more=False)
            params["status"] = STATUS_IDS[chosen.id]
        if subject:
            params["subject"] = subject
        if category_id is not None:
            params["category"] = category_id
        data = self._call("GET", HISTORY, idempotent=True, params=params)
        tickets = [_ticket(row) for row in _rows(data, "TicketList")]
        return TicketPage(
            tickets=tickets[:limit], offset=offset, limit=limit, has_more=len(tickets) > limit
        )

    def get_ticket(self, ticket_id: str) -> TicketDetail:
        # The document sends ticket_id in the body of this GET (form-encoded in its samples).
        # Proxies and some clients drop GET bodies, so the same value also travels in the
        # query string; a server reading either finds it.
        data = self._call(
            "GET",
            DETAIL,
            idempotent=True,
            data={"ticket_id": ticket_id},
            params={"ticket_id": ticket_id},
        )
        return _detail(data)

    def download_attachment(self, attachment_id: str) -> FileUpload:
        if not attachment_id.isdigit():  # it becomes part of the path
            raise NotFound(f"GET support/ticket/download/: no attachment {attachment_id!r}")
        path = f"support/ticket/download/{attachment_id}/"
        response = self._send("GET", path, idempotent=True)
        if response.status_code >= 400:
            raise _error("GET", path, response.status_code, json_body(response), {})
        return FileUpload(
            filename=_filename(response.headers.get("content-disposition"))
            or f"attachment-{attachment_id}",
            content=response.content,
            content_type=response.headers.get("content-type") or "application/octet-stream",
        )

    # -- writes --------------------------------------------------------------

    def create_ticket(self, new: NewTicket) -> Ticket:
        _check_new_ticket(new)
        subject, comment = new.subject.strip(), with_footer(new.description.strip(), new)
        form = {"subject": subject, "comment": comment}
        if new.priority is not None:
            form["priority"] = PRIORITY_IDS[new.priority.id]
        if new.category_id is not None:
            form["category"] = new.category_id
        try:
            self._call(
                "POST",
                CREATE,
                idempotent=False,
                fields=CREATE_FIELDS,
                data=form,
                files=_files(new.attachment),
            )
        except OutcomeUnknown as exc:
            return self._resolve_unknown_create(subject, new.reference, exc)
        return self._read_back_created(subject, comment, new.reference)

    def update_ticket(
        self,
        ticket_id: str,
        *,
        priority: PriorityLevel | None = None,
        tag_ids: list[str] | None = None,
    ) -> None:
        if priority is None and tag_ids is None:
            return
        if tag_ids is None:
            # `tags` is required and replaces the stored set: send the current ones back.
            tag_ids = self.get_ticket(ticket_id).ticket.tag_ids
        if not tag_ids:
            # The API refuses an empty list, so an untagged ticket's priority cannot change.
            raise ValidationFailed({"tags": [NEEDS_A_TAG]})
        form: dict[str, Any] = {"ticket_id": ticket_id, "tags": list(tag_ids)}
        if priority is not None:
            form["priority"] = PRIORITY_IDS[priority.id]
        # Setting the same priority and tags twice changes nothing, so this write may be retried.
        self._call("POST", UPDATE, idempotent=True, data=form)

    def add_conversation(
        self,
        ticket_id: str,
        text: str,
        attachment: FileUpload | None = None,
        *,
        public: bool = True,
    ) -> None:
        if not public:
            raise Unsupported("Epixel has no internal notes")
        problems = _attachment_problems(attachment)
        if not text.strip():
            problems["text"] = ["The reply may not be blank."]
        if problems:
            raise ValidationFailed(problems)
        self._call(
            "POST",
            CONVERSATION,
            idempotent=False,
            fields=CONVERSATION_FIELDS,
            data={"ticket": ticket_id, "comment": text.strip()},
            files=_files(attachment),
        )

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        form = {"ticket": ticket_id, "status": STATUS_CHANGE_IDS[status.id]}
        self._call("POST", STATUS, idempotent=False, data=form)

    def close(self) -> None:
        self._http.close()

    # -- creating without duplicates -----------------------------------------

    def _read_back_created(self, subject: str, comment: str, reference: str | None) -> Ticket:
        # The create answer holds no id: the new ticket is found in the history instead.
        try:
            found = self._find_created(subject, reference, same_comment=comment)
        except GatewayError as exc:
            raise GatewayError(
                f"POST {CREATE}: the ticket was created but reading it back failed ({exc})"
            ) from None
        if found is None:
            raise GatewayError(
                f"POST {CREATE}: the ticket was created but the helpdesk does not list it"
            )
        return found

    def _resolve_unknown_create(
        self, subject: str, reference: str | None, exc: OutcomeUnknown
    ) -> Ticket:
        # Never resent: look once for the reference, which only this create can have written.
        if reference:
            try:
                found = self._find_created(subject, reference, same_comment=None)
            except GatewayError:
                found = None
            if found is not None:
                log.info("ambiguous create resolved: reference %s found", reference)
                return found
        raise create_unknown(exc, f"reference {reference}" if reference else None) from None

    def _find_created(
        self, subject: str, reference: str | None, *, same_comment: str | None
    ) -> Ticket | None:
        newest_first = self.list_tickets(subject=subject, limit=LOOKUP_ROWS).tickets
        if reference:
            marker = reference_line(reference)
            for ticket in newest_first:
                if marker in ticket.description:
                    return ticket
        if same_comment is not None:
            for ticket in newest_first:
                if ticket.subject == subject and ticket.description.strip() == same_comment:
                    return ticket
        return None

    # -- auth and transport --------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        fields: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Send, raise the mapped error if refused, return the envelope's `data`."""
        response = self._send(method, path, idempotent=idempotent, **kwargs)
        body = json_body(response)
        status = _effective_status(response.status_code, body)
        if status >= 400:
            raise _error(method, path, status, body, fields or {})
        data = body.get("data") if isinstance(body, dict) else None
        return data if isinstance(data, dict) else {}

    def _send(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        # A 401 is answered before the view runs, so resending cannot duplicate a write.
        # The token refresh endpoint is not documented; logging in again is.
        return self._auth.send(
            lambda token: self._http.request(
                method, path, idempotent=idempotent, headers=self._headers(token), **kwargs
            ),
            lambda response: response.status_code == 401 and not _is_limit(response),
        )

    def _headers(self, token: str) -> dict[str, str]:
        return {"apikey": self._api_key, "Authorization": f"Bearer {token}"}


# -- checks before sending ----------------------------------------------------


def _check_new_ticket(new: NewTicket) -> None:
    problems = {**_attachment_problems(new.attachment), **text_problems(new, MAX_SUBJECT_CHARS)}
    if problems:
        raise ValidationFailed(problems)


def _attachment_problems(attachment: FileUpload | None) -> dict[str, list[str]]:
    if attachment is None or len(attachment.content) <= MAX_ATTACHMENT_BYTES:
        return {}
    return {"attachment": ["The file is too big: the helpdesk accepts at most 2 MiB."]}


def _files(attachment: FileUpload | None) -> dict[str, tuple[str, bytes, str]] | None:
    if attachment is None:
        return None
    return {"attachment": (attachment.filename, attachment.content, attachment.content_type)}


# -- reading answers ------------------------------------------------------------


def _effective_status(http_status: int, body: Any) -> int:
    # The envelope repeats the status; an error reported only there still is an error.
    if http_status < 400 and isinstance(body, dict):
        enveloped = body.get("status_code")
        if isinstance(enveloped, int) and enveloped >= 400:
            return enveloped
    return http_status


def _is_limit(response: httpx.Response) -> bool:
    return "ticket limit" in response.text.lower()


def _rows(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    rows = data.get(key)
    if not isinstance(rows, list):
        raise GatewayError(f"the helpdesk's answer has no {key}")
    return [row for row in rows if isinstance(row, Mapping)]


def _id(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise GatewayError(f"the helpdesk sent an unexpected id: {value!r}")
    return str(value).strip()


def _optional_id(value: Any) -> str | None:
    return None if value is None or value == "" else _id(value)


def _ticket(row: Mapping[str, Any], author: Any = None) -> Ticket:
    status_id, priority_id = _optional_id(row.get("status")), _optional_id(row.get("priority"))
    category_name = row.get("category_title")
    return Ticket(
        id=_id(row.get("id")),
        subject=str(row.get("subject") or ""),
        description=str(row.get("comment") or ""),
        status=STATUS_BY_ID.get(status_id or "", Classic.OPEN),
        priority=PRIORITY_BY_ID.get(priority_id or ""),
        category_id=_optional_id(row.get("category")),
        category_name=str(category_name) if category_name is not None else None,
        tag_ids=[_id(tag) for tag in row.get("tags") or []],
        author=str(row.get("author") or author or "") or None,
    )


def _detail(data: Mapping[str, Any]) -> TicketDetail:
    ticket_row = data.get("ticket")
    if not isinstance(ticket_row, Mapping):
        raise GatewayError("the helpdesk's answer has no ticket")
    ticket = _ticket(ticket_row, author=data.get("author"))
    conversation_rows = [row for row in data.get("conversations") or [] if isinstance(row, Mapping)]
    conversation_ids = {_id(row.get("id")) for row in conversation_rows}
    by_conversation: dict[str, list[Attachment]] = {cid: [] for cid in conversation_ids}
    ticket_attachments: list[Attachment] = []
    for row in data.get("attachments") or []:
        attachment = _attachment(row)
        if attachment.conversation_id in by_conversation:
            by_conversation[attachment.conversation_id].append(attachment)
        else:
            ticket_attachments.append(attachment)
    conversations = [
        Conversation(
            id=_id(row.get("id")),
            ticket_id=_optional_id(row.get("ticket")) or ticket.id,
            text=str(row.get("comment") or ""),
            author=str(row.get("author") or ""),
            attachments=by_conversation[_id(row.get("id"))],
        )
        for row in conversation_rows
    ]
    return TicketDetail(ticket=ticket, conversations=conversations, attachments=ticket_attachments)


def _attachment(row: Any) -> Attachment:
    if not isinstance(row, Mapping):
        raise GatewayError("the helpdesk sent an unexpected attachment")
    filename = row.get("filename") or row.get("name")
    return Attachment(
        id=_id(row.get("id")),
        conversation_id=_optional_id(row.get("conversation_id")),
        filename=str(filename) if filename else None,
    )


def _filename(content_disposition: str | None) -> str | None:
    if not content_disposition:
        return None
    header = email.message.Message()
    header["content-disposition"] = content_disposition
    filename = header.get_filename()
    if not filename:
        return None
    return filename.replace("\\", "/").rsplit("/", 1)[-1] or None


# -- errors ---------------------------------------------------------------------


def _error(
    method: str, path: str, status: int, body: Any, fields: Mapping[str, str]
) -> GatewayError:
    where = f"{method} {path}"
    errors = _field_errors(body)
    said = " ".join(message for messages in errors.values() for message in messages)
    lowered = said.lower()
    if status == 401 and "ticket limit" in lowered:
        return LimitReached(f"{where}: the helpdesk's limit of open tickets is reached ({said})")
    if status in (401, 403):
        return Unauthorized(f"{where}: the helpdesk refused the credentials (HTTP {status})")
    if status == 404:
        return NotFound(f"{where}: not found")
    if status >= 500:
        return Unavailable(f"{where}: HTTP {status}")
    if "not the owner" in lowered:
        return NotOwner(f"{where}: {said}")
    if _names_missing_ticket(errors):
        return NotFound(f"{where}: {said}")
    if "ticket is already" in lowered or "can't open or close" in lowered:
        return InvalidState(f"{where}: {said}")
    domain_fields = {
        fields.get(name, COMMON_FIELDS.get(name, name)): messages
        for name, messages in errors.items()
        if name not in GENERAL_FIELDS
    }
    if domain_fields:
        return ValidationFailed(domain_fields)
    return GatewayError(f"{where}: {said or f'HTTP {status}'}")


def _names_missing_ticket(errors: Mapping[str, list[str]]) -> bool:
    messages = " ".join(errors.get("ticket", []) + errors.get("ticket_id", [])).lower()
    return any(
        marker in messages for marker in ("not valid", "object does not exist", "incorrect type")
    )


def _field_errors(body: Any) -> dict[str, list[str]]:
    """Field -> messages from a DRF body, bare or inside the documented envelope."""
    if not isinstance(body, Mapping):
        return {}
    if "errors" in body:
        source: Any = body["errors"]
        if not isinstance(source, Mapping):
            source = {"non_field_errors": source}
        source = {**source, **{k: body[k] for k in GENERAL_FIELDS if k in body}}
    else:
        source = {k: v for k, v in body.items() if k not in ("status_code", "data")}
    errors = {str(name): _messages(value) for name, value in source.items()}
    return {name: messages for name, messages in errors.items() if messages}


def _messages(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [message for item in value for message in _messages(item)]
    return [str(value)]
