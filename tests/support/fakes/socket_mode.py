"""A fake of Slack's Socket Mode server: real WebSockets (RFC 6455, by hand) on loopback.

How a Socket Mode app reaches it, as with Slack:

1. the app calls ``apps.connections.open`` on the Web API with its app-level token (``xapp-``)
   as Bearer; ``FakeSlack`` answers ``{"ok": true, "url": "ws://127.0.0.1:<port>/link/?ticket=…"}``
   once this fake is attached (``slack.socket_mode = FakeSocketMode(...)``);
2. the app opens a WebSocket at that URL (each ticket works once) and receives ``hello``;
3. tests push envelopes (``slash_commands``, ``interactive``, ``events_api``) with ``send`` /
   ``request`` and read the app's acks ``{"envelope_id": …, "payload": {…}}`` (``Ack``);
   Slack wants each ack within 3 seconds (``Ack.late``).

Fidelity notes: server frames are unmasked, client frames must be masked (else close 1002);
pings are answered with a pong echoing their payload (the slack_sdk client watches it to
detect a stale link); a client close is answered with a close frame; ``disconnect`` sends
Slack's ``{"type": "disconnect", "reason": …}`` message, after which clients open a new link.
An unknown or already used ticket is refused with HTTP 401 before the upgrade (how Slack
answers there is not documented).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import secrets
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

JsonDict = dict[str, Any]

ACK_DEADLINE_SECONDS = 3.0
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_PROTOCOL_ERROR = 1000, 1001, 1002
MAX_HANDSHAKE_BYTES = 16_384
VERIFICATION_TOKEN = "legacy-verification-token"


class ProtocolError(Exception):
    """The client broke RFC 6455; the connection is closed with 1002."""


@dataclass
class Ack:
    """An envelope's acknowledgement as the app sent it."""

    envelope_id: str
    payload: JsonDict | None
    message: JsonDict
    latency: float  # seconds from sending the envelope to receiving this ack

    @property
    def late(self) -> bool:
        return self.latency > ACK_DEADLINE_SECONDS


@dataclass
class _Sent:
    envelope: JsonDict
    at: float
    connection: WebSocketConnection


@dataclass
class _Frame:
    fin: bool
    opcode: int
    payload: bytes


# ---------------------------------------------------------------------- RFC 6455 framing


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked server frame."""
    head = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        return head + bytes([length]) + payload
    if length < 1 << 16:
        return head + bytes([126]) + struct.pack("!H", length) + payload
    return head + bytes([127]) + struct.pack("!Q", length) + payload


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise ConnectionError("the client closed the TCP connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket) -> _Frame:
    """One client frame, unmasked; clients must mask every frame (RFC 6455 5.1)."""
    first, second = _read_exact(sock, 2)
    if first & 0x70:
        raise ProtocolError("reserved bits set without an extension")
    if not second & 0x80:
        raise ProtocolError("client frame not masked")
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", _read_exact(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", _read_exact(sock, 8))[0]
    mask = _read_exact(sock, 4)
    data = _read_exact(sock, length)
    payload = bytes(b ^ m for b, m in zip(data, itertools.cycle(mask), strict=False))
    opcode = first & 0x0F
    if opcode >= OP_CLOSE and (length > 125 or not first & 0x80):
        raise ProtocolError("control frames must be final and at most 125 bytes")
    return _Frame(bool(first & 0x80), opcode, payload)


def _read_request_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1024)
        if not chunk or len(head) > MAX_HANDSHAKE_BYTES:
            raise ConnectionError("incomplete WebSocket handshake")
        head += chunk
    return head


def _parse_request_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] != "GET":
        raise ProtocolError(f"not a WebSocket upgrade: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return parts[1], headers


def _handshake_problem(headers: dict[str, str]) -> str | None:
    if headers.get("upgrade", "").lower() != "websocket":
        return "missing Upgrade: websocket"
    if "upgrade" not in headers.get("connection", "").lower():
        return "missing Connection: Upgrade"
    if headers.get("sec-websocket-version") != "13":
        return "Sec-WebSocket-Version must be 13"
    if len(base64.b64decode(headers.get("sec-websocket-key", ""), validate=False)) != 16:
        return "bad Sec-WebSocket-Key"
    return None


def _http_error(status: str, text: str) -> bytes:
    body = text.encode()
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


# ---------------------------------------------------------------------- one connection


class WebSocketConnection:
    """One accepted link: frames out under a lock, a reader thread for frames in."""

    def __init__(self, server: FakeSocketMode, sock: socket.socket, ticket: str) -> None:
        self.server = server
        self.sock = sock
        self.ticket = ticket
        self.open = True
        self.close_code: int | None = None  # what the client sent in its close frame
        self.pongs: list[bytes] = []
        self._close_sent = False
        self._send_lock = threading.Lock()
        self._fragments: list[bytes] = []

    def send_json(self, message: JsonDict) -> None:
        self.send_frame(OP_TEXT, json.dumps(message).encode())

    def send_frame(self, opcode: int, payload: bytes) -> None:
        with self._send_lock:
            if not self.open:
                raise ConnectionError("the WebSocket is closed")
            self.sock.sendall(encode_frame(opcode, payload))

    def ping(self, payload: bytes = b"") -> None:
        self.send_frame(OP_PING, payload)

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Start the closing handshake (the client answers, then the link is dropped)."""
        try:
            self.send_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode())
            self._close_sent = True
        except OSError:
            self._drop()

    def serve(self, hello: JsonDict) -> None:
        """Greet the client, then read its frames until the link ends."""
        try:
            self.send_json(hello)
            while self.open:
                self._dispatch(read_frame(self.sock))
        except ProtocolError as error:
            self.close(CLOSE_PROTOCOL_ERROR, str(error)[:100])
        except (OSError, ConnectionError, ValueError):
            pass
        finally:
            self._drop()

    def _dispatch(self, frame: _Frame) -> None:
        if frame.opcode == OP_PING:
            self.send_frame(OP_PONG, frame.payload)
        elif frame.opcode == OP_PONG:
            self.pongs.append(frame.payload)
        elif frame.opcode == OP_CLOSE:
            self._answer_close(frame.payload)
        elif frame.opcode in {OP_TEXT, OP_CONTINUATION}:
            self._data(frame)
        else:
            raise ProtocolError(f"Slack's Socket Mode speaks text frames only, got {frame.opcode}")

    def _data(self, frame: _Frame) -> None:
        if (frame.opcode == OP_CONTINUATION) != bool(self._fragments):
            raise ProtocolError("unexpected continuation frame")
        self._fragments.append(frame.payload)
        if frame.fin:
            text, self._fragments = b"".join(self._fragments).decode(), []
            self.server._received(self, json.loads(text))

    def _answer_close(self, payload: bytes) -> None:
        self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        if not self._close_sent:
            with contextlib.suppress(OSError):
                self.send_frame(OP_CLOSE, payload[:2])
        self._drop()

    def _drop(self) -> None:
        with self._send_lock:
            if self.open:
                self.open = False
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)
                self.sock.close()
        self.server._dropped(self)


# ---------------------------------------------------------------------- the server


@dataclass
class _State:
    tickets: set[str] = field(default_factory=set)
    connections: list[WebSocketConnection] = field(default_factory=list)
    sent: dict[str, _Sent] = field(default_factory=dict)
    acks: dict[str, Ack] = field(default_factory=dict)
    messages: list[JsonDict] = field(default_factory=list)  # every text message from apps
    refused: list[str] = field(default_factory=list)  # why handshakes were refused


class FakeSocketMode:
    """Slack's Socket Mode endpoint on 127.0.0.1; attach to ``FakeSlack.socket_mode``."""

    def __init__(self, *, app_token: str = "xapp-1-A1-1-test", app_id: str = "A1") -> None:
        self.app_token = app_token
        self.app_id = app_id
        self.state = _State()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._listener: socket.socket | None = None
        self._running = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.1)
        self._listener, self._running = listener, True
        threading.Thread(target=self._accept_loop, name="FakeSocketMode", daemon=True).start()
        return self

    def stop(self) -> None:
        """Close every link (closing handshake, then dropped after 1 s at most)."""
        self._running = False
        for connection in self.active:
            connection.close(CLOSE_GOING_AWAY, "going away")
        with contextlib.suppress(AssertionError):
            self.wait_closed(timeout=1.0)
        for connection in self.active:
            connection._drop()
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("FakeSocketMode is not started")
        return int(self._listener.getsockname()[1])

    # ------------------------------------------------------------------ for FakeSlack

    def issue_url(self) -> str:
        """A fresh single-use link, as apps.connections.open returns it."""
        ticket = str(uuid.uuid4())
        with self._lock:
            self.state.tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    # ------------------------------------------------------------------ test API

    @property
    def connections(self) -> list[WebSocketConnection]:
        with self._lock:
            return list(self.state.connections)

    @property
    def active(self) -> list[WebSocketConnection]:
        return [c for c in self.connections if c.open]

    def wait_connected(self, count: int = 1, timeout: float = 20.0) -> WebSocketConnection:
        """The newest open link once ``count`` links were accepted in all."""
        with self._changed:
            ready = self._changed.wait_for(
                lambda: (
                    len(self.state.connections) >= count
                    and any(c.open for c in self.state.connections)
                ),
                timeout,
            )
            if not ready:
                raise AssertionError(
                    f"no Socket Mode link ({count} wanted) within {timeout}s; "
                    f"refused: {self.state.refused}"
                )
            return [c for c in self.state.connections if c.open][-1]

    def wait_closed(self, timeout: float = 10.0) -> None:
        with self._changed:
            if not self._changed.wait_for(
                lambda: not any(c.open for c in self.state.connections), timeout
            ):
                states = [(c.ticket[:8], c.open) for c in self.state.connections]
                raise AssertionError(f"a Socket Mode link is still open after {timeout}s: {states}")

    def send(self, kind: str, payload: JsonDict, **extra: Any) -> str:
        """Deliver an envelope on the newest link; returns its envelope_id."""
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "payload": payload, "type": kind, **extra}
        connection = self.wait_connected()
        with self._lock:
            self.state.sent[envelope_id] = _Sent(envelope, time.monotonic(), connection)
        connection.send_json(envelope)
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> Ack:
        with self._changed:
            if not self._changed.wait_for(lambda: envelope_id in self.state.acks, timeout):
                kind = self.state.sent[envelope_id].envelope["type"]
                raise AssertionError(f"no ack for the {kind} envelope within {timeout}s")
            return self.state.acks[envelope_id]

    def request(self, kind: str, payload: JsonDict, timeout: float = 10.0, **extra: Any) -> Ack:
        return self.wait_ack(self.send(kind, payload, **extra), timeout)

    def slash_command(self, text: str, **fields: str) -> Ack:
        return self.request(
            "slash_commands", slash_command_payload(text, **fields), accepts_response_payload=True
        )

    def interactive(self, payload: JsonDict) -> Ack:
        accepts = payload.get("type") in {"view_submission", "block_suggestion"}
        return self.request("interactive", payload, accepts_response_payload=accepts)

    def event(self, event: JsonDict, retry_attempt: int = 0, retry_reason: str = "") -> Ack:
        return self.request(
            "events_api",
            event_callback(event, self.app_id),
            accepts_response_payload=False,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's notice that a link is going away; the client should open a new one."""
        for connection in self.active:
            connection.send_json(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
            )

    # ------------------------------------------------------------------ server side

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while self._running:
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handshake, args=(sock,), daemon=True).start()

    def _handshake(self, sock: socket.socket) -> None:
        sock.settimeout(10)
        try:
            path, headers = _parse_request_head(_read_request_head(sock))
            ticket = parse_qs(urlsplit(path).query).get("ticket", [""])[0]
            problem = _handshake_problem(headers) or self._claim(ticket)
        except (OSError, ConnectionError, ProtocolError, ValueError) as error:
            problem = str(error) or type(error).__name__
            headers = {}
        if problem:
            self._refuse(sock, problem)
            return
        sock.settimeout(None)
        self._accept(sock, headers, ticket)

    def _claim(self, ticket: str) -> str | None:
        with self._lock:
            if ticket not in self.state.tickets:
                return "unknown or already used ticket"
            self.state.tickets.discard(ticket)
        return None

    def _refuse(self, sock: socket.socket, problem: str) -> None:
        with self._changed:
            self.state.refused.append(problem)
            self._changed.notify_all()
        status = "401 Unauthorized" if "ticket" in problem else "400 Bad Request"
        with contextlib.suppress(OSError):
            sock.sendall(_http_error(status, problem))
        sock.close()

    def _accept(self, sock: socket.socket, headers: dict[str, str], ticket: str) -> None:
        try:
            sock.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + accept_key(headers["sec-websocket-key"]).encode()
                + b"\r\n\r\n"
            )
        except OSError:  # the client went away mid-handshake
            sock.close()
            return
        connection = WebSocketConnection(self, sock, ticket)
        with self._changed:
            self.state.connections.append(connection)
            count = sum(c.open for c in self.state.connections)
            self._changed.notify_all()
        connection.serve(self._hello(count))

    def _hello(self, num_connections: int) -> JsonDict:
        return {
            "type": "hello",
            "num_connections": num_connections,
            "debug_info": {
                "host": "applink-fake",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }

    def _received(self, connection: WebSocketConnection, message: JsonDict) -> None:
        now = time.monotonic()
        with self._changed:
            self.state.messages.append(message)
            sent = self.state.sent.get(str(message.get("envelope_id")))
            if sent is not None and message["envelope_id"] not in self.state.acks:
                self.state.acks[message["envelope_id"]] = Ack(
                    message["envelope_id"], message.get("payload"), message, now - sent.at
                )
            self._changed.notify_all()

    def _dropped(self, connection: WebSocketConnection) -> None:
        with self._changed:
            self._changed.notify_all()


# ---------------------------------------------------------------------- payload shapes


def slash_command_payload(text: str, **fields: str) -> JsonDict:
    """A slash command as Socket Mode carries it: the HTTP form fields, as a dict."""
    channel_id = fields.get("channel_id", "C1")
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": "T1",
        "team_domain": "example",
        "channel_id": channel_id,
        "channel_name": channel_id.lower(),
        "user_id": "U1",
        "user_name": "ada",
        "command": "/ticket",
        "text": text,
        "api_app_id": "A1",
        "is_enterprise_install": "false",
        "response_url": "http://127.0.0.1:9/commands/T1/0/unset",
        "trigger_id": f"trig.{time.monotonic()}",
        **fields,
    }


def block_actions_payload(action: JsonDict, response_url: str, channel_id: str = "C1") -> JsonDict:
    """A button click on a message, as the ``interactive`` envelope's payload."""
    return {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "example"},
        "user": {"id": "U1", "username": "ada", "name": "ada", "team_id": "T1"},
        "api_app_id": "A1",
        "token": VERIFICATION_TOKEN,
        "trigger_id": f"trig.{time.monotonic()}",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": channel_id,
        },
        "channel": {"id": channel_id, "name": channel_id.lower()},
        "message": {},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [{"action_ts": f"{time.time():.6f}", **action}],
        "is_enterprise_install": False,
    }


def event_callback(event: JsonDict, app_id: str = "A1") -> JsonDict:
    """The Events API envelope an ``events_api`` Socket Mode envelope carries."""
    now = time.time()
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": "T1",
        "api_app_id": app_id,
        "event": {"event_ts": f"{now:.6f}", **event},
        "type": "event_callback",
        "event_id": f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(now),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": "T1",
                "user_id": "UBOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{uuid.uuid4().hex}",
    }
