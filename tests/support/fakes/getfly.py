"""A faithful fake of Getfly CRM's ticket API (v6.1), served over real HTTP.

It follows Getfly's API v6.1 documents (create and update a ticket) and Getfly's public
pages: `X-API-KEY` auth (401 without it or with a wrong one), JSON bodies,
`POST ticket` → `{"message", "data": {"identity", "ticket_code"}}`, `PUT ticket` by
`ticket_code` where every given field replaces the stored one (custom_fields whole),
`GET ticket/categories` → `{"data": [{"id", "cate_name"}], "offset", "limited"}`,
`GET tickets?fields=&offset=&limit=` (newest first) and `GET ticket?ticket_code=&fields=`
(a bare object). Reads return only the documented fields: `status_name` is not among
them unless `returns_status_name` is set, as on a Getfly that does return it.

Error bodies are `{"message": …}`, with `"errors": {field: [messages]}` on a 400
(the documents name the codes but not the bodies). Tests steer it with `fail_next`,
`hang_next` and `delay`, and read back what it received in `requests`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.fakes.epixel import RecordedRequest, _record
from tests.support.fakes.serving import FakeHttpServer, Fault, Reply, json_reply

SEED_CATEGORIES = [
    {"id": 1, "cate_name": "System Error"},
    {"id": 2, "cate_name": "Feature Explanation"},
    {"id": 3, "cate_name": "Urgent Support Request"},
    {"id": 4, "cate_name": "Other"},
]
SEED_STATUSES = ["New", "In progress", "Closed"]
#: what GET tickets returns without `fields=`, and what it may return at all
LIST_FIELDS = (
    "id",
    "ticket_title",
    "ticket_code",
    "ticket_content",
    "cate_id",
    "emergency_phone",
    "account_id",
    "account_name",
    "custom_fields",
)
#: GET ticket's documented answer has no ticket_code, but it may be asked for
DETAIL_FIELDS = tuple(f for f in LIST_FIELDS if f != "ticket_code")
WRITABLE = (
    "ticket_title",
    "ticket_content",
    "cate_name",
    "account_email",
    "account_code",
    "contact_name",
    "status_name",
    "expected_at",
    "custom_fields",
    "emergency_phone",
)
INVALID = "Missing or invalid required field format"


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


class FakeGetfly(FakeHttpServer):
    def __init__(
        self,
        *,
        api_key: str = "getfly-test-key",
        returns_status_name: bool = False,
        prefix: str = "/api/v6.1/",
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.returns_status_name = returns_status_name
        self.prefix = "/" + prefix.strip("/") + "/"
        self.reset()

    # -- lifecycle -----------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.origin + self.prefix

    def section_env(self) -> dict[str, str]:
        """The GETFLY_* variables that fit this fake (read from the environment by the bot)."""
        return {
            "GETFLY_STATUS_OPEN": "New",
            "GETFLY_STATUS_CLOSED": "Closed",
            "GETFLY_STATUS_PROCESSING": "In progress",
            "GETFLY_READ_STATUS": "true" if self.returns_status_name else "false",
            "GETFLY_EXPECTED_DAYS": "3",
            "GETFLY_CUSTOM_FIELDS": '{"source": "Slack"}',
        }

    def bot_settings(self) -> dict[str, str]:
        """The bot's settings that reach this fake (see tests/support/harness.py). The GETFLY_*
        ones are a settings section read from the environment: `section_env()`."""
        return {
            "TICKET_BACKEND": "getfly",
            "TICKET_API_URL": self.base_url,
            "TICKET_API_KEY": self.api_key,
            **self.section_env(),
        }

    # -- state and steering --------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.categories: list[dict[str, Any]] = copy.deepcopy(SEED_CATEGORIES)
            self.statuses: list[str] = list(SEED_STATUSES)
            #: ticket_code -> every stored field
            self.tickets: dict[str, dict[str, Any]] = {}
            #: codes the API key may not update (PUT answers 403)
            self.read_only: set[str] = set()
            self._reset_faults()
            self._lost: list[Fault] = []
            self._last_id = 0

    def lose_answer_next(self, count: int, path_contains: str | None = None) -> None:
        """The next `count` matching requests are processed, then answered 500."""
        with self._lock:
            self._lost.append(Fault(count, path_contains, status=500))

    def add_ticket(
        self,
        title: str,
        content: str = "<p>Added by the test.</p>",
        *,
        cate_id: int = 1,
        status_name: str = "New",
        custom_fields: dict[str, Any] | None = None,
        account_name: str = "Acme",
    ) -> str:
        with self._lock:
            self._last_id += 1
            code = f"TICKET-{10000 + self._last_id}"
            self.tickets[code] = {
                "id": self._last_id,
                "ticket_code": code,
                "ticket_title": title,
                "ticket_content": content,
                "cate_id": cate_id,
                "emergency_phone": "",
                "account_id": 1,
                "account_name": account_name,
                "account_email": None,
                "contact_name": None,
                "status_name": status_name,
                "expected_at": None,
                "custom_fields": dict(custom_fields or {}),
            }
            return code

    def requests_to(self, method: str, route: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.route == route]

    @staticmethod
    def json_of(request: RecordedRequest) -> Any:
        return json.loads(request.body) if request.body else None

    # -- serving -------------------------------------------------------------

    def malformed(self, exc: ValueError) -> Reply:
        return json_reply(400, {"detail": f"Malformed request: {exc}"})

    def serve(self, handler: BaseHTTPRequestHandler) -> Reply:
        request = _record(handler, self.prefix)
        with self._lock:
            lost = next((f for f in self._lost if f.take(request.path)), None)
        failure = self._admit(request)
        if failure is not None:
            return json_reply(failure.status, {"message": "Internal system error"})
        with self._lock:
            try:
                reply = self._dispatch(request)
            except ApiError as exc:
                body: dict[str, Any] = {"message": exc.message}
                if exc.errors:
                    body["errors"] = exc.errors
                reply = json_reply(exc.status, body)
        if lost is not None:
            return json_reply(500, {"message": "Internal system error"})
        return reply

    def _dispatch(self, request: RecordedRequest) -> Reply:
        if not request.path.startswith(self.prefix):
            raise ApiError(404, "Not found")
        if request.headers.get("x-api-key") != self.api_key:
            raise ApiError(401, "Unauthorized")
        views = {
            ("GET", "ticket/categories"): self._categories,
            ("GET", "tickets"): self._list,
            ("GET", "ticket"): self._detail,
            ("POST", "ticket"): self._create,
            ("PUT", "ticket"): self._update,
        }
        view = views.get((request.method, request.route))
        if view is None:
            known = any(route == request.route for _, route in views)
            raise ApiError(405 if known else 404, "Not allowed" if known else "Not found")
        return view(request)

    # -- views ---------------------------------------------------------------

    def _categories(self, request: RecordedRequest) -> Reply:
        return json_reply(200, {"data": self.categories, "offset": 0, "limited": False})

    def _list(self, request: RecordedRequest) -> Reply:
        offset = _number(request.query, "offset", 0)
        limit = _number(request.query, "limit", 50)
        fields = self._fields(request, LIST_FIELDS)
        rows = sorted(self.tickets.values(), key=lambda t: t["id"], reverse=True)
        page = rows[offset : offset + limit]
        return json_reply(
            200,
            {
                "data": [_only(row, fields) for row in page],
                "offset": offset,
                "limited": offset + limit < len(rows),
                "sorted": {"id": "DESC"},
            },
        )

    def _detail(self, request: RecordedRequest) -> Reply:
        code = (request.query.get("ticket_code") or "").strip()
        if not code:
            raise ApiError(400, "Missing or invalid ticket_code")
        ticket = self.tickets.get(code)
        if ticket is None:
            raise ApiError(404, "Ticket not found")
        return json_reply(200, _only(ticket, self._fields(request, DETAIL_FIELDS)))

    def _create(self, request: RecordedRequest) -> Reply:
        body = _json_body(request)
        values = self._validated(body, creating=True)
        code = self.add_ticket(values.pop("ticket_title"))
        ticket = self.tickets[code]
        ticket.update(values)
        ticket["account_name"] = values.get("contact_name") or ""
        return json_reply(
            200,
            {
                "message": "Successfully added",
                "data": {"identity": ticket["id"], "ticket_code": code},
            },
        )

    def _update(self, request: RecordedRequest) -> Reply:
        body = _json_body(request)
        code = body.get("ticket_code")
        if not isinstance(code, str) or not code.strip():
            raise ApiError(400, INVALID, {"ticket_code": ["ticket_code is required"]})
        ticket = self.tickets.get(code.strip())
        if ticket is None:
            raise ApiError(404, "Ticket to update not found")
        if code in self.read_only:
            raise ApiError(403, "No update permission")
        values = self._validated(body, creating=False)
        ticket.update(values)  # what is given replaces what is stored, custom_fields whole
        return json_reply(
            200,
            {
                "message": "Successfully updated",
                "data": {"identity": ticket["id"], "ticket_code": code},
            },
        )

    # -- helpers ---------------------------------------------------------------

    def _fields(self, request: RecordedRequest, default: Iterable[str]) -> list[str]:
        readable = set(LIST_FIELDS) | ({"status_name"} if self.returns_status_name else set())
        asked = request.query.get("fields")
        if not asked:
            return list(default)
        # Fields the system does not know are left out of the answer.
        return [f.strip() for f in asked.split(",") if f.strip() in readable]

    def _validated(self, body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        values = {k: body[k] for k in WRITABLE if k in body}
        title = values.get("ticket_title")
        if (creating or "ticket_title" in values) and (
            not isinstance(title, str) or not title.strip()
        ):
            errors["ticket_title"] = ["ticket_title is required"]
        for name in ("ticket_content", "account_email", "contact_name", "emergency_phone"):
            if name in values and not isinstance(values[name], str):
                errors[name] = [f"{name} must be a string"]
        if "account_email" in values and "@" not in str(values["account_email"]):
            errors["account_email"] = ["account_email is not a valid email"]
        if "cate_name" in values:
            found = next(
                (c for c in self.categories if c["cate_name"] == values["cate_name"]), None
            )
            if found is None:
                errors["cate_name"] = ["cate_name does not match any category"]
            else:
                values["cate_id"] = found["id"]
                del values["cate_name"]
        if "status_name" in values and values["status_name"] not in self.statuses:
            errors["status_name"] = ["status_name does not match any status"]
        expected = values.get("expected_at")
        if expected is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(expected)):
            errors["expected_at"] = ["expected_at must be YYYY-MM-DD"]
        if "custom_fields" in values and not isinstance(values["custom_fields"], dict):
            errors["custom_fields"] = ["custom_fields must be an object"]
        if errors:
            raise ApiError(400, INVALID, errors)
        if creating and "status_name" not in values:
            values["status_name"] = self.statuses[0]
        return values


def _json_body(request: RecordedRequest) -> dict[str, Any]:
    if "application/json" not in request.headers.get("content-type", ""):
        raise ApiError(400, "The body must be JSON")
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise ApiError(400, "The body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object")
    return body


def _number(query: dict[str, str], name: str, default: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit():
        raise ApiError(400, INVALID, {name: [f"{name} must be a number"]})
    return int(value)


def _only(row: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    return {f: copy.deepcopy(row[f]) for f in fields if f in row}
