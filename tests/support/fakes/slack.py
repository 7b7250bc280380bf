"""A fake Slack Web API served over real HTTP, answering the way Slack does.

The bot under test is pointed at ``FakeSlack.api_url`` (``SLACK_API_URL``) and talks to it
with the ordinary slack_sdk ``WebClient``. Every call is recorded as a ``Call``; tests read
``calls`` / ``calls_to`` / ``wait_for`` and steer failures with ``fail_next``,
``rate_limit_next``, ``server_error_next`` (HTTP 5xx), ``drop_next`` (the connection closed
with no answer), ``delay``, ``hold`` / ``release`` and ``channels_without_bot``; ``usergroups`` and
``channel_members`` hold what ``usergroups.users.list`` and ``conversations.members`` list.

Fidelity notes (all deliberate, all like Slack):
- every Web API answer is HTTP 200 with ``{"ok": ...}``, except rate limiting (HTTP 429 +
  ``Retry-After``);
- a missing token is ``not_authed``, a wrong one ``invalid_auth``;
- views and message blocks get generated ``block_id`` / ``action_id`` values where the app
  left them out, so use the view Slack returned (``Call.response["view"]`` or
  ``FakeSlack.views``) to build submissions;
- ``url_private`` downloads without the bot token answer 200 with an HTML login page;
- ``users.info`` leaves out ``profile.email`` unless the ``users:read.email`` scope is granted.

The console has its own Slack (bot/runtime/console/fake_slack.py), apart on purpose: it
ships with the bot and is under test itself, while this one records and steers every call.
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import itertools
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from tests.support.fakes.socket_mode import FakeSocketMode

JsonDict = dict[str, Any]
Handler = Callable[[JsonDict], JsonDict]

DEFAULT_SCOPES = (
    "commands",
    "chat:write",
    "users:read",
    "users:read.email",
    "files:read",
    "files:write",
    "reactions:read",
    "reactions:write",
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
    "usergroups:read",
    "channels:read",
    "groups:read",
)
#: conversations.members: Slack's default page size and its largest
MEMBERS_DEFAULT_LIMIT = 100
MEMBERS_MAX_LIMIT = 1000
#: conversations.replies: its default page size, and its largest
REPLIES_MAX_LIMIT = 1000
TRIGGER_ID_TTL_SECONDS = 3.0
#: a held call is answered after this long if no test released it (never hang a run)
HOLD_LIMIT = 30.0
MAX_MESSAGE_TEXT = 40_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELD_TEXT = 2000
MAX_CONTEXT_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
JSON_STRING_FIELDS = frozenset(
    {"blocks", "attachments", "view", "files", "metadata", "user_auth_blocks"}
)
CHANNEL_FIELDS = ("channel", "channel_id")
INPUT_BLOCK_TYPES = frozenset({"input"})
SERVER_ERROR_PAGE = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"


@dataclass
class Call:
    """One request the fake received. ``headers`` keys are lower-case."""

    method: str
    args: JsonDict
    headers: dict[str, str]
    time: float
    status: int = 200
    response: JsonDict = field(default_factory=dict)
    #: the client's port: calls with the same one came over the same connection
    peer_port: int | None = None


@dataclass
class _Steering:
    failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    rate_limits: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    server_errors: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    #: (method, channel) -> statuses: server errors for calls to one channel only
    channel_server_errors: dict[tuple[str, str], list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )
    drops: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))
    redirects: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    delays: dict[str, float] = field(default_factory=dict)
    #: method -> the gate its calls wait at until released
    holds: dict[str, threading.Event] = field(default_factory=dict)
    #: method -> how many of its calls wait at its gate now
    waiting: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class SlackApiError(Exception):
    """Raised by a method handler to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> JsonDict:
        return {"ok": False, "error": self.error, **self.extra}


def _invalid_arguments(message: str, pointer: str) -> SlackApiError:
    text = f"[ERROR] {message} [json-pointer:{pointer}]"
    return SlackApiError("invalid_arguments", response_metadata={"messages": [text]})


def _invalid_blocks(message: str, pointer: str) -> SlackApiError:
    text = f"[ERROR] {message} [json-pointer:{pointer}]"
    return SlackApiError("invalid_blocks", errors=[text], response_metadata={"messages": [text]})


def _random_id(length: int = 5) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _text_length(text_object: Any) -> int:
    if isinstance(text_object, dict):
        return len(str(text_object.get("text", "")))
    return 0


def _too_long(limit: int, pointer: str) -> tuple[str, str]:
    return f"must be less than {limit + 1} characters", pointer


def block_errors(blocks: Any, prefix: str) -> list[tuple[str, str]]:
    """Schema problems Slack rejects in a list of blocks, as (message, json-pointer)."""
    if not isinstance(blocks, list):
        return [("must be an array", prefix)]
    errors: list[tuple[str, str]] = []
    for index, block in enumerate(blocks):
        errors.extend(_one_block_errors(block, f"{prefix}/{index}"))
    return errors


def _one_block_errors(block: Any, pointer: str) -> list[tuple[str, str]]:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return [("missing required field: type", pointer)]
    kind = block["type"]
    if kind == "section":
        return _section_errors(block, pointer)
    if kind == "context":
        return [
            _too_long(MAX_CONTEXT_TEXT, f"{pointer}/elements/{i}/text")
            for i, element in enumerate(block.get("elements", []))
            if _text_length(element) > MAX_CONTEXT_TEXT
        ]
    if kind == "header" and _text_length(block.get("text")) > MAX_HEADER_TEXT:
        return [_too_long(MAX_HEADER_TEXT, f"{pointer}/text")]
    return []


def _section_errors(block: JsonDict, pointer: str) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if _text_length(block.get("text")) > MAX_SECTION_TEXT:
        errors.append(_too_long(MAX_SECTION_TEXT, f"{pointer}/text"))
    for i, text_field in enumerate(block.get("fields", [])):
        if _text_length(text_field) > MAX_SECTION_FIELD_TEXT:
            errors.append(_too_long(MAX_SECTION_FIELD_TEXT, f"{pointer}/fields/{i}"))
    if "text" not in block and "fields" not in block:
        errors.append(("must provide text or fields", pointer))
    return errors


def _assign_ids(blocks: Iterable[JsonDict]) -> list[JsonDict]:
    """Fill in block_id / action_id the way Slack does when the app leaves them out."""
    filled: list[JsonDict] = []
    for block in blocks:
        block = json.loads(json.dumps(block))
        block.setdefault("block_id", _random_id())
        for element in _interactive_elements(block):
            element.setdefault("action_id", _random_id())
        filled.append(block)
    return filled


def _interactive_elements(block: JsonDict) -> list[JsonDict]:
    elements = [block[key] for key in ("element", "accessory") if isinstance(block.get(key), dict)]
    if block.get("type") == "actions":
        elements.extend(e for e in block.get("elements", []) if isinstance(e, dict))
    return [e for e in elements if e.get("type") not in {"image", None}]


class _Clock:
    """Unique, increasing message timestamps like "1700000000.000100"."""

    def __init__(self) -> None:
        self._micros = itertools.count(1_700_000_000_000_100, 100)
        self._lock = threading.Lock()

    def next_ts(self) -> str:
        with self._lock:
            micros = next(self._micros)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


class FakeSlack:
    """A Slack Web API double on 127.0.0.1 with the surface ticket-bot uses."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        scopes: Iterable[str] = DEFAULT_SCOPES,
        bot_user_id: str = "UBOT",
        team_id: str = "T1",
    ) -> None:
        self.bot_token = bot_token
        self.scopes = tuple(scopes)
        self.bot_user_id = bot_user_id
        self.bot_id = "BBOT"
        self.app_id = "A1"
        self.team_id = team_id
        self.team_domain = "example"
        self.calls: list[Call] = []
        self.users: dict[str, JsonDict] = {
            "U1": self._user("U1", "ada", "Ada Lovelace", "ada@example.com"),
            "U2": self._user("U2", "grace", "Grace Hopper", "grace@example.com"),
        }
        self.channels_without_bot: set[str] = set()
        #: user group id -> its members' user ids (usergroups.users.list)
        self.usergroups: dict[str, list[str]] = {}
        #: channel id -> its members' user ids, in order (conversations.members)
        self.channel_members: dict[str, list[str]] = {}
        self.messages: dict[str, list[JsonDict]] = defaultdict(list)
        self.reactions: set[tuple[str, str, str]] = set()
        self.views: dict[str, JsonDict] = {}
        self.uploads: list[JsonDict] = []
        self.files: dict[str, JsonDict] = {}
        self.file_contents: dict[str, bytes] = {}
        #: file id -> (size, declared): a generated body of `size` bytes, with or without
        #: Content-Length, streamed as it is written (for download bounds)
        self.file_streams: dict[str, tuple[int, bool]] = {}
        #: file id -> where its url_private download redirects (302)
        self.file_redirects: dict[str, str] = {}
        #: every url_private download request: (path, headers)
        self.downloads: list[tuple[str, dict[str, str]]] = []
        self._pending_uploads: dict[str, JsonDict] = {}
        self._used_trigger_ids: set[str] = set()
        self._home_view_ids: dict[str, str] = {}
        self._steering = _Steering()
        self._clock = _Clock()
        self._ids = itertools.count(100)
        self._lock = threading.RLock()
        self._arrived = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Handler] = self._method_table()
        # attach one to serve apps.connections.open (Socket Mode, app-level token)
        self.socket_mode: FakeSocketMode | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        server = _Server(("127.0.0.1", 0), _RequestHandler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="FakeSlack", daemon=True
        )
        self._thread.start()
        self.response_url = self.new_response_url()
        return self

    def stop(self) -> None:
        for method in list(self._steering.holds):
            self.release(method)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # ------------------------------------------------------------------ test API

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until ``count`` calls to ``method`` arrived; AssertionError otherwise."""
        with self._arrived:
            arrived = self._arrived.wait_for(
                lambda: len(self.calls_to(method)) >= count, timeout=timeout
            )
            if arrived:
                return self.calls_to(method)
            seen = [call.method for call in self.calls]
        raise AssertionError(
            f"expected {count} call(s) to {method} within {timeout}s, "
            f"got {len(self.calls_to(method))}; all calls so far: {seen}"
        )

    def fail_next(self, method: str, error: str, count: int = 1) -> None:
        with self._lock:
            self._steering.failures[method].extend([error] * count)

    def rate_limit_next(self, method: str, retry_after: int = 1, count: int = 1) -> None:
        with self._lock:
            self._steering.rate_limits[method].extend([retry_after] * count)

    def server_error_next(
        self, method: str, status: int = 500, count: int = 1, *, channel: str | None = None
    ) -> None:
        """The next ``count`` calls to ``method`` (given ``channel``: those naming that
        channel) answer HTTP ``status`` with an HTML page, as Slack's edge does when it
        fails; nothing is done."""
        with self._lock:
            if channel is None:
                self._steering.server_errors[method].extend([status] * count)
            else:
                self._steering.channel_server_errors[method, channel].extend([status] * count)

    def _server_error(self, method: str, args: JsonDict) -> int | None:
        """The status of the server error steered to answer this call, if any."""
        with self._lock:
            for_channel = self._steering.channel_server_errors.get(
                (method, str(args.get("channel")))
            )
            if for_channel:
                return for_channel.pop(0)
        status: int | None = self._pop(self._steering.server_errors, method)
        return status

    def drop_next(self, method: str, count: int = 1) -> None:
        """The next ``count`` calls to ``method`` get their connection closed before any
        answer; nothing is done (recorded with status 0)."""
        with self._lock:
            self._steering.drops[method].extend([True] * count)

    def redirect_next(self, method: str, location: str, count: int = 1) -> None:
        """The next ``count`` calls to ``method`` answer 302 to ``location`` (Slack's Web
        API never does; a client must not follow it with the token)."""
        with self._lock:
            self._steering.redirects[method].extend([location] * count)

    def close_idle_connections(self) -> None:
        """Close every kept-alive client connection, as a server does when their idle
        time is up. Call it with no request in flight."""
        assert self._server is not None, "FakeSlack is not started"
        self._server.close_connections()

    def delay(self, method: str, seconds: float) -> None:
        """Answer every later call to ``method`` ``seconds`` late (0 to stop)."""
        with self._lock:
            self._steering.delays[method] = seconds

    def hold(self, method: str) -> None:
        """Keep every later call to ``method`` waiting, unanswered, until ``release``: a
        moment in the bot's work made to last for as long as a test needs it."""
        with self._lock:
            self._steering.holds.setdefault(method, threading.Event())

    def held(self, method: str) -> int:
        """How many calls to ``method`` (or answers to a response_url: "response_url")
        arrived and wait at its gate now."""
        with self._lock:
            return self._steering.waiting[method]

    def _wait_if_held(self, method: str) -> None:
        with self._lock:
            gate = self._steering.holds.get(method)
            if gate is None:
                return
            self._steering.waiting[method] += 1
        gate.wait(HOLD_LIMIT)
        with self._lock:
            self._steering.waiting[method] -= 1

    def release(self, method: str) -> None:
        """Answer the held calls to ``method``, and later ones at once."""
        with self._lock:
            gate = self._steering.holds.pop(method, None)
        if gate is not None:
            gate.set()

    def new_response_url(self) -> str:
        return f"{self.base_url}/commands/{self.team_id}/{next(self._ids)}/{uuid.uuid4().hex}"

    def add_file(
        self, file_id: str, name: str, content: bytes, mimetype: str = "application/octet-stream"
    ) -> JsonDict:
        """Register a file for files.info and url_private downloads; returns the file object."""
        file_object = self._file_object(file_id, name, len(content), mimetype)
        with self._lock:
            self.files[file_id] = file_object
            self.file_contents[file_id] = content
        return file_object

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U1",
        thread_ts: str | None = None,
        files: list[JsonDict] | None = None,
    ) -> JsonDict:
        """Seed a message posted by a person (for conversations.replies etc.); `files`:
        file objects shared with it (add_file's), as Slack lists them on the message."""
        message: JsonDict = {"type": "message", "user": user, "text": text}
        if files:
            message.update(files=files, upload=True)
        return self._store_message(channel, message, thread_ts)

    def add_user(self, user_id: str, name: str, real_name: str) -> JsonDict:
        """A person of the workspace besides Ada (U1) and Grace (U2), for users.info."""
        user = self._user(user_id, name, real_name, f"{name}@example.com")
        with self._lock:
            self.users[user_id] = user
        return user

    def dm_channel(self, user_id: str) -> str:
        """The IM channel id Slack answers with when a message is posted to a user id."""
        return f"D{user_id[1:]}"

    # ------------------------------------------------------------------ request pipeline

    def _handle_api(
        self, method: str, args: JsonDict, headers: dict[str, str], peer_port: int | None = None
    ) -> tuple[int, JsonDict, dict[str, str]]:
        arrived = time.monotonic()
        time.sleep(self._steering.delays.get(method, 0.0))
        self._wait_if_held(method)
        status, body, extra_headers = self._answer(method, args, headers)
        self._record(method, args, headers, arrived, status, body, peer_port)
        return status, body, extra_headers

    def _record(
        self,
        method: str,
        args: JsonDict,
        headers: dict[str, str],
        arrived: float | None = None,
        status: int = 200,
        response: JsonDict | None = None,
        peer_port: int | None = None,
    ) -> Call:
        """Calls are listed once answered (so `response` is set); `time` is their arrival."""
        call = Call(
            method=method,
            args=args,
            headers=headers,
            time=arrived or time.monotonic(),
            status=status,
            response=response or {},
            peer_port=peer_port,
        )
        with self._arrived:
            self.calls.append(call)
            self._arrived.notify_all()
        return call

    def _answer(
        self, method: str, args: JsonDict, headers: dict[str, str]
    ) -> tuple[int, JsonDict, dict[str, str]]:
        retry_after = self._pop(self._steering.rate_limits, method)
        if retry_after is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
        handler = self._handlers.get(method)
        try:
            if handler is None:
                raise SlackApiError("unknown_method")
            if method == "apps.connections.open":
                self._check_app_token(args, headers)
            else:
                self._check_token(args, headers)
            self._check_channel_types(args)
            forced = self._pop(self._steering.failures, method)
            if forced is not None:
                raise SlackApiError(forced)
            with self._lock:
                body = {"ok": True, **handler(args)}
        except SlackApiError as error:
            return 200, error.body(), {}
        extra = {"x-oauth-scopes": ",".join(self.scopes)} if method == "auth.test" else {}
        return 200, body, extra

    def _pop(self, queues: dict[str, list[Any]], method: str) -> Any:
        with self._lock:
            queue = queues.get(method)
            return queue.pop(0) if queue else None

    def _check_token(self, args: JsonDict, headers: dict[str, str]) -> None:
        token = _bearer(headers) or args.get("token")
        if not token:
            raise SlackApiError("not_authed")
        if token != self.bot_token:
            raise SlackApiError("invalid_auth")

    def _check_app_token(self, args: JsonDict, headers: dict[str, str]) -> None:
        token = _bearer(headers) or args.get("token")
        if not token:
            raise SlackApiError("not_authed")
        if not str(token).startswith("xapp-"):
            raise SlackApiError("not_allowed_token_type")
        if self.socket_mode is None or token != self.socket_mode.app_token:
            raise SlackApiError("invalid_auth")

    def _apps_connections_open(self, args: JsonDict) -> JsonDict:
        assert self.socket_mode is not None  # _check_app_token refused otherwise
        return {"url": self.socket_mode.issue_url()}

    def _check_channel_types(self, args: JsonDict) -> None:
        for name in CHANNEL_FIELDS:
            if name in args and not isinstance(args[name], str):
                raise _invalid_arguments("expected a string", f"/{name}")

    # ------------------------------------------------------------------ method table

    def _method_table(self) -> dict[str, Handler]:
        return {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "users.info": self._users_info,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "conversations.info": self._conversations_info,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "conversations.members": self._conversations_members,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
            "files.upload": self._retired,
        }

    def _retired(self, args: JsonDict) -> JsonDict:
        raise SlackApiError("method_deprecated")

    def _auth_test(self, args: JsonDict) -> JsonDict:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": "Example Workspace",
            "user": "ticket-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    # ------------------------------------------------------------------ views

    def _views_open(self, args: JsonDict) -> JsonDict:
        self._consume_trigger_id(args)
        return {"view": self._store_view(self._view_arg(args))}

    def _views_push(self, args: JsonDict) -> JsonDict:
        self._consume_trigger_id(args)
        return {"view": self._store_view(self._view_arg(args))}

    def _views_update(self, args: JsonDict) -> JsonDict:
        view = self._view_arg(args)
        current = self._find_view(args)
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackApiError("hash_conflict")
        return {"view": self._store_view(view, view_id=current["id"], previous=current)}

    def _views_publish(self, args: JsonDict) -> JsonDict:
        user_id = _required_str(args, "user_id")
        if user_id not in self.users:
            raise SlackApiError("user_not_found")
        view = self._view_arg(args)
        if view.get("type") != "home":
            raise _invalid_arguments("must be home", "/view/type")
        view_id = self._home_view_ids.setdefault(user_id, f"V{next(self._ids)}")
        return {"view": self._store_view(view, view_id=view_id)}

    def _consume_trigger_id(self, args: JsonDict) -> None:
        trigger_id = args.get("trigger_id")
        if not isinstance(trigger_id, str) or not trigger_id:
            raise _invalid_arguments("missing required field: trigger_id", "/trigger_id")
        issued = _trigger_issued_at(trigger_id)
        if issued is None:
            return
        if time.monotonic() - issued > TRIGGER_ID_TTL_SECONDS:
            raise SlackApiError("expired_trigger_id")
        if trigger_id in self._used_trigger_ids:
            raise SlackApiError("exchanged_trigger_id")
        self._used_trigger_ids.add(trigger_id)

    def _view_arg(self, args: JsonDict) -> JsonDict:
        view = args.get("view")
        if not isinstance(view, dict):
            raise _invalid_arguments("missing required field: view", "/view")
        problems = self._view_errors(view)
        if problems:
            messages = [f"[ERROR] {msg} [json-pointer:{ptr}]" for msg, ptr in problems]
            raise SlackApiError("invalid_arguments", response_metadata={"messages": messages})
        return view

    def _view_errors(self, view: JsonDict) -> list[tuple[str, str]]:
        blocks = view.get("blocks", [])
        errors = block_errors(blocks, "/view/blocks")
        if isinstance(blocks, list) and len(blocks) > MAX_VIEW_BLOCKS:
            errors.append((f"no more than {MAX_VIEW_BLOCKS} items allowed", "/view/blocks"))
        if len(str(view.get("private_metadata", ""))) > MAX_PRIVATE_METADATA:
            errors.append(_too_long(MAX_PRIVATE_METADATA, "/view/private_metadata"))
        if view.get("type") == "modal":
            errors.extend(_modal_errors(view))
        return errors

    def _find_view(self, args: JsonDict) -> JsonDict:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise _invalid_arguments("view_id or external_id is required", "/view_id")
        for view in self.views.values():
            if view["id"] == view_id or (external_id and view["external_id"] == external_id):
                return view
        raise SlackApiError("not_found")

    def _store_view(
        self, view: JsonDict, *, view_id: str | None = None, previous: JsonDict | None = None
    ) -> JsonDict:
        view_id = view_id or f"V{next(self._ids)}"
        stored: JsonDict = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view.get("type"),
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": (previous or {}).get("root_view_id", view_id),
            "previous_view_id": None,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
            **{k: v for k, v in view.items() if k != "blocks"},
            "blocks": _assign_ids(view.get("blocks", [])),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
        }
        self.views[view_id] = stored
        return stored

    # ------------------------------------------------------------------ chat

    def _chat_post_message(self, args: JsonDict) -> JsonDict:
        channel = self._writable_channel(args)
        message = self._message_from(args)
        stored = self._store_message(channel, message, _optional_str(args, "thread_ts"))
        return {"channel": channel, "ts": stored["ts"], "message": stored}

    def _chat_update(self, args: JsonDict) -> JsonDict:
        channel = self._writable_channel(args)
        ts = _required_str(args, "ts", missing_error="message_not_found")
        current = self._find_message(channel, ts)
        if current.get("bot_id") != self.bot_id:
            raise SlackApiError("cant_update_message")
        current.update(self._message_from(args))
        current["edited"] = {"user": self.bot_user_id, "ts": self._clock.next_ts()}
        return {"channel": channel, "ts": ts, "text": current.get("text", ""), "message": current}

    def _chat_post_ephemeral(self, args: JsonDict) -> JsonDict:
        self._writable_channel(args)
        user = _required_str(args, "user", missing_error="user_not_found")
        if user not in self.users:
            raise SlackApiError("user_not_found")
        self._message_from(args)
        return {"message_ts": self._clock.next_ts()}

    def _chat_get_permalink(self, args: JsonDict) -> JsonDict:
        channel = _required_str(args, "channel", missing_error="channel_not_found")
        ts = _required_str(args, "message_ts", missing_error="message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        thread_ts = self._thread_of(channel, ts)
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _writable_channel(self, args: JsonDict) -> str:
        channel = _required_str(args, "channel", missing_error="channel_not_found")
        if channel in self.channels_without_bot:
            raise SlackApiError("not_in_channel")
        if channel[:1] in {"U", "W"}:
            return self.dm_channel(channel)
        return channel

    def _message_from(self, args: JsonDict) -> JsonDict:
        text, blocks = args.get("text"), args.get("blocks")
        if not text and not blocks and not args.get("attachments"):
            raise SlackApiError("no_text")
        if text is not None and len(str(text)) > MAX_MESSAGE_TEXT:
            raise SlackApiError("msg_too_long")
        message: JsonDict = {"type": "message", "text": str(text or "")}
        if blocks is not None:
            message["blocks"] = self._checked_message_blocks(blocks)
        for key in ("attachments", "metadata"):
            if key in args:
                message[key] = args[key]
        return message

    def _checked_message_blocks(self, blocks: Any) -> list[JsonDict]:
        problems = block_errors(blocks, "/blocks")
        if not problems and len(blocks) > MAX_MESSAGE_BLOCKS:
            problems = [(f"no more than {MAX_MESSAGE_BLOCKS} items allowed", "/blocks")]
        if problems:
            raise _invalid_blocks(*problems[0])
        return _assign_ids(blocks)

    def _store_message(self, channel: str, message: JsonDict, thread_ts: str | None) -> JsonDict:
        with self._lock:
            stored: JsonDict = {**message, "ts": self._clock.next_ts()}
            if "user" not in stored:
                stored.update(user=self.bot_user_id, bot_id=self.bot_id, app_id=self.app_id)
            stored["team"] = self.team_id
            if thread_ts:
                stored["thread_ts"] = thread_ts
            self.messages[channel].append(stored)
        return stored

    def _find_message(self, channel: str, ts: str) -> JsonDict:
        for message in self.messages.get(channel, []):
            if message["ts"] == ts:
                return message
        raise SlackApiError("message_not_found")

    def _thread_of(self, channel: str, ts: str) -> str | None:
        for message in self.messages.get(channel, []):
            if message["ts"] == ts:
                return message.get("thread_ts")
        return None

    # ------------------------------------------------ users, reactions, conversations

    def _users_info(self, args: JsonDict) -> JsonDict:
        user_id = _required_str(args, "user", missing_error="user_not_found")
        user = self.users.get(user_id)
        if user is None:
            raise SlackApiError("user_not_found")
        user = json.loads(json.dumps(user))
        if "users:read.email" not in self.scopes:
            user.get("profile", {}).pop("email", None)
        return {"user": user}

    def _reactions_add(self, args: JsonDict) -> JsonDict:
        key = self._reaction_key(args)
        if key in self.reactions:
            raise SlackApiError("already_reacted")
        self.reactions.add(key)
        return {}

    def _reactions_remove(self, args: JsonDict) -> JsonDict:
        key = self._reaction_key(args)
        if key not in self.reactions:
            raise SlackApiError("no_reaction")
        self.reactions.discard(key)
        return {}

    def _reaction_key(self, args: JsonDict) -> tuple[str, str, str]:
        channel = _required_str(args, "channel", missing_error="channel_not_found")
        ts = _required_str(args, "timestamp", missing_error="no_item_specified")
        name = _required_str(args, "name", missing_error="invalid_name")
        if channel in self.channels_without_bot:
            raise SlackApiError("not_in_channel")
        return channel, ts, name.strip(":")

    def _conversations_info(self, args: JsonDict) -> JsonDict:
        channel = _required_str(args, "channel", missing_error="channel_not_found")
        is_member = channel not in self.channels_without_bot
        if not is_member and channel[:1] in {"G", "D"}:
            raise SlackApiError("channel_not_found")
        return {"channel": self._channel_object(channel, is_member)}

    def _conversations_replies(self, args: JsonDict) -> JsonDict:
        """A thread, oldest first: its parent, then the replies (a reply's ts: that reply
        alone); `oldest`/`latest`/`inclusive` bound it, `limit` (default and most 1000)
        and `cursor` page it; the parent comes on the first page only."""
        channel = _required_str(args, "channel", missing_error="channel_not_found")
        ts = _required_str(args, "ts", missing_error="thread_not_found")
        self._require_scope("groups:history" if channel[:1] == "G" else "channels:history")
        if channel in self.channels_without_bot:
            raise SlackApiError("not_in_channel")
        thread = [
            message
            for message in self.messages.get(channel, [])
            if message["ts"] == ts or message.get("thread_ts") == ts
        ]
        if not thread:
            raise SlackApiError("thread_not_found")
        thread = _within(sorted(thread, key=lambda m: float(m["ts"])), args)
        limit = str(args.get("limit") or REPLIES_MAX_LIMIT)
        if not limit.isdigit() or int(limit) < 1:
            raise SlackApiError("invalid_limit")
        size = min(int(limit), REPLIES_MAX_LIMIT)
        stamps = [m["ts"] for m in thread]
        start = _cursor_position(_optional_str(args, "cursor"), "ts", stamps)
        page, rest = thread[start : start + size], stamps[start + size :]
        next_cursor = _cursor("ts", rest[0]) if rest else ""
        return {
            "messages": page,
            "has_more": bool(rest),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_history(self, args: JsonDict) -> JsonDict:
        """Top-level messages (and broadcasts), newest first, up to `latest`."""
        channel = _required_str(args, "channel", missing_error="channel_not_found")
        self._require_scope("groups:history" if channel[:1] == "G" else "channels:history")
        if channel in self.channels_without_bot:
            raise SlackApiError("not_in_channel")
        latest = _optional_str(args, "latest")
        inclusive = str(args.get("inclusive", "")).lower() in {"1", "true"}
        limit = int(str(args.get("limit") or 100))
        with self._lock:
            top = [
                message
                for message in self.messages.get(channel, [])
                if message.get("thread_ts") in (None, message["ts"])
                or message.get("subtype") == "thread_broadcast"
            ]
        if latest is not None:
            top = [
                m
                for m in top
                if float(m["ts"]) < float(latest) or (inclusive and m["ts"] == latest)
            ]
        newest_first = sorted(top, key=lambda m: float(m["ts"]), reverse=True)
        return {"messages": newest_first[:limit], "has_more": len(newest_first) > limit}

    def _conversations_members(self, args: JsonDict) -> JsonDict:
        channel = _required_str(args, "channel", missing_error="channel_not_found")
        self._require_scope("groups:read" if channel[:1] == "G" else "channels:read")
        members = self.channel_members.get(channel)
        if members is None or (channel[:1] == "G" and channel in self.channels_without_bot):
            raise SlackApiError("channel_not_found")
        limit = str(args.get("limit") or MEMBERS_DEFAULT_LIMIT)
        if not limit.isdigit() or not 1 <= int(limit) <= MEMBERS_MAX_LIMIT:
            raise SlackApiError("invalid_limit")
        start = _cursor_position(_optional_str(args, "cursor"), "user_id", members)
        page = members[start : start + int(limit)]
        rest = members[start + int(limit) :]
        next_cursor = _cursor("user_id", rest[0]) if rest else ""
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    def _usergroups_users_list(self, args: JsonDict) -> JsonDict:
        self._require_scope("usergroups:read")
        group = _required_str(args, "usergroup", missing_error="no_such_subteam")
        if group not in self.usergroups:
            raise SlackApiError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def _require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise SlackApiError("missing_scope", needed=scope, provided=",".join(self.scopes))

    def _channel_object(self, channel: str, is_member: bool) -> JsonDict:
        kind = channel[:1]
        return {
            "id": channel,
            "name": channel.lower(),
            "is_channel": kind == "C",
            "is_group": kind == "G",
            "is_im": kind == "D",
            "is_private": kind in {"G", "D"},
            "is_archived": False,
            "is_member": is_member,
            "context_team_id": self.team_id,
        }

    # ------------------------------------------------------------------ files

    def _files_get_upload_url(self, args: JsonDict) -> JsonDict:
        filename = _required_str(args, "filename")
        length = str(args.get("length", ""))
        if not length.isdigit():
            raise _invalid_arguments("missing required field: length", "/length")
        file_id = f"F{next(self._ids)}"
        self._pending_uploads[file_id] = {"filename": filename, "length": int(length)}
        return {"upload_url": f"{self.base_url}/upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, args: JsonDict) -> JsonDict:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise _invalid_arguments("missing required field: files", "/files")
        channel = _optional_str(args, "channel_id")
        if channel and channel in self.channels_without_bot:
            raise SlackApiError("not_in_channel")
        completed = [self._complete_one(entry, args) for entry in entries]
        if channel:
            self._share_files(channel, completed, args)
        return {"files": [{"id": f["id"], "title": f["title"]} for f in completed]}

    def _complete_one(self, entry: Any, args: JsonDict) -> JsonDict:
        file_id = entry.get("id") if isinstance(entry, dict) else None
        pending = self._pending_uploads.pop(str(file_id), None)
        if pending is None or "content" not in pending:
            raise SlackApiError("file_not_found")
        file_object = self.add_file(str(file_id), pending["filename"], pending["content"])
        file_object["title"] = entry.get("title") or pending["filename"]
        self.uploads.append(
            {
                "file_id": file_id,
                "filename": pending["filename"],
                "title": file_object["title"],
                "content": pending["content"],
                "channel_id": args.get("channel_id"),
                "thread_ts": args.get("thread_ts"),
                "initial_comment": args.get("initial_comment"),
            }
        )
        return file_object

    def _share_files(self, channel: str, files: list[JsonDict], args: JsonDict) -> None:
        message: JsonDict = {"type": "message", "text": args.get("initial_comment") or ""}
        message["files"] = files
        self._store_message(channel, message, _optional_str(args, "thread_ts"))

    def _files_info(self, args: JsonDict) -> JsonDict:
        file_id = _required_str(args, "file", missing_error="file_not_found")
        file_object = self.files.get(file_id)
        if file_object is None:
            raise SlackApiError("file_not_found")
        return {"file": file_object, "comments": [], "response_metadata": {"next_cursor": ""}}

    def _file_object(self, file_id: str, name: str, size: int, mimetype: str) -> JsonDict:
        private = f"{self.base_url}/files-pri/{self.team_id}-{file_id}/{name}"
        return {
            "id": file_id,
            "created": int(time.time()),
            "timestamp": int(time.time()),
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1] if "." in name else "binary",
            "user": self.bot_user_id,
            "size": size,
            "mode": "hosted",
            "is_external": False,
            "url_private": private,
            "url_private_download": (
                f"{self.base_url}/files-pri/{self.team_id}-{file_id}/download/{name}"
            ),
            "permalink": f"https://{self.team_domain}.slack.com/files/{self.bot_user_id}/{file_id}/{name}",
        }

    # ------------------------------------------------------------------ non-API endpoints

    def _receive_upload(self, file_id: str, content: bytes) -> tuple[int, bytes]:
        with self._lock:
            pending = self._pending_uploads.get(file_id)
            if pending is None:
                return 404, b"Not Found"
            pending["content"] = content
        return 200, f"OK - {len(content)}".encode()

    def _download(self, file_id: str, headers: dict[str, str]) -> tuple[int, bytes, str]:
        if _bearer(headers) != self.bot_token:
            return 200, LOGIN_PAGE, "text/html; charset=utf-8"
        with self._lock:
            content = self.file_contents.get(file_id)
            mimetype = self.files.get(file_id, {}).get("mimetype", "application/octet-stream")
        if content is None:
            return 404, b"Not Found", "text/plain"
        return 200, content, mimetype

    def _user(self, user_id: str, name: str, real_name: str, mail: str) -> JsonDict:
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "real_name": real_name,
            "tz": "Europe/London",
            "tz_offset": 0,
            "is_bot": False,
            "is_admin": False,
            "is_restricted": False,
            "profile": {
                "real_name": real_name,
                "display_name": name,
                "email": mail,
                "image_72": f"https://avatars.example.com/{user_id}_72.png",
                "team": self.team_id,
            },
        }


def _modal_errors(view: JsonDict) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if not isinstance(view.get("title"), dict):
        errors.append(("missing required field: title", "/view/title"))
    for key in ("title", "submit", "close"):
        if _text_length(view.get(key)) > MAX_VIEW_TITLE:
            errors.append(_too_long(MAX_VIEW_TITLE, f"/view/{key}/text"))
    has_input = any(
        isinstance(block, dict) and block.get("type") in INPUT_BLOCK_TYPES
        for block in view.get("blocks", [])
    )
    if has_input and "submit" not in view:
        errors.append(("submit is required when an input block is present", "/view"))
    return errors


def _trigger_issued_at(trigger_id: str) -> float | None:
    match = re.fullmatch(r"trig\.(\d+(?:\.\d+)?)", trigger_id)
    return float(match.group(1)) if match else None


def _cursor(kind: str, value: str) -> str:
    """Slack's opaque cursors are base64 of "<kind>:<where the next page starts>"."""
    return base64.b64encode(f"{kind}:{value}".encode()).decode()


def _cursor_position(cursor: str | None, kind: str, items: list[str]) -> int:
    if cursor is None:
        return 0
    try:
        found_kind, _, value = base64.b64decode(cursor, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise SlackApiError("invalid_cursor") from None
    if found_kind != kind or value not in items:
        raise SlackApiError("invalid_cursor")
    return items.index(value)


def _within(messages: list[JsonDict], args: JsonDict) -> list[JsonDict]:
    """`messages` between the `oldest` and `latest` args (ends in only when `inclusive`)."""
    oldest, latest = _optional_str(args, "oldest"), _optional_str(args, "latest")
    inclusive = str(args.get("inclusive", "")).lower() in {"1", "true"}

    def inside(message: JsonDict) -> bool:
        at = float(message["ts"])
        if oldest is not None and not (at > float(oldest) or (inclusive and at == float(oldest))):
            return False
        return latest is None or at < float(latest) or (inclusive and at == float(latest))

    return [m for m in messages if inside(m)]


def _required_str(args: JsonDict, name: str, *, missing_error: str | None = None) -> str:
    value = args.get(name)
    if isinstance(value, str) and value:
        return value
    if missing_error:
        raise SlackApiError(missing_error)
    raise _invalid_arguments(f"missing required field: {name}", f"/{name}")


def _optional_str(args: JsonDict, name: str) -> str | None:
    value = args.get(name)
    return value if isinstance(value, str) and value else None


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    return value[len("Bearer ") :] if value.startswith("Bearer ") else None


def parse_args(query: str, body: bytes, content_type: str) -> JsonDict:
    """Merge query string and body (form, JSON or multipart) the way Slack reads them."""
    args: JsonDict = dict(parse_qsl(query, keep_blank_values=True))
    if content_type.startswith("application/json"):
        parsed = json.loads(body or b"{}")
        args.update(parsed if isinstance(parsed, dict) else {})
    elif content_type.startswith("multipart/form-data"):
        args.update(_parse_multipart(body, content_type))
    elif body:
        args.update(parse_qsl(body.decode(), keep_blank_values=True))
    return {key: _decode_json_field(key, value) for key, value in args.items()}


def _parse_multipart(body: bytes, content_type: str) -> JsonDict:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: JsonDict = {}
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        fields[name] = content if part.get_filename() else content.decode()
    return fields


def _decode_json_field(key: str, value: Any) -> Any:
    if key in JSON_STRING_FIELDS and isinstance(value, str) and value[:1] in {"[", "{"}:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeSlack/1.0"
    #: headers and body go out in two writes; with Nagle on, a kept-alive client's
    #: delayed ACK holds the body 40 ms (Slack's own servers answer at once)
    disable_nagle_algorithm = True

    server: _Server

    @property
    def fake(self) -> FakeSlack:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        url = urlsplit(self.path)
        headers = {key.lower(): value for key, value in self.headers.items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path.startswith("/api/"):
            self._api(url.path.removeprefix("/api/"), url.query, body, headers)
        elif url.path.startswith("/commands/"):
            self._response_url(body, headers)
        elif url.path.startswith("/upload/v1/"):
            status, text = self.fake._receive_upload(url.path.rsplit("/", 1)[-1], body)
            self._send(status, text, "text/plain; charset=utf-8")
        elif url.path.startswith("/files-pri/"):
            file_id = url.path.split("/")[2].split("-", 1)[-1]
            self._file(file_id, url.path, headers)
        else:
            self._send(404, b"Not Found", "text/plain")

    def _file(self, file_id: str, path: str, headers: dict[str, str]) -> None:
        fake = self.fake
        with fake._lock:
            fake.downloads.append((path, headers))
            stream = fake.file_streams.get(file_id)
            location = fake.file_redirects.get(file_id)
        if location is not None:
            self._send(302, b"", "text/plain", {"Location": location})
        elif stream is not None and _bearer(headers) == fake.bot_token:
            self._stream(*stream)
        else:
            self._send(*fake._download(file_id, headers))

    def _stream(self, size: int, declared: bool) -> None:
        """`size` generated bytes, written as they are made, until the reader hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if declared:
            self.send_header("Content-Length", str(size))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        chunk = b"x" * 65536
        try:
            for start in range(0, size, len(chunk)):
                self.wfile.write(chunk[: size - start])
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _api(self, method: str, query: str, body: bytes, headers: dict[str, str]) -> None:
        content_type = headers.get("content-type", "")
        try:
            args = parse_args(query, body, content_type)
        except (ValueError, UnicodeDecodeError):
            self._send_json(200, {"ok": False, "error": "invalid_json"})
            return
        port = self.client_address[1]
        if self.fake._pop(self.fake._steering.drops, method):
            self.fake._record(method, args, headers, status=0, peer_port=port)
            self.close_connection = True  # the socket closes with no answer written
            return
        location = self.fake._pop(self.fake._steering.redirects, method)
        if location is not None:
            self.fake._record(method, args, headers, status=302, peer_port=port)
            self._send(302, b"", "text/plain", {"Location": location})
            return
        server_error = self.fake._server_error(method, args)
        if server_error is not None:
            self.fake._record(method, args, headers, status=server_error, peer_port=port)
            self._send(server_error, SERVER_ERROR_PAGE, "text/html; charset=utf-8")
            return
        status, payload, extra = self.fake._handle_api(method, args, headers, port)
        self._send_json(status, payload, extra)

    def _response_url(self, body: bytes, headers: dict[str, str]) -> None:
        try:
            args = json.loads(body or b"{}")
        except ValueError:
            self._send(400, b"invalid_payload", "text/plain")
            return
        answer = {"ok": True}
        self.fake._wait_if_held("response_url")
        self.fake._record("response_url", args, headers, response=answer)
        self._send_json(200, answer)

    def _send_json(
        self, status: int, payload: JsonDict, extra: dict[str, str] | None = None
    ) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8", extra)

    def _send(
        self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts of concurrent requests must not be reset

    def server_activate(self) -> None:
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().server_activate()

    def close_connections(self) -> None:
        with self.connections_lock:
            open_now = list(self.open_connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
