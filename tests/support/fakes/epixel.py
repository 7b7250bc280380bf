"""A faithful fake of Epixel's support-ticket API, served over real HTTP.

It follows Epixel's support-ticket API document: the `apikey` header, Bearer
tokens from `user/login/`, DRF-shaped validation errors inside the envelope
`{"status_code", "errors", "data"}`, the open-ticket limit, ticket ownership, the
GET-with-a-body detailed view. Tests steer it with `fail_next`, `hang_next`,
`expire_tokens` and `delay`, and read back what it received in `requests`.

One account exists (`username`); tickets added with `add_foreign_ticket` belong to
someone else. Tokens stay valid across `reset()`; `expire_tokens()` ends them.

Deliberately written apart from the sandbox helpdesk (bot/sandbox): both implement the API
document independently, so that the contract tests, run against each, cross-check them.
Code alike in the two is not to be shared.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from tests.support.fakes.serving import FakeHttpServer, Reply, json_reply

MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024
PRIORITIES = ("1", "2", "3")
CHANGEABLE_STATUSES = ("2", "3")

SEED_CATEGORIES = [
    {"id": 1, "category": "Hardware", "description": "Laptops, screens, printers"},
    {"id": 2, "category": "Software", "description": "Applications and licences"},
    {"id": 3, "category": "Network", "description": "Wi-Fi, VPN, cabling"},
]
SEED_TAGS = [
    {"id": 1, "tag": "urgent", "keyword": "urgent"},
    {"id": 2, "tag": "printer", "keyword": "printer"},
    {"id": 3, "tag": "vpn", "keyword": "vpn"},
]

REQUIRED = "This field is required."
BLANK = "This field may not be blank."
NOT_OWNER = "You are not the owner of the requested ticket."
TICKET_NOT_VALID = "Ticket id is not valid."
TICKET_ID_REQUIRED = "Ticket id is required and this may not be blank."
INCORRECT_TYPE = "Incorrect type. Expected pk value, received str."


class Headers(dict[str, str]):
    """Request headers under lower-cased names; lookups ignore case."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__((name.lower(), value) for name, value in items)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override, unused-ignore]
        return super().get(name.lower(), default)


@dataclass
class RecordedRequest:
    method: str
    #: the URL path without the query, e.g. "/api/v1/support/create/ticket/"
    path: str
    #: the path after the prefix, e.g. "support/create/ticket/"
    route: str
    query: dict[str, str]
    headers: Headers
    form: dict[str, list[str]]
    #: field name -> (filename, content)
    files: dict[str, tuple[str, bytes]]
    file_types: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class ApiError(Exception):
    def __init__(self, status: int, errors: dict[str, Any]) -> None:
        super().__init__(errors)
        self.status = status
        self.errors = errors


def envelope(status: int, data: Any = None, errors: Any = None) -> Reply:
    return json_reply(
        status,
        {"status_code": status, "errors": errors or {}, "data": {} if data is None else data},
    )


class FakeEpixel(FakeHttpServer):
    def __init__(
        self,
        *,
        api_key: str = "test-api-key",
        username: str = "bot@example.com",
        password: str = "s3cret-pass",
        token: str | None = None,
        open_ticket_limit: int = 100,
        prefix: str = "/api/v1/",
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.username = username
        self.password = password
        self.token = token
        self.open_ticket_limit = open_ticket_limit
        self.prefix = "/" + prefix.strip("/") + "/"
        #: every access token `user/login/` handed out, in order
        self.issued_tokens: list[str] = []
        self.expired_tokens: set[str] = set()
        self.reset()

    # -- lifecycle -----------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.origin + self.prefix

    def bot_settings(self) -> dict[str, str]:
        """The bot's settings that reach this fake (see tests/support/harness.py)."""
        return {
            "TICKET_BACKEND": "epixel",
            "TICKET_API_URL": self.base_url,
            "TICKET_API_KEY": self.api_key,
            "TICKET_API_USERNAME": self.username,
            "TICKET_API_PASSWORD": self.password,
        }

    # -- state and steering --------------------------------------------------

    def reset(self) -> None:
        """Back to the seeded data, no faults, no delay, no recorded requests."""
        with self._lock:
            self.categories: list[dict[str, Any]] = copy.deepcopy(SEED_CATEGORIES)
            self.tags: list[dict[str, Any]] = copy.deepcopy(SEED_TAGS)
            self.tickets: dict[int, dict[str, Any]] = {}
            self.conversations: list[dict[str, Any]] = []
            self.attachments: dict[int, dict[str, Any]] = {}
            self._reset_faults()
            #: tickets whose status the API refuses to change ("You Can't open or close")
            self.locked_tickets: set[int] = set()
            self._last_id = {"ticket": 0, "conversation": 0, "attachment": 0}

    def expire_tokens(self) -> None:
        with self._lock:
            self.expired_tokens.update(self.issued_tokens)

    def add_ticket(
        self,
        subject: str,
        comment: str = "Added by the test.",
        *,
        priority: int = 2,
        category: int = 1,
        status: int = 1,
        tags: Iterable[int] = (),
        author: str | None = None,
    ) -> int:
        with self._lock:
            ticket_id = self._new_id("ticket")
            self.tickets[ticket_id] = {
                "id": ticket_id,
                "subject": subject,
                "priority": str(priority),
                "category": category,
                "comment": comment,
                "status": str(status),
                "tags": list(tags),
                "author": author or self.username,
            }
            return ticket_id

    def add_foreign_ticket(
        self, subject: str = "Somebody else's ticket", author: str = "other@example.com", **kw: Any
    ) -> int:
        return self.add_ticket(subject, author=author, **kw)

    def add_agent_conversation(
        self,
        ticket_id: int,
        comment: str,
        author: str = "agent@example.com",
        attachment: tuple[str, bytes] | None = None,
    ) -> int:
        with self._lock:
            conversation_id = self._new_id("conversation")
            self.conversations.append(
                {"id": conversation_id, "ticket": ticket_id, "comment": comment, "author": author}
            )
            if attachment is not None:
                self._store_attachment(ticket_id, conversation_id, *attachment)
            return conversation_id

    def set_status(self, ticket_id: int, status: int) -> None:
        with self._lock:
            self.tickets[ticket_id]["status"] = str(status)

    def requests_to(self, path_contains: str) -> list[RecordedRequest]:
        return [r for r in self.requests if path_contains in r.path]

    # -- serving -------------------------------------------------------------

    def malformed(self, exc: ValueError) -> Reply:
        return json_reply(400, {"detail": f"Malformed request: {exc}"})

    def serve(self, handler: BaseHTTPRequestHandler) -> Reply:
        request = _record(handler, self.prefix)
        failure = self._admit(request)
        if failure is not None:
            return json_reply(failure.status, {"detail": "Service temporarily unavailable."})
        with self._lock:
            return self._dispatch(request)

    def _dispatch(self, request: RecordedRequest) -> Reply:
        if not request.path.startswith(self.prefix):
            return json_reply(404, {"detail": "Not found."})
        if request.headers.get("apikey") != self.api_key:
            return json_reply(403, {"detail": "Invalid API key."})
        found = self._route(request.route)
        if found is None:
            return json_reply(404, {"detail": "Not found."})
        method, view, args = found
        if request.method != method:
            return json_reply(405, {"detail": f'Method "{request.method}" not allowed.'})
        if view == self._login:
            return self._login(request)
        user = self._user(request.headers.get("authorization"))
        if user is None:
            return self._unauthenticated(request)
        try:
            return view(request, user, *args)
        except ApiError as exc:
            return envelope(exc.status, errors=exc.errors)

    def _route(self, route: str) -> tuple[str, Callable[..., Reply], tuple[str, ...]] | None:
        views: dict[str, tuple[str, Callable[..., Reply]]] = {
            "user/login/": ("POST", self._login),
            "support/get/category-list/": ("GET", self._categories),
            "support/create/ticket/": ("POST", self._create_ticket),
            "support/get/ticket/history/": ("GET", self._history),
            "support/get/ticket/tags/": ("GET", self._tag_list),
            "support/update/ticket/": ("POST", self._update_ticket),
            "support/ticket/detailed-view/": ("GET", self._detailed_view),
            "support/ticket/conversation/": ("POST", self._add_conversation),
            "support/ticket/status/": ("POST", self._change_status),
        }
        if route in views:
            return (*views[route], ())
        download = re.fullmatch(r"support/ticket/download/([^/]+)/", route)
        if download:
            return ("GET", self._download, (download.group(1),))
        return None

    def _user(self, authorization: str | None) -> str | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "Bearer" or not token:
            return None
        if self.token is not None and token == self.token:
            return self.username
        if token in self.issued_tokens and token not in self.expired_tokens:
            return self.username
        return None

    @staticmethod
    def _unauthenticated(request: RecordedRequest) -> Reply:
        if not request.headers.get("authorization"):
            return json_reply(401, {"detail": "Authentication credentials were not provided."})
        return json_reply(
            401, {"detail": "Given token not valid for any token type", "code": "token_not_valid"}
        )

    # -- views ---------------------------------------------------------------

    def _login(self, request: RecordedRequest) -> Reply:
        username, password = _one(request.form, "username"), _one(request.form, "password")
        missing = {
            name: [REQUIRED] for name in ("username", "password") if not _one(request.form, name)
        }
        if missing:
            return json_reply(400, missing)
        if username != self.username or password != self.password:
            return json_reply(401, {"detail": "No active account found with the given credentials"})
        access = "fake-access-" + secrets.token_hex(12)
        self.issued_tokens.append(access)
        return json_reply(
            200, {"refresh": "fake-refresh-" + secrets.token_hex(12), "access": access}
        )

    def _categories(self, request: RecordedRequest, user: str) -> Reply:
        return envelope(200, {"CategoryList": self.categories})

    def _tag_list(self, request: RecordedRequest, user: str) -> Reply:
        return envelope(200, {"TicketTagList": self.tags})

    def _create_ticket(self, request: RecordedRequest, user: str) -> Reply:
        errors: dict[str, list[str]] = {}
        subject = _text(request.form, "subject", errors, max_length=500)
        comment = _text(request.form, "comment", errors)
        priority = _choice(request.form, "priority", PRIORITIES, errors)
        category = _pk(request.form, "category", {c["id"] for c in self.categories}, errors)
        attachment = _attachment(request, errors)
        if errors:
            raise ApiError(400, errors)
        open_tickets = [
            t for t in self.tickets.values() if t["author"] == user and t["status"] != "3"
        ]
        if len(open_tickets) >= self.open_ticket_limit:
            raise ApiError(401, {"detail": "Currenly Open Ticket Limit Exceed."})
        assert subject is not None and comment is not None and category is not None
        ticket_id = self.add_ticket(
            subject, comment, priority=int(priority or 1), category=category, author=user
        )
        if attachment is not None:
            self._store_attachment(ticket_id, None, *attachment)
        return envelope(200)

    def _history(self, request: RecordedRequest, user: str) -> Reply:
        query = request.query
        numbers = {
            "offset": ("0", "Offset is not valid numeric"),
            "limit": ("50", "Limit is not valid numeric"),
            "category": ("", "Catogory id is not valid numeric"),
            "status": ("", "Status id is not valid numeric"),
        }
        errors = {
            name: [message]
            for name, (_, message) in numbers.items()
            if query.get(name) and not query[name].isdigit()
        }
        if errors:
            raise ApiError(400, errors)
        offset = int(query.get("offset") or 0)
        limit = int(query.get("limit") or 50)
        rows = [t for t in self.tickets.values() if t["author"] == user]
        if query.get("subject"):
            rows = [t for t in rows if query["subject"].lower() in t["subject"].lower()]
        if query.get("category"):
            rows = [t for t in rows if t["category"] == int(query["category"])]
        if query.get("status"):
            rows = [t for t in rows if t["status"] == query["status"]]
        rows.sort(key=lambda t: t["id"], reverse=True)
        return envelope(
            200, {"TicketList": [self._history_row(t) for t in rows[offset : offset + limit]]}
        )

    def _history_row(self, ticket: dict[str, Any]) -> dict[str, Any]:
        titles = {c["id"]: c["category"] for c in self.categories}
        row = {k: ticket[k] for k in ("id", "subject", "priority", "category", "comment")}
        return {**row, "category_title": titles.get(ticket["category"]), "status": ticket["status"]}

    def _update_ticket(self, request: RecordedRequest, user: str) -> Reply:
        ticket = self._owned_ticket(_one(request.form, "ticket_id"), user)
        errors: dict[str, list[str]] = {}
        priority = None
        if _one(request.form, "priority") is not None:
            priority = _choice(request.form, "priority", PRIORITIES, errors)
        tag_ids = self._tag_ids(request.form.get("tags", []), errors)
        if errors:
            raise ApiError(400, errors)
        if priority is not None:
            ticket["priority"] = priority
        ticket["tags"] = tag_ids
        return envelope(200)

    def _tag_ids(self, values: list[str], errors: dict[str, list[str]]) -> list[int]:
        known = {t["id"] for t in self.tags}
        values = [v for v in values if v != ""]
        if not values:
            errors["tags"] = ["This list may not be empty."]
            return []
        for value in values:
            if not value.isdigit():
                errors["tags"] = [INCORRECT_TYPE]
            elif int(value) not in known:
                errors["tags"] = [f'Invalid pk "{value}" - object does not exist.']
        return [int(v) for v in values if v.isdigit()]

    def _detailed_view(self, request: RecordedRequest, user: str) -> Reply:
        # The document sends ticket_id in the GET body; the query string is accepted too.
        ticket = self._owned_ticket(
            _one(request.form, "ticket_id") or request.query.get("ticket_id"), user
        )
        fields = ("id", "subject", "priority", "category", "comment", "status", "tags")
        conversations = [c for c in self.conversations if c["ticket"] == ticket["id"]]
        attachments = [a for a in self.attachments.values() if a["ticket"] == ticket["id"]]
        return envelope(
            200,
            {
                "ticket": {k: copy.deepcopy(ticket[k]) for k in fields},
                "author": ticket["author"],
                "conversations": [dict(c) for c in conversations],
                "attachments": [
                    {"id": a["id"], "conversation_id": a["conversation_id"]} for a in attachments
                ],
            },
        )

    def _download(self, request: RecordedRequest, user: str, attachment_id: str) -> Reply:
        found = self.attachments.get(int(attachment_id)) if attachment_id.isdigit() else None
        if found is None:
            return json_reply(404, {"detail": "Not found."})
        if self.tickets[found["ticket"]]["author"] != user:
            raise ApiError(400, {"ticket": [NOT_OWNER]})
        return Reply(
            200,
            found["content"],
            content_type=found["content_type"],
            headers={"Content-Disposition": _content_disposition(found["filename"])},
        )

    def _add_conversation(self, request: RecordedRequest, user: str) -> Reply:
        errors: dict[str, list[str]] = {}
        ticket_id = _pk(request.form, "ticket", set(self.tickets), errors)
        if ticket_id is not None and self.tickets[ticket_id]["author"] != user:
            errors["ticket"] = [NOT_OWNER]
        comment = _text(request.form, "comment", errors)
        attachment = _attachment(request, errors)
        if errors:
            raise ApiError(400, errors)
        assert ticket_id is not None and comment is not None
        conversation_id = self._new_id("conversation")
        self.conversations.append(
            {"id": conversation_id, "ticket": ticket_id, "comment": comment, "author": user}
        )
        if attachment is not None:
            self._store_attachment(ticket_id, conversation_id, *attachment)
        return envelope(200)

    def _change_status(self, request: RecordedRequest, user: str) -> Reply:
        ticket = self._owned_ticket(_one(request.form, "ticket"), user)
        wanted = (_one(request.form, "status") or "").strip()
        if not wanted:
            raise ApiError(400, {"status": ["Status id is required and this may not be blank."]})
        if wanted not in CHANGEABLE_STATUSES:
            raise ApiError(400, {"status": [f'"{wanted}" is not a valid choice.']})
        if ticket["id"] in self.locked_tickets:
            raise ApiError(400, {"ticket": ["You Can't open or close this Ticket"]})
        already = {
            ("3", "3"): "Ticket is already closed.",
            ("2", "1"): "Ticket is already open.",
            ("2", "2"): "Ticket is already processing.",
        }.get((wanted, ticket["status"]))
        if already:
            raise ApiError(400, {"ticket": [already]})
        # 2 is "(to open)" in the document; the stored id is the one sent.
        ticket["status"] = wanted
        return envelope(200)

    # -- helpers ---------------------------------------------------------------

    def _owned_ticket(self, value: str | None, user: str) -> dict[str, Any]:
        value = (value or "").strip()
        if not value:
            raise ApiError(400, {"ticket": [TICKET_ID_REQUIRED]})
        if not value.isdigit() or int(value) not in self.tickets:
            raise ApiError(400, {"ticket": [TICKET_NOT_VALID]})
        ticket = self.tickets[int(value)]
        if ticket["author"] != user:
            raise ApiError(400, {"ticket": [NOT_OWNER]})
        return ticket

    def _new_id(self, kind: str) -> int:
        self._last_id[kind] += 1
        return self._last_id[kind]

    def _store_attachment(
        self,
        ticket_id: int,
        conversation_id: int | None,
        filename: str,
        content: bytes,
        content_type: str = "application/octet-stream",
    ) -> int:
        attachment_id = self._new_id("attachment")
        self.attachments[attachment_id] = {
            "id": attachment_id,
            "conversation_id": conversation_id,
            "ticket": ticket_id,
            "filename": filename,
            "content": content,
            "content_type": content_type,
        }
        return attachment_id


# -- parsing requests ---------------------------------------------------------


def _record(handler: BaseHTTPRequestHandler, prefix: str) -> RecordedRequest:
    url = urlsplit(handler.path)
    headers = Headers(handler.headers.items())
    body = _read_body(handler, headers)
    form, files, file_types = _parse_body(headers.get("content-type", ""), body)
    query = {name: values[-1] for name, values in parse_qs(url.query, True).items()}
    route = url.path[len(prefix) :] if url.path.startswith(prefix) else url.path
    return RecordedRequest(
        handler.command, url.path, route, query, headers, form, files, file_types, body
    )


def _read_body(handler: BaseHTTPRequestHandler, headers: Headers) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        handler.rfile.readline()
        return b"".join(chunks)
    length = int(headers.get("content-length") or 0)
    return handler.rfile.read(length) if length else b""


def _parse_body(
    content_type: str, body: bytes
) -> tuple[dict[str, list[str]], dict[str, tuple[str, bytes]], dict[str, str]]:
    media_type = content_type.split(";")[0].strip().lower()
    if not body:
        return {}, {}, {}
    if media_type == "multipart/form-data":
        return _parse_multipart(content_type, body)
    if media_type == "application/json":
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("JSON body is not an object")
        return (
            {k: [str(i) for i in v] if isinstance(v, list) else [str(v)] for k, v in data.items()},
            {},
            {},
        )
    return parse_qs(body.decode("utf-8"), keep_blank_values=True), {}, {}


def _parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, list[str]], dict[str, tuple[str, bytes]], dict[str, str]]:
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("multipart body without parts")
    form: dict[str, list[str]] = {}
    files: dict[str, tuple[str, bytes]] = {}
    file_types: dict[str, str] = {}
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition") or "")
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            form.setdefault(name, []).append(content.decode("utf-8"))
        else:
            files[name] = (filename, content)
            file_types[name] = part.get_content_type()
    return form, files, file_types


# -- DRF-like field validation ----------------------------------------------------


def _one(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[-1] if values else None


def _text(
    form: dict[str, list[str]], name: str, errors: dict[str, list[str]], max_length: int = 0
) -> str | None:
    value = _one(form, name)
    if value is None:
        errors[name] = [REQUIRED]
        return None
    value = value.strip()  # DRF's CharField trims whitespace
    if not value:
        errors[name] = [BLANK]
    elif max_length and len(value) > max_length:
        errors[name] = [f"Ensure this field has no more than {max_length} characters."]
    return value


def _choice(
    form: dict[str, list[str]], name: str, choices: Iterable[str], errors: dict[str, list[str]]
) -> str | None:
    value = _one(form, name)
    if value is None:
        errors[name] = [REQUIRED]
    elif value not in choices:
        errors[name] = [f'"{value}" is not a valid choice.']
    return value


def _pk(
    form: dict[str, list[str]], name: str, known: set[int], errors: dict[str, list[str]]
) -> int | None:
    value = _one(form, name)
    if value is None:
        errors[name] = [REQUIRED]
    elif value.strip() == "":
        errors[name] = ["This field may not be null."]
    elif not value.strip().isdigit():
        errors[name] = [INCORRECT_TYPE]
    elif int(value) not in known:
        errors[name] = [f'Invalid pk "{value}" - object does not exist.']
    else:
        return int(value)
    return None


def _attachment(
    request: RecordedRequest, errors: dict[str, list[str]]
) -> tuple[str, bytes, str] | None:
    if "attachment" in request.form and "attachment" not in request.files:
        errors["attachment"] = [
            "The submitted data was not a file. Check the encoding type on the form."
        ]
        return None
    if "attachment" not in request.files:
        return None
    filename, content = request.files["attachment"]
    if not content:
        errors["attachment"] = ["The submitted file is empty."]
    elif len(content) > MAX_ATTACHMENT_BYTES:
        errors["attachment"] = ["File is too big. Max filesize: 2MiB."]
    content_type = request.file_types.get("attachment", "application/octet-stream")
    return filename, content, content_type


def _content_disposition(filename: str) -> str:
    if filename.isascii():
        return 'attachment; filename="{}"'.format(filename.replace('"', ""))
    return f"attachment; filename*=utf-8''{quote(filename)}"
