"""A faithful fake of Keliweb's API v2 (Laravel Passport in front of WHMCS), over real HTTP.

- `POST /oauth/token`: password and refresh_token grants, Passport's error bodies
  (`invalid_client` 401, `invalid_grant` 400, a refused refresh token 401).
- `POST /api/v2/keliweb/open-ticket`, `get-ticket`, `add-ticket-reply`: form posts with
  a Bearer token, WHMCS answers (`result`, numbers as strings, `replies.reply[]` with the
  opening message as reply 0, messages HTML-escaped as WHMCS stores them) and WHMCS
  errors as HTTP 200 with `"result": "error"`.
- Laravel's auth middleware: an unauthenticated request that does not expect JSON
  (no `Accept: application/json`, no `X-Requested-With: XMLHttpRequest`) gets a 302 to
  `/login`; one that does gets 401 `{"message": "Unauthenticated."}`.

Steering: `fail_next`, `hang_next`, `delay`, `expire_tokens`, `revoke_refresh_tokens`,
`reply_shape` ("list", "single": one reply not in a list, "empty": no replies as "");
`requests` holds what arrived.
"""

from __future__ import annotations

import base64
import binascii
import copy
import html
import json
import secrets
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

# The request parsing and recording are the same as the Epixel fake's.
from tests.support.fakes.epixel import Headers, RecordedRequest, _parse_body, _read_body
from tests.support.fakes.serving import FakeHttpServer, Reply, json_reply

MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024
PRIORITIES = ("Low", "Medium", "High")
SEED_DEPARTMENTS = {1: "Support", 2: "Billing"}
FIRST_TID = 516757
TICKET_NOT_FOUND = "Ticket ID Not Found"


class WhmcsError(Exception):
    """Answered as HTTP 200 `{"result": "error", "message": …}`, as WHMCS does."""


def unserialize(data: bytes) -> Any:
    """PHP's `unserialize()` for arrays of i/s/b scalars (what customfields carry)."""
    value, end = _unserialize(data, 0)
    if end != len(data):
        raise ValueError("trailing data")
    return value


def _unserialize(data: bytes, at: int) -> tuple[Any, int]:
    kind = data[at : at + 2]
    if kind == b"i:":
        end = data.index(b";", at)
        return int(data[at + 2 : end]), end + 1
    if kind == b"b:":
        end = data.index(b";", at)
        return data[at + 2 : end] == b"1", end + 1
    if kind == b"s:":
        colon = data.index(b":", at + 2)
        length = int(data[at + 2 : colon])
        start = colon + 2  # past :"
        if data[colon + 1 : start] != b'"' or data[start + length : start + length + 2] != b'";':
            raise ValueError("bad string")
        return data[start : start + length].decode("utf-8"), start + length + 2
    if kind == b"a:":
        colon = data.index(b":", at + 2)
        count = int(data[at + 2 : colon])
        if data[colon + 1 : colon + 2] != b"{":
            raise ValueError("bad array")
        at, result = colon + 2, {}
        for _ in range(count):
            key, at = _unserialize(data, at)
            result[key], at = _unserialize(data, at)
        if data[at : at + 1] != b"}":
            raise ValueError("bad array end")
        return result, at + 1
    raise ValueError(f"unknown type at {at}")


class FakeKeliweb(FakeHttpServer):
    def __init__(
        self,
        *,
        client_id: str = "7",
        client_secret: str = "client-secret-value",
        username: str = "bot@example.com",
        password: str = "s3cret-pass",
        expires_in: int = 3600,
        departments: dict[int, str] | None = None,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.username = username
        self.password = password
        self.expires_in = expires_in
        self.departments = dict(departments or SEED_DEPARTMENTS)
        #: access token -> monotonic expiry
        self.access_tokens: dict[str, float] = {}
        self.refresh_tokens: set[str] = set()
        #: every refresh token handed out, used or not
        self.issued_refresh_tokens: list[str] = []
        #: grant types in the order they were granted
        self.grants: list[str] = []
        self.reset()

    # -- lifecycle -----------------------------------------------------------

    @property
    def root_url(self) -> str:
        return self.origin + "/"

    @property
    def base_url(self) -> str:
        return self.root_url + "api/v2/"

    def bot_settings(self) -> dict[str, str]:
        """The bot's settings that reach this fake (see tests/support/harness.py); the KELIWEB_*
        ones are a section of their own, read from the environment."""
        return {
            "TICKET_BACKEND": "keliweb",
            "TICKET_API_URL": self.base_url,
            "TICKET_API_CLIENT_ID": self.client_id,
            "TICKET_API_CLIENT_SECRET": self.client_secret,
            "TICKET_API_USERNAME": self.username,
            "TICKET_API_PASSWORD": self.password,
            **self.section_settings(),
        }

    def section_settings(self) -> dict[str, str]:
        return {
            "KELIWEB_DEPARTMENTS": ",".join(f"{k}={v}" for k, v in self.departments.items()),
        }

    # -- state and steering --------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.tickets: dict[int, dict[str, Any]] = {}
            self._reset_faults()
            self.reply_shape = "list"
            self._last_reply_id = 0

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self.access_tokens:
                self.access_tokens[token] = 0.0

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self.refresh_tokens.clear()

    def add_ticket(
        self,
        subject: str,
        message: str = "Added by the test.",
        *,
        deptid: int = 1,
        priority: str = "Medium",
        status: str = "Open",
        owner: str | None = None,
    ) -> int:
        with self._lock:
            ticket_id = len(self.tickets) + 1
            self.tickets[ticket_id] = {
                "id": ticket_id,
                "tid": str(FIRST_TID + ticket_id),
                "c": secrets.token_urlsafe(6)[:8],
                "deptid": deptid,
                "subject": subject,
                "message": _stored(message),
                "priority": priority,
                "status": status,
                "owner": owner or self.username,
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "customfields": {},
                "attachments": [],
                "replies": [],
            }
            return ticket_id

    def add_foreign_ticket(self, subject: str = "Somebody else's ticket") -> int:
        return self.add_ticket(subject, owner="other@example.com")

    def add_agent_reply(
        self,
        ticket_id: int,
        message: str,
        admin: str = "Mario Rossi",
        attachments: list[tuple[str, bytes]] | None = None,
    ) -> int:
        with self._lock:
            ticket = self.tickets[ticket_id]
            reply_id = self._reply(ticket, message, admin=admin, files=attachments or [])
            ticket["status"] = "Answered"
            return reply_id

    def set_status(self, ticket_id: int, status: str) -> None:
        with self._lock:
            self.tickets[ticket_id]["status"] = status

    def replies(self, ticket_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self.tickets[ticket_id]["replies"])

    def requests_to(self, path_contains: str) -> list[RecordedRequest]:
        return [r for r in self.requests if path_contains in r.path]

    # -- serving -------------------------------------------------------------

    def malformed(self, exc: ValueError) -> Reply:
        return json_reply(400, {"message": f"Malformed request: {exc}"})

    def serve(self, handler: BaseHTTPRequestHandler) -> Reply:
        request = _record(handler)
        failure = self._admit(request)
        if failure is not None:
            return json_reply(failure.status, {"message": "Service Unavailable"})
        with self._lock:
            return self._dispatch(request)

    def _dispatch(self, request: RecordedRequest) -> Reply:
        if request.path == "/login":
            return Reply(200, b"<html><form>Login</form></html>", content_type="text/html")
        if request.path == "/oauth/token":
            return self._token(request) if request.method == "POST" else _not_allowed()
        views: dict[str, Callable[[RecordedRequest, str], dict[str, Any]]] = {
            "/api/v2/keliweb/open-ticket": self._open_ticket,
            "/api/v2/keliweb/get-ticket": self._get_ticket,
            "/api/v2/keliweb/add-ticket-reply": self._add_reply,
        }
        view = views.get(request.path)
        if view is None:
            return json_reply(404, {"message": "Not Found"})
        user = self._user(request.headers.get("authorization"))
        if user is None:
            return self._unauthenticated(request)
        if request.method != "POST":
            return _not_allowed()
        try:
            return json_reply(200, {"result": "success", **view(request, user)})
        except WhmcsError as exc:
            return json_reply(200, {"result": "error", "message": str(exc)})

    def _user(self, authorization: str | None) -> str | None:
        scheme, _, token = (authorization or "").partition(" ")
        expiry = self.access_tokens.get(token) if scheme == "Bearer" else None
        return self.username if expiry is not None and time.monotonic() < expiry else None

    def _unauthenticated(self, request: RecordedRequest) -> Reply:
        if not _expects_json(request.headers):
            # Laravel's Authenticate middleware, for a browser: off to the login page.
            location = self.root_url + "login"
            return Reply(
                302, b"Redirecting to " + location.encode(), "text/html", {"Location": location}
            )
        return json_reply(401, {"message": "Unauthenticated."})

    # -- oauth/token -----------------------------------------------------------

    def _token(self, request: RecordedRequest) -> Reply:
        form = request.form
        grant = _one(form, "grant_type")
        if _one(form, "client_id") != self.client_id or (
            _one(form, "client_secret") != self.client_secret
        ):
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        if grant == "password":
            if _one(form, "username") != self.username or _one(form, "password") != self.password:
                return _oauth_error(
                    400, "invalid_grant", "The user credentials were incorrect.", "invalid_grant"
                )
        elif grant == "refresh_token":
            refresh = _one(form, "refresh_token") or ""
            if refresh not in self.refresh_tokens:
                return _oauth_error(
                    401, "invalid_request", "The refresh token is invalid.", "invalid_request"
                )
            self.refresh_tokens.discard(refresh)  # Passport rotates refresh tokens
        else:
            return _oauth_error(
                400, "unsupported_grant_type", "The authorization grant type is not supported."
            )
        access = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(24)
        refresh = "def50200" + secrets.token_hex(24)
        self.access_tokens[access] = time.monotonic() + self.expires_in
        self.refresh_tokens.add(refresh)
        self.issued_refresh_tokens.append(refresh)
        self.grants.append(grant)
        return json_reply(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "access_token": access,
                "refresh_token": refresh,
            },
        )

    # -- keliweb methods ---------------------------------------------------------

    def _open_ticket(self, request: RecordedRequest, user: str) -> dict[str, Any]:
        form = request.form
        deptid = _one(form, "deptid") or ""
        if not deptid.isdigit() or int(deptid) not in self.departments:
            raise WhmcsError("Department ID not found")
        subject = (_one(form, "subject") or "").strip()
        if not subject:
            raise WhmcsError("Subject is required")
        message = (_one(form, "message") or "").strip()
        if not message:
            raise WhmcsError("Message is required")
        priority = _one(form, "priority") or "Low"
        if priority not in PRIORITIES:
            raise WhmcsError("Invalid Priority. Valid priorities are: Low, Medium, High")
        custom = _custom_fields(_one(form, "customfields"))
        files = _attachments(_one(form, "attachments"))
        ticket_id = self.add_ticket(subject, message, deptid=int(deptid), priority=priority)
        ticket = self.tickets[ticket_id]
        ticket.update(
            owner=user,
            name=_one(form, "name") or "",
            email=_one(form, "email") or "",
            customfields=custom,
            attachments=[name for name, _ in files],
            markdown=_one(form, "markdown"),
        )
        return {"id": str(ticket_id), "tid": ticket["tid"], "c": ticket["c"]}

    def _get_ticket(self, request: RecordedRequest, user: str) -> dict[str, Any]:
        ticket = self._find(request.form, user)
        replies = [self._opening(ticket)] + [dict(r) for r in ticket["replies"]]
        listed: Any = replies
        if self.reply_shape == "single" and len(replies) == 1:
            listed = replies[0]
        if self.reply_shape == "empty":
            listed = ""
        if (_one(request.form, "repliessort") or "ASC").upper() == "DESC" and isinstance(
            listed, list
        ):
            listed.reverse()
        last = ticket["replies"][-1]["date"] if ticket["replies"] else _date()
        return {
            "ticketid": str(ticket["id"]),
            "tid": ticket["tid"],
            "c": ticket["c"],
            "deptid": str(ticket["deptid"]),
            "deptname": self.departments.get(ticket["deptid"], ""),
            "userid": "1",
            "contactid": "0",
            "name": ticket["name"],
            "email": ticket["email"],
            "cc": "",
            "date": _date(),
            "subject": html.escape(ticket["subject"]),
            "status": ticket["status"],
            "priority": ticket["priority"],
            "admin": "",
            "lastreply": last,
            "flag": "0",
            "service": "",
            "replies": {"reply": listed} if listed != "" else "",
            "notes": "",
        }

    def _add_reply(self, request: RecordedRequest, user: str) -> dict[str, Any]:
        ticket = self._find(request.form, user, only_id=True)
        message = (_one(request.form, "message") or "").strip()
        if not message:
            raise WhmcsError("Message is required")
        files = _attachments(_one(request.form, "attachments"))
        self._reply(ticket, message, admin="", files=files, markdown=_one(request.form, "markdown"))
        ticket["status"] = "Customer-Reply"
        return {}

    # -- helpers ---------------------------------------------------------------

    def _find(self, form: dict[str, list[str]], user: str, only_id: bool = False) -> dict[str, Any]:
        ticket_id = (_one(form, "ticketid") or "").strip()
        number = "" if only_id else (_one(form, "ticketnum") or "").strip()
        found = None
        if ticket_id.isdigit():
            found = self.tickets.get(int(ticket_id))
        elif number:
            found = next((t for t in self.tickets.values() if t["tid"] == number), None)
        if found is None or found["owner"] != user:
            raise WhmcsError(TICKET_NOT_FOUND)
        return found

    def _opening(self, ticket: dict[str, Any]) -> dict[str, Any]:
        return {
            "replyid": "0",
            "userid": "1",
            "contactid": "0",
            "name": ticket["name"],
            "email": ticket["email"],
            "date": _date(),
            "message": ticket["message"],
            "attachment": "|".join(
                f"{100000 + i}_{n}" for i, n in enumerate(ticket["attachments"])
            ),
            "admin": "",
            "rating": "0",
        }

    def _reply(
        self,
        ticket: dict[str, Any],
        message: str,
        *,
        admin: str,
        files: list[tuple[str, bytes]],
        markdown: str | None = None,
    ) -> int:
        self._last_reply_id += 1
        ticket["replies"].append(
            {
                "replyid": str(self._last_reply_id),
                "userid": "0" if admin else "1",
                "contactid": "0",
                "name": "" if admin else ticket["name"],
                "email": "" if admin else ticket["email"],
                "date": _date(),
                "message": _stored(message),
                "attachment": "|".join(f"{200000 + i}_{name}" for i, (name, _) in enumerate(files)),
                "admin": admin,
                "rating": "0",
                "markdown": markdown or "",
            }
        )
        return self._last_reply_id


def _stored(message: str) -> str:
    """WHMCS stores message text HTML-escaped and hands it back so."""
    return html.escape(message, quote=True)


def _date() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def _one(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[-1] if values else None


def _custom_fields(value: str | None) -> dict[Any, Any]:
    if not value:
        return {}
    try:
        decoded = unserialize(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error):
        raise WhmcsError("Invalid custom fields: expected a base64 serialized array") from None
    if not isinstance(decoded, dict):
        raise WhmcsError("Invalid custom fields: expected a base64 serialized array")
    return decoded


def _attachments(value: str | None) -> list[tuple[str, bytes]]:
    if not value:
        return []
    try:
        rows = json.loads(base64.b64decode(value, validate=True))
        files = [(str(r["name"]), base64.b64decode(r["data"], validate=True)) for r in rows]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise WhmcsError("Invalid attachments: expected base64 json") from None
    for name, content in files:
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise WhmcsError(f"Attachment {name} exceeds the maximum upload size")
    return files


def _expects_json(headers: Headers) -> bool:
    """Laravel's `Request::expectsJson()`: an AJAX request accepting anything, or JSON wanted."""
    accept = headers.get("accept", "")
    first = accept.split(",")[0].split(";")[0].strip().lower()
    ajax = headers.get("x-requested-with", "") == "XMLHttpRequest"
    accepts_any = first in ("", "*/*", "*")
    wants_json = "/json" in first or "+json" in first
    return (ajax and accepts_any) or wants_json


def _oauth_error(status: int, error: str, description: str, hint: str = "") -> Reply:
    body = {"error": error, "error_description": description, "message": description}
    if hint:
        body["hint"] = hint
    return json_reply(status, body)


def _not_allowed() -> Reply:
    return json_reply(405, {"message": "The GET method is not supported for this route."})


def _record(handler: BaseHTTPRequestHandler) -> RecordedRequest:
    url = urlsplit(handler.path)
    headers = Headers(handler.headers.items())
    body = _read_body(handler, headers)
    form, files, file_types = _parse_body(headers.get("content-type", ""), body)
    return RecordedRequest(
        handler.command, url.path, url.path, {}, headers, form, files, file_types, body
    )
