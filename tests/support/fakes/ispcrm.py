"""A faithful fake of ISPCRM's (Netgroot) subscriber ticket API, served over real HTTP.

It follows ISPCRM's API document and what the vendor's public docs add: Bearer tokens;
`POST subscriber/Login` `{username, password}`
→ `{"token": …}`; `GET Tickets/getSubjects`; `POST subscriber/CreateTicket` (JSON, six
required integer/string fields, `{"success": true, "message", "data": {ticket_id,
status}}`); `GET subscriber/getCustomerTickets` (subject, status and priority as
names). Errors as documented: 401 `{"success": false, "message": "Unauthorized"}`,
400 "Invalid request data", 404 "Subscriber not found".

One subscriber account (`username`/`password`, or the static `token`); `admin_token`
is accepted by `Tickets/getSubjects` but belongs to no subscriber, so the subscriber
endpoints answer 404 "Subscriber not found" to it. Tests steer it with `fail_next`,
`hang_next`, `delay`, `expire_tokens` and `omit_ticket_id`, and read `requests`.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.fakes.epixel import RecordedRequest, _record
from tests.support.fakes.serving import FakeHttpServer, Reply, json_reply

SEED_SUBJECTS = [
    {"subject_id": 1, "name": "Technical Support"},
    {"subject_id": 2, "name": "Billing Issue"},
    {"subject_id": 3, "name": "New Connection"},
]
TYPES = {1: "Complaint", 2: "Request"}
STATUSES = {1: "Open", 2: "In Progress", 3: "Closed"}
PRIORITIES = {1: "Low", 2: "Medium", 3: "High"}
GROUPS = {1: "Support", 2: "Billing"}
REQUIRED_INTS = ("subject_id", "type_id", "status_id", "priority_id", "group_id")

UNAUTHORIZED = {"success": False, "message": "Unauthorized"}
INVALID = {"success": False, "message": "Invalid request data"}
NO_SUBSCRIBER = {"success": False, "message": "Subscriber not found"}


class FakeIspcrm(FakeHttpServer):
    def __init__(
        self,
        *,
        username: str = "subscriber@example.com",
        password: str = "s3cret-pass",
        token: str | None = None,
        admin_token: str = "admin-api-token",
        prefix: str = "/api/v1/",
    ) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.token = token
        self.admin_token = admin_token
        self.prefix = "/" + prefix.strip("/") + "/"
        self.issued_tokens: list[str] = []
        self.expired_tokens: set[str] = set()
        self.reset()

    # -- lifecycle -----------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.origin + self.prefix

    def bot_settings(self) -> dict[str, str]:
        """The bot's settings that reach this fake; the ISPCRM_* ones are read from the
        environment by the backend's own section (tests set them with monkeypatch)."""
        return {
            "TICKET_BACKEND": "ispcrm",
            "TICKET_API_URL": self.base_url,
            "TICKET_API_USERNAME": self.username,
            "TICKET_API_PASSWORD": self.password,
            **self.section_env(),
        }

    @staticmethod
    def section_env() -> dict[str, str]:
        return {
            "ISPCRM_TYPE_ID": "1",
            "ISPCRM_STATUS_ID": "1",
            "ISPCRM_GROUP_ID": "1",
            "ISPCRM_PRIORITY_IDS": "low=1,medium=2,high=3",
        }

    # -- state and steering --------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.subjects: list[dict[str, Any]] = copy.deepcopy(SEED_SUBJECTS)
            self.tickets: dict[int, dict[str, Any]] = {}
            self._reset_faults()
            #: CreateTicket answers without data.ticket_id (not documented; tests the fallback)
            self.omit_ticket_id = False
            self._next_ticket_id = 101

    def expire_tokens(self) -> None:
        with self._lock:
            self.expired_tokens.update(self.issued_tokens)

    def add_ticket(
        self,
        subject_id: int = 1,
        message: str = "Added by the test.",
        *,
        status_id: int = 1,
        priority_id: int = 2,
        subscriber: str | None = None,
    ) -> int:
        with self._lock:
            ticket_id = self._next_ticket_id
            self._next_ticket_id += 1
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
            self.tickets[ticket_id] = {
                "ticket_id": ticket_id,
                "subscriber": subscriber or self.username,
                "subject_id": subject_id,
                "type_id": 1,
                "status_id": status_id,
                "priority_id": priority_id,
                "group_id": 1,
                "message": message,
                "created_at": now,
                "updated_at": now,
            }
            return ticket_id

    def requests_to(self, path_contains: str) -> list[RecordedRequest]:
        return [r for r in self.requests if path_contains in r.path]

    # -- serving -------------------------------------------------------------

    def malformed(self, exc: ValueError) -> Reply:
        return json_reply(400, INVALID)

    def serve(self, handler: BaseHTTPRequestHandler) -> Reply:
        request = _record(handler, self.prefix)
        failure = self._admit(request)
        if failure is not None:
            return json_reply(failure.status, {"success": False, "message": "Server Error"})
        with self._lock:
            return self._dispatch(request)

    def _dispatch(self, request: RecordedRequest) -> Reply:
        views: dict[str, tuple[str, Callable[[RecordedRequest, str | None], Reply]]] = {
            "subscriber/Login": ("POST", self._login),
            "Tickets/getSubjects": ("GET", self._subjects),
            "subscriber/CreateTicket": ("POST", self._create),
            "subscriber/getCustomerTickets": ("GET", self._customer_tickets),
        }
        if not request.path.startswith(self.prefix) or request.route not in views:
            return json_reply(404, {"success": False, "message": "Not Found"})
        method, view = views[request.route]
        if request.method != method:
            return json_reply(405, {"success": False, "message": "Method Not Allowed"})
        if view == self._login:
            return view(request, None)
        who = self._bearer(request.headers.get("authorization"))
        if who is None:
            return json_reply(401, UNAUTHORIZED)
        return view(request, who)

    def _bearer(self, authorization: str | None) -> str | None:
        """The subscriber a token belongs to; "" for the admin token; None if invalid."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "Bearer" or not token:
            return None
        if token == self.admin_token:
            return ""
        if self.token is not None and token == self.token:
            return self.username
        if token in self.issued_tokens and token not in self.expired_tokens:
            return self.username
        return None

    # -- views ---------------------------------------------------------------

    def _login(self, request: RecordedRequest, _: str | None) -> Reply:
        body = _json_body(request)
        if body is None or not body.get("username") or not body.get("password"):
            return json_reply(400, INVALID)
        if body["username"] != self.username or body["password"] != self.password:
            return json_reply(401, {"success": False, "message": "Invalid credentials"})
        token = "ispcrm-token-" + secrets.token_hex(12)
        self.issued_tokens.append(token)
        return json_reply(200, {"token": token})

    def _subjects(self, request: RecordedRequest, who: str | None) -> Reply:
        return json_reply(200, {"success": True, "data": copy.deepcopy(self.subjects)})

    def _create(self, request: RecordedRequest, who: str | None) -> Reply:
        if not who:
            return json_reply(404, NO_SUBSCRIBER)
        body = _json_body(request)
        if body is None or not self._valid_create(body):
            return json_reply(400, INVALID)
        ticket_id = self.add_ticket(
            body["subject_id"],
            body["message"],
            status_id=body["status_id"],
            priority_id=body["priority_id"],
            subscriber=who,
        )
        self.tickets[ticket_id].update(type_id=body["type_id"], group_id=body["group_id"])
        data: dict[str, Any] = {"status": STATUSES[body["status_id"]]}
        if not self.omit_ticket_id:
            data["ticket_id"] = ticket_id
        return json_reply(
            200, {"success": True, "message": "Ticket created successfully", "data": data}
        )

    def _valid_create(self, body: dict[str, Any]) -> bool:
        known = {
            "subject_id": {s["subject_id"] for s in self.subjects},
            "type_id": set(TYPES),
            "status_id": set(STATUSES),
            "priority_id": set(PRIORITIES),
            "group_id": set(GROUPS),
        }
        for name in REQUIRED_INTS:
            value = body.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value not in known[name]:
                return False
        message = body.get("message")
        return isinstance(message, str) and bool(message.strip())

    def _customer_tickets(self, request: RecordedRequest, who: str | None) -> Reply:
        if not who:
            return json_reply(404, NO_SUBSCRIBER)
        names = {s["subject_id"]: s["name"] for s in self.subjects}
        rows = [
            {
                "ticket_id": t["ticket_id"],
                "subject": names.get(t["subject_id"], ""),
                "status": STATUSES[t["status_id"]],
                "priority": PRIORITIES[t["priority_id"]],
                "created_at": t["created_at"],
                "updated_at": t["updated_at"],
            }
            for t in self.tickets.values()
            if t["subscriber"] == who
        ]
        return json_reply(200, {"success": True, "data": rows})


def _json_body(request: RecordedRequest) -> dict[str, Any] | None:
    if "application/json" not in request.headers.get("content-type", ""):
        return None
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
