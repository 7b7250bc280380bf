"""The Epixel support API served from the sandbox database: the nine endpoints of the
API document and `user/login/`, with the document's envelope and DRF-style errors."""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.sandbox import requests as fields
from bot.sandbox.db import Row, SandboxDB
from bot.sandbox.requests import Errors, Reply, Request

PRIORITIES = ("1", "2", "3")
#: the status endpoint takes 2 "(to open)" and 3 "(to close)"
CHANGEABLE_STATUSES = ("2", "3")
MAX_SUBJECT_CHARS = 500
HISTORY_LIMIT = 50

NOT_OWNER = "You are not the owner of the requested ticket."
TICKET_NOT_VALID = "Ticket id is not valid."
TICKET_ID_REQUIRED = "Ticket id is required and this may not be blank."
LIMIT_EXCEEDED = "Currenly Open Ticket Limit Exceed."
ALREADY = {
    ("3", "3"): "Ticket is already closed.",
    ("2", "1"): "Ticket is already open.",
    ("2", "2"): "Ticket is already processing.",
}


@dataclass
class Account:
    """The one account and API key of the sandbox; tickets belong to `username`."""

    api_key: str
    username: str
    password: str
    open_ticket_limit: int = 100


class ApiError(Exception):
    def __init__(self, status: int, errors: dict[str, Any]) -> None:
        super().__init__(errors)
        self.status = status
        self.errors = errors


def json_reply(status: int, body: Any) -> Reply:
    return Reply(status, json.dumps(body).encode())


def envelope(status: int, data: Any = None, errors: Any = None) -> Reply:
    body = {"status_code": status, "errors": errors or {}, "data": {} if data is None else data}
    return json_reply(status, body)


View = Callable[[Request, str], Reply]


class Api:
    def __init__(self, db: SandboxDB, account: Account) -> None:
        self.db = db
        self.account = account
        #: one request at a time, like the single-process Django dev server
        self._lock = threading.Lock()

    def handle(self, request: Request, route: str) -> Reply:
        """`route`: the path after the API prefix, e.g. "support/create/ticket/"."""
        if request.header("apikey") != self.account.api_key:
            return json_reply(403, {"detail": "Invalid API key."})
        found = self._route(route)
        if found is None:
            return json_reply(404, {"detail": "Not found."})
        method, view = found
        if request.method != method:
            return json_reply(405, {"detail": f'Method "{request.method}" not allowed.'})
        with self._lock:
            if route == "user/login/":
                return self._login(request)
            user = self._user(request.header("authorization"))
            if user is None:
                return _unauthenticated(request)
            try:
                return view(request, user)
            except ApiError as exc:
                return envelope(exc.status, errors=exc.errors)

    def _route(self, route: str) -> tuple[str, View] | None:
        views: dict[str, tuple[str, View]] = {
            "user/login/": ("POST", lambda request, user: self._login(request)),
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
            return views[route]
        download = re.fullmatch(r"support/ticket/download/([^/]+)/", route)
        if download:
            attachment_id = download.group(1)
            return ("GET", lambda request, user: self._download(user, attachment_id))
        return None

    def _user(self, authorization: str) -> str | None:
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not token:
            return None
        return self.db.token_user(token)

    # -- views ------------------------------------------------------------------

    def _login(self, request: Request) -> Reply:
        names = ("username", "password")
        missing = {name: [fields.REQUIRED] for name in names if not request.one(name)}
        if missing:
            return json_reply(400, missing)
        given = (request.one("username"), request.one("password"))
        if given != (self.account.username, self.account.password):
            return json_reply(401, {"detail": "No active account found with the given credentials"})
        access = "sandbox-access-" + secrets.token_hex(16)
        self.db.add_token(access, self.account.username)
        refresh = "sandbox-refresh-" + secrets.token_hex(16)
        return json_reply(200, {"refresh": refresh, "access": access})

    def _categories(self, request: Request, user: str) -> Reply:
        return envelope(200, {"CategoryList": self.db.categories()})

    def _tag_list(self, request: Request, user: str) -> Reply:
        return envelope(200, {"TicketTagList": self.db.tags()})

    def _create_ticket(self, request: Request, user: str) -> Reply:
        errors: Errors = {}
        subject = fields.text(request, "subject", errors, max_length=MAX_SUBJECT_CHARS)
        priority = fields.choice(request, "priority", PRIORITIES, errors)
        comment = fields.text(request, "comment", errors)
        known = {row["id"] for row in self.db.categories()}
        category = fields.pk(request, "category", known.__contains__, errors)
        upload = fields.attachment(request, errors)
        if errors:
            raise ApiError(400, errors)
        if self.db.count_open(user) >= self.account.open_ticket_limit:
            raise ApiError(401, {"detail": LIMIT_EXCEEDED})
        assert category is not None
        ticket_id = self.db.add_ticket(
            subject, comment, priority=priority, category=category, author=user
        )
        if upload is not None:
            file = (upload.filename, upload.content, upload.content_type)
            self.db.add_attachment(ticket_id, None, file)
        return envelope(200)

    def _history(self, request: Request, user: str) -> Reply:
        query = request.query
        messages = {
            "offset": "Offset is not valid numeric",
            "limit": "Limit is not valid numeric",
            "category": "Catogory id is not valid numeric",
            "status": "Status id is not valid numeric",
        }
        errors = {
            name: [message]
            for name, message in messages.items()
            if query.get(name) and not query[name].isdigit()
        }
        if errors:
            raise ApiError(400, errors)
        rows = self.db.tickets(
            author=user,
            subject=query.get("subject"),
            category=int(query["category"]) if query.get("category") else None,
            status=query.get("status"),
            offset=int(query.get("offset") or 0),
            limit=int(query.get("limit") or HISTORY_LIMIT),
        )
        return envelope(200, {"TicketList": [_history_row(row) for row in rows]})

    def _update_ticket(self, request: Request, user: str) -> Reply:
        ticket = self._owned_ticket(request.one("ticket_id"), user)
        errors: Errors = {}
        priority = None
        if request.one("priority") is not None:
            priority = fields.choice(request, "priority", PRIORITIES, errors)
        tag_ids = self._tag_ids(request.form.get("tags", []), errors)
        if errors:
            raise ApiError(400, errors)
        self.db.update_ticket(ticket["id"], priority=priority, tags=tag_ids)
        return envelope(200)

    def _tag_ids(self, values: list[str], errors: Errors) -> list[int]:
        known = {row["id"] for row in self.db.tags()}
        values = [value for value in values if value != ""]
        if not values:
            errors["tags"] = ["This list may not be empty."]
        for value in values:
            if not value.isdigit():
                errors["tags"] = [fields.INCORRECT_TYPE]
            elif int(value) not in known:
                errors["tags"] = [f'Invalid pk "{value}" - object does not exist.']
        return [int(value) for value in values if value.isdigit()]

    def _detailed_view(self, request: Request, user: str) -> Reply:
        # The document sends ticket_id in the GET body; the query string is accepted too.
        value = request.one("ticket_id") or request.query.get("ticket_id")
        ticket = self._owned_ticket(value, user)
        names = ("id", "subject", "priority", "category", "comment", "status", "tags")
        conversations = self.db.conversations(ticket["id"])
        attachments = self.db.attachments(ticket["id"])
        data = {
            "ticket": {name: ticket[name] for name in names},
            "author": ticket["author"],
            "conversations": [
                {key: c[key] for key in ("id", "ticket", "comment", "author")}
                for c in conversations
            ],
            "attachments": [
                {"id": a["id"], "conversation_id": a["conversation_id"]} for a in attachments
            ],
        }
        return envelope(200, data)

    def _download(self, user: str, attachment_id: str) -> Reply:
        found = self.db.attachment(int(attachment_id)) if attachment_id.isdigit() else None
        if found is None:
            return json_reply(404, {"detail": "Not found."})
        ticket = self.db.ticket(found["ticket"])
        if ticket is None or ticket["author"] != user:
            raise ApiError(400, {"ticket": [NOT_OWNER]})
        disposition = content_disposition(found["filename"])
        return Reply(
            200, found["content"], found["content_type"], {"Content-Disposition": disposition}
        )

    def _add_conversation(self, request: Request, user: str) -> Reply:
        errors: Errors = {}
        ticket_id = fields.pk(request, "ticket", self._exists, errors)
        if ticket_id is not None and self._author(ticket_id) != user:
            errors["ticket"] = [NOT_OWNER]
        comment = fields.text(request, "comment", errors)
        upload = fields.attachment(request, errors)
        if errors:
            raise ApiError(400, errors)
        assert ticket_id is not None
        file = None if upload is None else (upload.filename, upload.content, upload.content_type)
        self.db.add_conversation(ticket_id, comment, user, file)
        return envelope(200)

    def _change_status(self, request: Request, user: str) -> Reply:
        ticket = self._owned_ticket(request.one("ticket"), user)
        wanted = (request.one("status") or "").strip()
        if not wanted:
            raise ApiError(400, {"status": ["Status id is required and this may not be blank."]})
        if wanted not in CHANGEABLE_STATUSES:
            raise ApiError(400, {"status": [f'"{wanted}" is not a valid choice.']})
        already = ALREADY.get((wanted, ticket["status"]))
        if already:
            raise ApiError(400, {"ticket": [already]})
        self.db.set_status(ticket["id"], wanted)  # 2 is "(to open)": stored as sent
        return envelope(200)

    # -- helpers ------------------------------------------------------------------

    def _owned_ticket(self, value: str | None, user: str) -> Row:
        value = (value or "").strip()
        if not value:
            raise ApiError(400, {"ticket": [TICKET_ID_REQUIRED]})
        ticket = self.db.ticket(int(value)) if value.isdigit() else None
        if ticket is None:
            raise ApiError(400, {"ticket": [TICKET_NOT_VALID]})
        if ticket["author"] != user:
            raise ApiError(400, {"ticket": [NOT_OWNER]})
        return ticket

    def _exists(self, ticket_id: int) -> bool:
        return self.db.ticket(ticket_id) is not None

    def _author(self, ticket_id: int) -> str | None:
        ticket = self.db.ticket(ticket_id)
        return None if ticket is None else str(ticket["author"])


def _unauthenticated(request: Request) -> Reply:
    if not request.header("authorization"):
        return json_reply(401, {"detail": "Authentication credentials were not provided."})
    body = {"detail": "Given token not valid for any token type", "code": "token_not_valid"}
    return json_reply(401, body)


def _history_row(row: Row) -> Row:
    names = ("id", "subject", "priority", "category", "category_title", "comment", "status")
    return {name: row[name] for name in names}


def content_disposition(filename: str) -> str:
    if filename.isascii():
        return 'attachment; filename="{}"'.format(filename.replace('"', ""))
    return f"attachment; filename*=utf-8''{quote(filename)}"
