"""Keliweb's API v2 (a front end over WHMCS) as a `TicketGateway`.

Auth is an OAuth2 password grant at `/oauth/token` on the API's host (Laravel
Passport); the access token lives an hour and is renewed a minute before it ends,
with the refresh token first and a new password grant when that is refused. Every
request asks for JSON (`Accept: application/json`, `X-Requested-With:
XMLHttpRequest`): without that, Laravel answers an unauthenticated request with a
302 to its login page, which is never read as data here.

Methods are form posts under `…/api/v2/keliweb/`. Answers are WHMCS-shaped: numbers
as strings, lists wrapped (`{"replies": {"reply": [...]}}`), an empty list sometimes
an empty string and a single item sometimes not in a list, and errors as HTTP 200
with `"result": "error"`.

No status, list, update or download method is documented: those capabilities are off.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.gateway.auth import SharedToken, send_renewing
from bot.gateway.common import (
    Connection,
    Problem,
    create_unknown,
    json_body,
    requester_label,
    text_problems,
    with_footer,
)
from bot.gateway.errors import (
    GatewayError,
    InvalidState,
    NotFound,
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
from bot.gateway.php import encode_attachments, encode_custom_fields

log = logging.getLogger(__name__)

#: PHP's default upload_max_filesize; Keliweb documents no limit of its own
MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024
#: renew the access token this many seconds before it expires
REFRESH_MARGIN = 60.0
DEFAULT_EXPIRES_IN = 3600.0

TOKEN_PATH = "oauth/token"  # noqa: S105 (a path, not a secret)
OPEN_TICKET = "keliweb/open-ticket"
GET_TICKET = "keliweb/get-ticket"
ADD_REPLY = "keliweb/add-ticket-reply"

JSON_HEADERS = {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}

PRIORITY_NAMES = {Classic.LOW: "Low", Classic.MEDIUM: "Medium", Classic.HIGH: "High"}
PRIORITY_BY_NAME = {name.lower(): priority for priority, name in PRIORITY_NAMES.items()}
#: WHMCS's built-in statuses; a custom one that is not "closed" counts as processing
STATUS_BY_NAME = {
    "open": Classic.OPEN,
    "answered": Classic.PROCESSING,
    "customer-reply": Classic.PROCESSING,
    "in progress": Classic.PROCESSING,
    "on hold": Classic.PROCESSING,
    "closed": Classic.CLOSED,
}
#: WHMCS stores uploads as "<random digits>_<original name>"
STORED_NAME_PREFIX = re.compile(r"^\d+_")


# -- configuration ------------------------------------------------------------------


def parse_pairs(text: str, what: str) -> dict[int, str]:
    """`"1=Support,2=Billing"` → `{1: "Support", 2: "Billing"}`; ValueError when malformed."""
    pairs: dict[int, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isdigit() or not value.strip():
            raise ValueError(f"{what}: expected id=name pairs, got {item!r}")
        if int(key) in pairs:
            raise ValueError(f"{what}: id {int(key)} given twice")
        pairs[int(key)] = value.strip()
    return pairs


class KeliwebSettings(BaseSettings):
    """The keliweb backend's ids and names; each field is `KELIWEB_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="KELIWEB_", env_file=".env", extra="ignore")

    #: the category dropdown: "deptid=name,…" (there is no department list in the API)
    departments: str
    #: fixed custom field values sent with every new ticket: "fieldid=value,…"
    custom_fields: str = ""
    #: a custom field id that receives "Name <email>" of the Slack requester
    requester_field: int | None = None

    @field_validator("departments")
    @classmethod
    def _departments(cls, value: str) -> str:
        if not parse_pairs(value, "departments"):
            raise ValueError("no department")
        return value

    @field_validator("custom_fields")
    @classmethod
    def _custom_fields(cls, value: str) -> str:
        parse_pairs(value, "custom fields")
        return value

    @property
    def department_names(self) -> dict[int, str]:
        return parse_pairs(self.departments, "departments")

    @property
    def custom_field_values(self) -> dict[int, str]:
        return parse_pairs(self.custom_fields, "custom fields")


def site_root(api_url: str) -> str:
    """The URL the OAuth endpoint hangs from: everything before `/api/v2/`, else the origin."""
    parts = urlsplit(api_url)
    path = parts.path
    cut = path.find("/api/")
    root_path = path[:cut] if cut >= 0 else ""
    return urlunsplit((parts.scheme, parts.netloc, root_path.rstrip("/") + "/", "", ""))


def api_base(api_url: str) -> str:
    """TICKET_API_URL as the base of `keliweb/<method>` (a trailing `keliweb/` tolerated)."""
    base = api_url if api_url.endswith("/") else api_url + "/"
    return base[: -len("keliweb/")] if base.endswith("/keliweb/") else base


# -- tokens -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    access: str
    refresh: str | None
    expires_at: float


class KeliwebGateway:
    name: str = "keliweb"
    capabilities = Capabilities(
        categories=True,
        priorities=True,
        priority_change=False,
        tags=False,
        status_change=False,
        ticket_list=False,
        ticket_detail=True,
        conversations_out=True,
        conversations_in=True,
        attachments=True,
        max_attachment_bytes=MAX_ATTACHMENT_BYTES,
        max_subject_chars=None,
        statuses=list(Classic.STATUSES),
    )

    def __init__(
        self,
        api_url: str,
        *,
        settings: KeliwebSettings,
        client_id: str,
        client_secret: str,
        username: str,
        password: str,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = HttpTransport(
            api_base(api_url), timeouts=timeouts, retry=retry, transport=transport
        )
        self._auth = HttpTransport(
            site_root(api_url), timeouts=timeouts, retry=retry, transport=transport
        )
        self._client = {"client_id": client_id, "client_secret": client_secret}
        self._login = {"username": username, "password": password}
        self.settings = settings
        self.departments = settings.department_names
        self.custom_fields = settings.custom_field_values
        self.requester_field = settings.requester_field
        self._clock = clock
        self._token: SharedToken[_Token] = SharedToken(
            self._new_token,
            lambda token: token.access,
            fresh=lambda token: self._clock() < token.expires_at - REFRESH_MARGIN,
        )

    @staticmethod
    def connection_problems(connection: Connection) -> list[Problem]:
        """An OAuth client and a user's login; no API key."""
        return connection.missing("client_id", "client_secret", "username", "password")

    @classmethod
    def connect(cls, connection: Connection, settings: KeliwebSettings) -> KeliwebGateway:
        connection.check(cls.connection_problems(connection))
        return cls(
            connection.base_url,
            settings=settings,
            client_id=connection.client_id or "",
            client_secret=connection.client_secret or "",
            username=connection.username or "",
            password=connection.password or "",
        )

    # -- reads ---------------------------------------------------------------

    def list_categories(self) -> list[Category]:
        return [Category(id=str(dept), name=name) for dept, name in self.departments.items()]

    def list_priorities(self) -> list[PriorityLevel]:
        return list(Classic.PRIORITIES)

    def list_tags(self) -> list[Tag]:
        raise Unsupported("Keliweb's API has no tags")

    def list_tickets(
        self,
        *,
        status: TicketStatus | StatusKind | None = None,
        subject: str | None = None,
        category_id: str | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> TicketPage:
        raise Unsupported("Keliweb's API documents no ticket list")

    def get_ticket(self, ticket_id: str) -> TicketDetail:
        if not ticket_id.strip().isdigit():
            raise NotFound(f"POST {GET_TICKET}: no ticket {ticket_id!r}")
        form = {"ticketid": ticket_id.strip(), "repliessort": "ASC"}
        body = self._call(GET_TICKET, form, idempotent=True, fields={})
        return _detail(body, self.departments)

    def download_attachment(self, attachment_id: str) -> FileUpload:
        raise Unsupported(
            "Keliweb's API has no download of attachments: the file is in the ticket "
            "in Keliweb's client area"
        )

    def configuration_problems(self) -> list[str]:
        """Logs in afresh (the credentials) and asks for a ticket that cannot exist (the
        URL and the JSON headers). Departments cannot be checked: no method lists them."""
        self._token.replace(self._grant(self._password_grant()))
        try:
            self._call(GET_TICKET, {"ticketid": "0"}, idempotent=True, fields={})
        except NotFound:
            return []
        except (Unauthorized, Unavailable):
            raise
        except GatewayError as exc:
            return [
                f"TICKET_API_URL does not lead to Keliweb's API v2 methods ({exc.message}). "
                "Fix: set it to the URL ending in /api/v2/."
            ]
        return []

    # -- writes --------------------------------------------------------------

    def create_ticket(self, new: NewTicket) -> Ticket:
        self._check_new_ticket(new)
        message = with_footer(new.description.strip(), new)
        form = self._open_ticket_form(new, message)
        try:
            body = self._call(OPEN_TICKET, form, idempotent=False, fields=OPEN_FIELDS)
        except OutcomeUnknown as exc:
            # No ticket list to look in: say so, never send again.
            hint = f"look for reference {new.reference} in Keliweb" if new.reference else None
            raise create_unknown(exc, hint) from None
        department = int(form["deptid"])
        return Ticket(
            id=_required_id(body, "id"),
            subject=new.subject.strip(),
            description=message,
            status=Classic.OPEN,
            priority=new.priority,
            category_id=str(department),
            category_name=self.departments.get(department),
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
        raise Unsupported("Keliweb's API documents no way to change a ticket's priority or tags")

    def add_conversation(
        self,
        ticket_id: str,
        text: str,
        attachment: FileUpload | None = None,
        *,
        public: bool = True,
    ) -> None:
        if not public:
            raise Unsupported("Keliweb's API takes no internal notes")
        problems = _attachment_problems(attachment)
        if not text.strip():
            problems["text"] = ["The reply may not be blank."]
        if problems:
            raise ValidationFailed(problems)
        if not ticket_id.strip().isdigit():
            raise NotFound(f"POST {ADD_REPLY}: no ticket {ticket_id!r}")
        form = {"ticketid": ticket_id.strip(), "message": text.strip(), "markdown": "1"}
        if attachment is not None:
            form["attachments"] = encode_attachments([(attachment.filename, attachment.content)])
        self._call(ADD_REPLY, form, idempotent=False, fields=REPLY_FIELDS)

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        raise Unsupported("Keliweb's API documents no way to change a ticket's status")

    def close(self) -> None:
        self._api.close()
        self._auth.close()

    # -- building requests ---------------------------------------------------

    def _check_new_ticket(self, new: NewTicket) -> None:
        problems = {**_attachment_problems(new.attachment), **text_problems(new)}
        if new.category_id is None:
            problems["category"] = ["Choose a department."]
        elif not new.category_id.isdigit() or int(new.category_id) not in self.departments:
            problems["category"] = [f"Department {new.category_id} is not configured."]
        if problems:
            raise ValidationFailed(problems)

    def _open_ticket_form(self, new: NewTicket, message: str) -> dict[str, str]:
        assert new.category_id is not None  # checked
        form = {
            "deptid": str(int(new.category_id)),
            "subject": new.subject.strip(),
            "message": message,
            "markdown": "1",
        }
        if new.priority is not None:
            form["priority"] = PRIORITY_NAMES[new.priority]
        if new.requester is not None:
            form["name"] = new.requester.name
            if new.requester.email:
                form["email"] = new.requester.email
        custom = self._custom_field_values(new)
        if custom:
            form["customfields"] = encode_custom_fields(custom)
        if new.attachment is not None:
            form["attachments"] = encode_attachments(
                [(new.attachment.filename, new.attachment.content)]
            )
        return form

    def _custom_field_values(self, new: NewTicket) -> dict[int | str, str | int | bool]:
        values: dict[int | str, str | int | bool] = {}
        values.update(self.custom_fields.items())
        if self.requester_field is not None and new.requester is not None:
            values[self.requester_field] = requester_label(new.requester)
        return values

    # -- transport and auth --------------------------------------------------

    def _call(
        self, path: str, form: Mapping[str, str], *, idempotent: bool, fields: Mapping[str, str]
    ) -> dict[str, Any]:
        """Post the form; the JSON answer, or the mapped error."""
        response = self._send(path, form, idempotent=idempotent)
        return _result(path, response, fields)

    def _send(self, path: str, form: Mapping[str, str], *, idempotent: bool) -> httpx.Response:
        # Refused by the auth middleware before any controller ran: resending is safe.
        return send_renewing(
            self._token,
            lambda token: self._post(path, form, token, idempotent),
            lambda response: response.status_code == 401 or _is_redirect(response),
        )

    def _post(
        self, path: str, form: Mapping[str, str], token: str, idempotent: bool
    ) -> httpx.Response:
        headers = {**JSON_HEADERS, "Authorization": f"Bearer {token}"}
        return self._api.request(
            "POST", path, idempotent=idempotent, headers=headers, data=dict(form)
        )

    def _new_token(self, old: _Token | None) -> _Token:
        if old is not None and old.refresh:
            try:
                return self._grant({"grant_type": "refresh_token", "refresh_token": old.refresh})
            except Unauthorized:
                log.info("the helpdesk refused the refresh token; logging in again")
        return self._grant(self._password_grant())

    def _password_grant(self) -> dict[str, str]:
        return {"grant_type": "password", **self._login}

    def _grant(self, grant: Mapping[str, str]) -> _Token:
        kind = grant["grant_type"]
        response = self._auth.request(
            "POST",
            TOKEN_PATH,
            idempotent=True,
            headers=JSON_HEADERS,
            data={**grant, **self._client},
        )
        body = json_body(response)
        access = body.get("access_token") if isinstance(body, dict) else None
        if response.status_code == 200 and isinstance(access, str) and access:
            refresh = body.get("refresh_token")
            log.debug("obtained a helpdesk token (%s grant)", kind)
            return _Token(
                access=access,
                refresh=refresh if isinstance(refresh, str) and refresh else None,
                expires_at=self._clock() + _seconds(body.get("expires_in")),
            )
        if _is_redirect(response):
            raise Unauthorized(f"POST {TOKEN_PATH}: redirected instead of answering ({kind} grant)")
        if response.status_code in (400, 401, 403):
            code = body.get("error") if isinstance(body, dict) else None
            reason = f"{code}, " if isinstance(code, str) and code.isidentifier() else ""
            raise Unauthorized(
                f"POST {TOKEN_PATH}: the helpdesk refused the {kind} grant "
                f"({reason}HTTP {response.status_code})"
            )
        raise GatewayError(
            f"POST {TOKEN_PATH}: unexpected answer to the {kind} grant "
            f"(HTTP {response.status_code})"
        )


# -- checks ------------------------------------------------------------------------


def _attachment_problems(attachment: FileUpload | None) -> dict[str, list[str]]:
    if attachment is None:
        return {}
    if not attachment.content:
        return {"attachment": ["The file is empty."]}
    if len(attachment.content) > MAX_ATTACHMENT_BYTES:
        return {"attachment": ["The file is too big: the helpdesk accepts at most 2 MiB."]}
    return {}


# -- reading answers ----------------------------------------------------------------

#: WHMCS parameter name -> domain field name, per method
OPEN_FIELDS = {"deptid": "category", "message": "description"}
REPLY_FIELDS = {"message": "text", "ticketid": "ticket"}


def _is_redirect(response: httpx.Response) -> bool:
    return 300 <= response.status_code < 400


def _result(path: str, response: httpx.Response, fields: Mapping[str, str]) -> dict[str, Any]:
    where = f"POST {path}"
    status = response.status_code
    if _is_redirect(response):
        raise Unauthorized(
            f"{where}: the helpdesk redirected to a login page instead of answering "
            f"(HTTP {status}); check the credentials and TICKET_API_URL"
        )
    body = json_body(response)
    if status in (401, 403):
        raise Unauthorized(f"{where}: the helpdesk refused the credentials (HTTP {status})")
    if status == 404:
        raise GatewayError(f"{where}: no such method (HTTP 404); check TICKET_API_URL")
    if status == 429:
        raise Unavailable(f"{where}: rate limited (HTTP 429)")
    if status == 422 and isinstance(body, dict):
        raise _validation(body, fields)
    if status >= 400:
        raise GatewayError(f"{where}: HTTP {status}")
    if not isinstance(body, dict):
        raise GatewayError(f"{where}: the answer is not JSON")
    if str(body.get("result", "")).lower() == "error":
        raise _whmcs_error(where, str(body.get("message") or "unknown error"), fields)
    return body


def _validation(body: Mapping[str, Any], fields: Mapping[str, str]) -> ValidationFailed:
    """Laravel's 422: `{"message", "errors": {field: [messages]}}`."""
    errors = body.get("errors")
    found: dict[str, list[str]] = {}
    if isinstance(errors, Mapping):
        for name, messages in errors.items():
            listed = messages if isinstance(messages, list) else [messages]
            found[fields.get(str(name), str(name))] = [str(m) for m in listed if m]
    message = body.get("message")
    return ValidationFailed(found, str(message) if message and not found else None)


def _whmcs_error(where: str, message: str, fields: Mapping[str, str]) -> GatewayError:
    """`"result": "error"` by what its message names (WHMCS has no error codes)."""
    lowered = message.lower()
    if "ticket" in lowered and "not found" in lowered:
        return NotFound(f"{where}: {message}")
    if "authentica" in lowered or "access denied" in lowered or "unauthori" in lowered:
        return Unauthorized(f"{where}: {message}")
    if "closed" in lowered:
        return InvalidState(f"{where}: {message}")
    for marker, field in (
        ("department", "deptid"),
        ("subject", "subject"),
        ("priority", "priority"),
        ("attachment", "attachments"),
        ("custom field", "customfields"),
        ("message", "message"),
    ):
        if marker in lowered:
            name = fields.get(field, "attachment" if field == "attachments" else field)
            return ValidationFailed({name: [message]})
    return GatewayError(f"{where}: {message}")


def _required_id(body: Mapping[str, Any], key: str) -> str:
    value = _text(body.get(key))
    if not value.isdigit():
        raise GatewayError(f"the helpdesk's answer has no {key}")
    return value


def _text(value: Any) -> str:
    """A WHMCS scalar as text: numbers arrive as strings, sometimes as numbers."""
    if value is None or isinstance(value, bool | dict | list):
        return ""
    return str(value).strip()


def _plain(value: Any) -> str:
    """Message text as WHMCS returns it, with its HTML entities decoded."""
    if not isinstance(value, str):
        return ""
    return html.unescape(value)


def _items(value: Any, key: str) -> list[Mapping[str, Any]]:
    """`{key: [...]}`, `{key: {...}}`, `[...]`, `""`, `{}` or None → the items."""
    if isinstance(value, Mapping) and key in value:
        value = value[key]
    if isinstance(value, Mapping):
        return [value] if value else []
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return []  # "" or None: WHMCS's empty list


def _detail(body: Mapping[str, Any], departments: Mapping[int, str]) -> TicketDetail:
    ticket_id = _text(body.get("ticketid")) or _text(body.get("id"))
    if not ticket_id:
        raise GatewayError("the helpdesk's answer has no ticketid")
    replies = _items(body.get("replies"), "reply")
    opening = [r for r in replies if _text(r.get("replyid")) in ("", "0")]
    answers = [r for r in replies if _text(r.get("replyid")) not in ("", "0")]
    description = _plain(opening[0].get("message")) if opening else _plain(body.get("message"))
    department = _text(body.get("deptid"))
    ticket = Ticket(
        id=ticket_id,
        subject=_plain(body.get("subject")),
        description=description,
        status=STATUS_BY_NAME.get(_text(body.get("status")).lower(), Classic.PROCESSING),
        priority=PRIORITY_BY_NAME.get(_text(body.get("priority")).lower()),
        category_id=department or None,
        category_name=_plain(body.get("deptname"))
        or (departments.get(int(department)) if department.isdigit() else None),
        author=_plain(body.get("name")) or None,
    )
    conversations = [
        Conversation(
            id=_text(row.get("replyid")),
            ticket_id=ticket_id,
            text=_plain(row.get("message")),
            author=_plain(row.get("admin")) or _plain(row.get("name")),
            attachments=_attachments(row, ticket_id),
        )
        for row in answers
    ]
    ticket_attachments = _attachments(opening[0], ticket_id) if opening else []
    return TicketDetail(ticket=ticket, conversations=conversations, attachments=ticket_attachments)


def _attachments(row: Mapping[str, Any], ticket_id: str) -> list[Attachment]:
    """`attachment: "123_a.pdf|456_b.png"` (older WHMCS) or `attachments: [{filename}]`."""
    names: list[str] = []
    listed = row.get("attachments")
    for item in _items(listed, "attachment") if not isinstance(listed, str) else []:
        name = _text(item.get("filename")) or _text(item.get("name"))
        if name:
            names.append(name)
    if not names:
        names = [n for n in _text(row.get("attachment")).split("|") if n.strip()]
    reply_id = _text(row.get("replyid")) or "0"
    return [
        Attachment(
            id=f"{ticket_id}:{reply_id}:{index}",
            conversation_id=reply_id if reply_id != "0" else None,
            filename=STORED_NAME_PREFIX.sub("", name.strip()) or name.strip(),
        )
        for index, name in enumerate(names)
    ]


def _seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_EXPIRES_IN
    return seconds if seconds > 0 else DEFAULT_EXPIRES_IN
