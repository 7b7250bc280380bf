"""The console's Slack: a small Web API on loopback, answering like Slack does.

The bot's ordinary WebClient talks to it (`SLACK_API_URL`); it keeps the channel's
messages and threads, the open modal and the files, checks tokens, trigger ids
(3 s, once) and Block Kit limits (bot/runtime/console/limits.py), and tells the console
about every change through `on_change`.

The tests' fake Slack (tests/support/fakes/slack.py) is apart on purpose: this one ships
with the bot and is under test itself, that one records and steers every call for tests.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.runtime.console.limits import Problem, message_problems, view_problems

JsonDict = dict[str, Any]
TRIGGER_TTL = 3.0
TEAM = "T0CONSOLE"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0CONSOLE"
GENERAL = "C0GENERAL"  # where the console starts
#: the agents' channel (TICKET_AGENT_CHANNEL) unless one is configured: private, as advised
AGENTS = "G0AGENTS"
METHODS = frozenset(
    {
        "auth.test",
        "views.open",
        "views.push",
        "views.update",
        "views.publish",
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "chat.getPermalink",
        "users.info",
        "reactions.add",
        "conversations.info",
        "conversations.history",
        "conversations.replies",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
        "files.info",
        "files.upload",
    }
)


class ApiError(Exception):
    def __init__(self, error: str, problems: list[Problem] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.problems = problems or []

    def body(self) -> JsonDict:
        body: JsonDict = {"ok": False, "error": self.error}
        if self.problems:
            messages = [f"[ERROR] {m} [json-pointer:{p}]" for m, p in self.problems]
            body["response_metadata"] = {"messages": messages}
        return body


@dataclass
class Change:
    """What happened in the console's Slack: `kind` is message, update, ephemeral,
    response, view, home (a published App Home), reaction or refused; `user` is who
    reacted, or whose App Home it is."""

    kind: str
    channel: str = ""
    message: JsonDict = field(default_factory=dict)
    view: JsonDict = field(default_factory=dict)
    detail: str = ""
    user: str = ""


Listener = Callable[[Change], None]


class ConsoleSlack:
    """The state and the Web API methods; `bot.runtime.console.server` serves them over HTTP."""

    def __init__(self, bot_token: str, user_id: str, user_name: str) -> None:
        self.bot_token = bot_token
        self.base_url = ""  # set by the server once it listens
        self.users = {user_id: _user(user_id, user_name), BOT_USER: _user(BOT_USER, "ticket-bot")}
        self.channels = {GENERAL: "general"}
        self.messages: dict[str, list[JsonDict]] = defaultdict(list)
        self.views: dict[str, JsonDict] = {}
        self.homes: dict[str, JsonDict] = {}  # user id -> the App Home published for them
        self.ims: dict[str, str] = {}  # the bot's IM channel with a person -> their user id
        self.files: dict[str, tuple[JsonDict, bytes]] = {}
        self.reactions: set[tuple[str, str, str, str]] = set()  # channel, ts, name, user
        self.listeners: list[Listener] = []
        self._triggers: dict[str, float] = {}
        self._pending_uploads: dict[str, JsonDict] = {}
        self._ids = itertools.count(1)
        self._micros = itertools.count(int(time.time() * 1_000_000), 100)
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)
        self.version = 0

    # --- for the console -------------------------------------------------------

    def new_ts(self) -> str:
        micros = next(self._micros)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def issue_trigger(self) -> str:
        trigger = f"{next(self._ids)}.{secrets.token_hex(6)}"
        with self._lock:
            self._triggers[trigger] = time.monotonic()
        return trigger

    def response_url(self) -> str:
        return f"{self.base_url}/response/{next(self._ids)}/{secrets.token_hex(8)}"

    def post_as_user(self, channel: str, user: str, text: str, thread_ts: str | None) -> JsonDict:
        """A message a person typed: stored as Slack stores it, before its event is sent."""
        message: JsonDict = {"type": "message", "user": user, "text": text, "team": TEAM}
        return self._store(channel, message, thread_ts)

    def react_as_user(self, channel: str, ts: str, user: str, name: str) -> JsonDict:
        """A person's reaction, stored before its `reaction_added` event is sent; the
        message it is on. ApiError already_reacted or message_not_found."""
        message = self._add_reaction(channel, ts, user, name)
        self._emit(Change("reaction", channel=channel, message=message, detail=name, user=user))
        return message

    def add_channel(self, channel: str, name: str) -> None:
        """A channel the bot is in; one the console's Slack has already keeps its name."""
        with self._lock:
            self.channels.setdefault(channel, name)

    def channel_named(self, name: str) -> str | None:
        with self._lock:
            return next((c for c, known in self.channels.items() if known == name), None)

    def user_named(self, name: str) -> str | None:
        with self._lock:
            return next((u for u, user in self.users.items() if user["name"] == name), None)

    def add_user(self, name: str) -> str:
        """Another person in the console's workspace; their user id."""
        user_id = f"U0P{next(self._ids):06d}"
        with self._lock:
            self.users[user_id] = _user(user_id, name)
        return user_id

    def im_of(self, user: str) -> str:
        """The bot's IM channel with `user` (Slack opens one on the first message)."""
        channel = "D" + user[1:]
        with self._lock:
            self.ims[channel] = user
        return channel

    def view_by_id(self, view_id: str) -> JsonDict | None:
        """A modal, or an App Home."""
        with self._lock:
            found = self.views.get(view_id)
            homes = (home for home in self.homes.values() if home["id"] == view_id)
            return found or next(homes, None)

    def add_file(self, name: str, content: bytes, mimetype: str) -> JsonDict:
        file_id = f"F{next(self._ids):08d}"
        private = f"{self.base_url}/files/{file_id}/{name}"
        file = {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1] if "." in name else "binary",
            "size": len(content),
            "url_private": private,
            "url_private_download": private,
            "created": int(time.time()),
        }
        with self._lock:
            self.files[file_id] = (file, content)
        return file

    def put_view(self, view: JsonDict, view_id: str | None = None) -> JsonDict:
        """Store a view (a modal from views.open, or one an ack's response_action gave)."""
        view_id = view_id or f"V{next(self._ids):08d}"
        stored = _stored_view(view, view_id)
        with self._lock:
            self.views[view_id] = stored
        self._emit(Change("view", view=stored))
        return stored

    def thread_of(self, channel: str, ts: str) -> list[JsonDict]:
        with self._lock:
            return [
                m
                for m in self.messages.get(channel, [])
                if m["ts"] == ts or m.get("thread_ts") == ts
            ]

    # --- the Web API -------------------------------------------------------------

    def call(self, method: str, args: JsonDict, token: str | None) -> JsonDict:
        """One Web API call: Slack's answer, `ok` true or false."""
        try:
            if method not in METHODS:
                raise ApiError("unknown_method")
            handler: Callable[[JsonDict], JsonDict] = getattr(self, "_" + method.replace(".", "_"))
            if not token:
                raise ApiError("not_authed")
            if token != self.bot_token:
                raise ApiError("invalid_auth")
            return {"ok": True, **handler(args)}
        except ApiError as exc:
            if exc.problems or exc.error.endswith("trigger_id"):
                self._emit(Change("refused", detail=_refusal(method, exc)))
            return exc.body()

    def _auth_test(self, args: JsonDict) -> JsonDict:
        return {
            "url": "https://console.slack.invalid/",
            "team": "Console",
            "user": "ticket-bot",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
        }

    def _views_open(self, args: JsonDict) -> JsonDict:
        self._use_trigger(args.get("trigger_id"))
        return {"view": self.put_view(_checked_view(args))}

    _views_push = _views_open

    def _views_update(self, args: JsonDict) -> JsonDict:
        view = _checked_view(args)
        with self._lock:
            current = self._find_view(args)
            if args.get("hash") and args["hash"] != current["hash"]:
                raise ApiError("hash_conflict")
        return {"view": self.put_view(view, current["id"])}

    def _views_publish(self, args: JsonDict) -> JsonDict:
        user = str(args.get("user_id"))
        if user not in self.users:
            raise ApiError("user_not_found")
        view = _checked_view(args)
        if view.get("type") != "home":
            raise ApiError("invalid_arguments", [("must be home", "/view/type")])
        home = _stored_view(view, f"VHOME{user}")
        with self._lock:
            self.homes[user] = home
        self._emit(Change("home", view=home, user=user))
        return {"view": home}

    def _chat_postMessage(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        stored = self._store(channel, _message(args), args.get("thread_ts") or None)
        return {"channel": channel, "ts": stored["ts"], "message": stored}

    def _chat_update(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        with self._lock:
            current = self._find_message(channel, str(args.get("ts", "")))
            if current.get("bot_id") != BOT_ID:
                raise ApiError("cant_update_message")
            current.pop("blocks", None)
            current.update(_message(args), edited={"user": BOT_USER, "ts": self.new_ts()})
            snapshot = json.loads(json.dumps(current))
        self._emit(Change("update", channel=channel, message=snapshot))
        return {"channel": channel, "ts": current["ts"], "text": current["text"]}

    def _chat_postEphemeral(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        if args.get("user") not in self.users:
            raise ApiError("user_not_found")
        message = {**_message(args), "ts": self.new_ts()}
        self._emit(Change("ephemeral", channel=channel, message=message))
        return {"message_ts": message["ts"]}

    def _chat_getPermalink(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        ts = str(args.get("message_ts", ""))
        return {"permalink": f"https://console.slack.invalid/archives/{channel}/p{ts}"}

    def _users_info(self, args: JsonDict) -> JsonDict:
        user = self.users.get(str(args.get("user")))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": user}

    def _reactions_add(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        name = str(args.get("name", "")).strip(":")
        message = self._add_reaction(channel, str(args.get("timestamp")), BOT_USER, name)
        self._emit(Change("reaction", channel=channel, message=message, detail=name))
        return {}

    def _add_reaction(self, channel: str, ts: str, user: str, name: str) -> JsonDict:
        """Kept on the message as Slack shows it in conversations.history and replies."""
        with self._lock:
            message = self._find_message(channel, ts)
            if (channel, ts, name, user) in self.reactions:
                raise ApiError("already_reacted")
            self.reactions.add((channel, ts, name, user))
            reactions = message.setdefault("reactions", [])
            entry = next((r for r in reactions if r["name"] == name), None)
            if entry is None:
                entry = {"name": name, "users": [], "count": 0}
                reactions.append(entry)
            entry["users"].append(user)
            entry["count"] += 1
            return dict(json.loads(json.dumps(message)))

    def _conversations_info(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        if channel in self.ims:
            return {"channel": {"id": channel, "is_im": True, "user": self.ims[channel]}}
        about = {"id": channel, "name": self.channels[channel], "is_channel": True}
        return {"channel": {**about, "is_private": is_private(channel), "is_member": True}}

    def _conversations_history(self, args: JsonDict) -> JsonDict:
        """Top-level messages (and broadcasts), newest first, up to `latest`."""
        channel = self._channel(args)
        latest = args.get("latest")
        inclusive = str(args.get("inclusive", "")).lower() in {"1", "true"}
        limit = int(str(args.get("limit") or 100))
        with self._lock:
            top = [
                m
                for m in self.messages.get(channel, [])
                if m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast"
            ]
            if latest is not None:
                top = [
                    m
                    for m in top
                    if float(m["ts"]) < float(latest) or (inclusive and m["ts"] == str(latest))
                ]
            newest_first = json.loads(json.dumps(sorted(top, key=lambda m: -float(m["ts"]))))
        return {"messages": newest_first[:limit], "has_more": len(newest_first) > limit}

    def _conversations_replies(self, args: JsonDict) -> JsonDict:
        thread = self.thread_of(self._channel(args), str(args.get("ts", "")))
        if not thread:
            raise ApiError("thread_not_found")
        return {"messages": sorted(thread, key=lambda m: m["ts"]), "has_more": False}

    def _files_getUploadURLExternal(self, args: JsonDict) -> JsonDict:
        file_id = f"F{next(self._ids):08d}"
        self._pending_uploads[file_id] = {"filename": str(args.get("filename") or "file")}
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, args: JsonDict) -> JsonDict:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise ApiError("invalid_arguments", [("missing required field: files", "/files")])
        files = [self._complete(entry) for entry in entries]
        channel = args.get("channel_id")
        if channel:
            message = {"type": "message", "text": args.get("initial_comment") or "", "files": files}
            self._store(self._channel({"channel": channel}), message, args.get("thread_ts"))
        return {"files": [{"id": f["id"], "title": f["title"]} for f in files]}

    def _files_info(self, args: JsonDict) -> JsonDict:
        found = self.files.get(str(args.get("file")))
        if found is None:
            raise ApiError("file_not_found")
        return {"file": found[0]}

    def _files_upload(self, args: JsonDict) -> JsonDict:
        raise ApiError("method_deprecated")

    # --- the non-API endpoints ------------------------------------------------------

    def receive_upload(self, file_id: str, content: bytes) -> bool:
        with self._lock:
            pending = self._pending_uploads.get(file_id)
            if pending is None:
                return False
            pending["content"] = content
            return True

    def download(self, file_id: str, token: str | None) -> bytes | None:
        found = self.files.get(file_id)
        return found[1] if found and token == self.bot_token else None

    def respond(self, payload: JsonDict) -> None:
        """A message sent to a response_url: only the person who asked sees it."""
        message = {**payload, "ts": self.new_ts()}
        try:
            self._check_message(message)
        except ApiError as exc:
            self._emit(Change("refused", detail=_refusal("response_url", exc)))
            raise
        if message.get("blocks"):
            message["blocks"] = _with_ids(message["blocks"])
        self._emit(Change("response", message=message))

    # --- helpers -------------------------------------------------------------------

    def _use_trigger(self, trigger: Any) -> None:
        with self._lock:
            issued = self._triggers.get(str(trigger))
            if issued is None:
                raise ApiError("invalid_trigger_id")
            if issued < 0:
                raise ApiError("exchanged_trigger_id")
            if time.monotonic() - issued > TRIGGER_TTL:
                raise ApiError("expired_trigger_id")
            self._triggers[str(trigger)] = -1.0

    def _channel(self, args: JsonDict) -> str:
        """A channel id; a person's user id is their IM with the bot (chat.postMessage)."""
        channel = str(args.get("channel") or args.get("channel_id") or "")
        if channel in self.users and channel != BOT_USER:
            return self.im_of(channel)
        if channel not in self.channels and channel not in self.ims:
            raise ApiError("channel_not_found")
        return channel

    def _find_view(self, args: JsonDict) -> JsonDict:
        for view in self.views.values():
            if view["id"] == args.get("view_id") or (
                args.get("external_id") and view["external_id"] == args.get("external_id")
            ):
                return view
        raise ApiError("not_found")

    def _find_message(self, channel: str, ts: str) -> JsonDict:
        for message in self.messages.get(channel, []):
            if message["ts"] == ts:
                return message
        raise ApiError("message_not_found")

    def _complete(self, entry: Any) -> JsonDict:
        pending = self._pending_uploads.pop(
            str(entry.get("id") if isinstance(entry, dict) else ""), None
        )
        if pending is None or "content" not in pending:
            raise ApiError("file_not_found")
        file = self.add_file(pending["filename"], pending["content"], "application/octet-stream")
        file["title"] = entry.get("title") or pending["filename"]
        return file

    def _check_message(self, message: JsonDict) -> None:
        problems = message_problems(message.get("blocks"), message.get("text"))
        if problems:
            raise ApiError("invalid_blocks", problems)

    def _store(self, channel: str, message: JsonDict, thread_ts: str | None) -> JsonDict:
        with self._lock:
            stored: JsonDict = {**message, "ts": self.new_ts()}
            if "user" not in stored:
                stored.update(user=BOT_USER, bot_id=BOT_ID, app_id=APP_ID)
            if thread_ts:
                stored["thread_ts"] = thread_ts
            self.messages[channel].append(stored)
            snapshot = json.loads(json.dumps(stored))
        self._emit(Change("message", channel=channel, message=snapshot))
        return stored

    def _emit(self, change: Change) -> None:
        with self.changed:
            self.version += 1
            self.changed.notify_all()
        for listener in list(self.listeners):
            listener(change)


def _message(args: JsonDict) -> JsonDict:
    text, blocks = args.get("text"), args.get("blocks")
    if not text and not blocks and not args.get("attachments"):
        raise ApiError("no_text")
    problems = message_problems(blocks, text)
    if problems:
        raise ApiError(
            "msg_too_long" if problems[0][0] == "msg_too_long" else "invalid_blocks", problems
        )
    message: JsonDict = {"type": "message", "text": str(text or "")}
    if blocks is not None:
        message["blocks"] = _with_ids(blocks)
    return message


def _checked_view(args: JsonDict) -> JsonDict:
    view = args.get("view")
    if not isinstance(view, dict):
        raise ApiError("invalid_arguments", [("missing required field: view", "/view")])
    problems = view_problems(view)
    if problems:
        raise ApiError("invalid_arguments", problems)
    return view


def _with_ids(blocks: list[JsonDict]) -> list[JsonDict]:
    """Slack fills in the block_id and action_id an app leaves out."""
    filled = json.loads(json.dumps(blocks))
    for block in filled:
        block.setdefault("block_id", secrets.token_hex(3))
        elements = [block.get("element"), block.get("accessory")]
        if block.get("type") == "actions":
            elements += block.get("elements", [])
        for element in elements:
            if isinstance(element, dict) and element.get("type") not in {None, "image"}:
                element.setdefault("action_id", secrets.token_hex(3))
    return list(filled)


def is_private(channel: str) -> bool:
    """A private channel's id begins with G (those made before 2021; enough here)."""
    return channel.startswith("G")


def _user(user_id: str, name: str) -> JsonDict:
    return {
        "id": user_id,
        "team_id": TEAM,
        "name": name,
        "real_name": name,
        "is_bot": user_id == BOT_USER,
        "profile": {"real_name": name, "display_name": name, "email": f"{name}@console.invalid"},
    }


def _refusal(method: str, exc: ApiError) -> str:
    details = "; ".join(f"{m} [{p}]" for m, p in exc.problems)
    return f"Slack refused {method}: {exc.error}" + (f" — {details}" if details else "")


def _stored_view(view: JsonDict, view_id: str) -> JsonDict:
    """A view as Slack keeps it (a modal, or a Home tab), with the fields it adds."""
    return {
        "id": view_id,
        "team_id": TEAM,
        "app_id": APP_ID,
        "bot_id": BOT_ID,
        "private_metadata": "",
        "callback_id": "",
        "external_id": "",
        "hash": secrets.token_hex(6),
        **{k: v for k, v in view.items() if k != "blocks"},
        "blocks": _with_ids(view.get("blocks", [])),
        "state": {"values": {}},
    }
