"""Slack's Web API over connections kept open between calls.

slack_sdk's WebClient sends each call through `urllib`, on a new connection that it
closes after the answer: against slack.com every `views.open` pays a TCP and a TLS
handshake before Slack even reads the view, and the CPU to set them up. Here the calls
go over `http.client` connections kept in a small pool per origin, as a browser or
httpx would keep them (httpx itself costs three times urllib's CPU per call; the bare
`http.client` connection a third less than urllib: docs/performance.md).

What urllib did and callers rely on stays: a status outside 2xx raises `HTTPError`
(slack_sdk's retry handlers read it), an error before the answer is a `URLError`, the
answer's headers are an `HTTPMessage`. What changes besides: no redirect is followed
(Slack's Web API does not redirect, and following one would carry the token to
another host), and an answer is read only up to `MAX_ANSWER_BYTES`.
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
import time
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.errors import SlackRequestError

#: Web API answers are JSON of a few KiB (conversations.history of 1 000 messages: ~1 MiB)
MAX_ANSWER_BYTES = 32 * 1024 * 1024
#: a connection idle longer than this is closed rather than reused: well under the idle
#: timeouts of common HTTP front ends (60 to 75 s), so Slack does not close it as we send
IDLE_EXPIRY_SECONDS = 15.0
#: idle connections kept per origin; a burst past this opens (and then closes) more
MAX_IDLE = 16

Connection = http.client.HTTPConnection


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes


class ConnectionPool:
    """Idle connections to one origin (scheme, host, port), the most recent first."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        timeout: float,
        context: ssl.SSLContext | None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.scheme, self.host, self.port = scheme, host, port
        self.timeout = timeout
        self.context = context
        self.max_answer_bytes = max_answer_bytes
        self._idle: list[tuple[Connection, float]] = []
        self._lock = threading.Lock()

    def send(self, path: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        """POST `body` to `path`; the connection goes back to the pool once read whole."""
        connection = self._take()
        try:
            try:
                connection.request("POST", path, body=body, headers=headers)
            except OSError as exc:
                raise URLError(exc) from exc  # as urllib says it: callers retry on URLError
            response = connection.getresponse()
            data = response.read(self.max_answer_bytes + 1)
            if len(data) > self.max_answer_bytes:
                raise SlackRequestError(
                    f"Slack's answer is larger than {self.max_answer_bytes} bytes"
                )
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._give_back(connection)
        return Answer(response.status, response.reason, response.msg, data)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection, _ in idle:
            connection.close()

    def _take(self) -> Connection:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._idle:
                    break
                connection, since = self._idle.pop()
            if now - since < IDLE_EXPIRY_SECONDS and _still_open(connection):
                return connection
            connection.close()
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self.context
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _give_back(self, connection: Connection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append((connection, time.monotonic()))
                return
        connection.close()


def _still_open(connection: Connection) -> bool:
    """An idle connection with something to read has been closed by the other end (or
    holds bytes nobody asked for): either way it is not reused."""
    sock = connection.sock
    if sock is None:
        return False
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable


class KeptAliveWebClient(WebClient):
    """A WebClient whose calls reuse their connections (see the module's docstring)."""

    def __init__(self, *args: Any, max_answer_bytes: int = MAX_ANSWER_BYTES, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_answer_bytes = max_answer_bytes
        self._pools: dict[tuple[str, str, int | None], ConnectionPool] = {}
        self._pools_lock = threading.Lock()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in ("http", "https") or not parts.hostname:
            return super()._perform_urllib_http_request_internal(url, req)  # type: ignore[no-any-return]
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(req.header_items())
        body = req.data if isinstance(req.data, bytes) else None
        answer = self._pool(parts.scheme, parts.hostname, parts.port).send(path, body, headers)
        if not 200 <= answer.status < 300:
            raise HTTPError(url, answer.status, answer.reason, answer.headers, BytesIO(answer.body))
        if answer.headers.get_content_type() == "application/gzip":
            return {"status": answer.status, "headers": answer.headers, "body": answer.body}
        charset = answer.headers.get_content_charset() or "utf-8"
        return {
            "status": answer.status,
            "headers": answer.headers,
            "body": answer.body.decode(charset),
        }

    def close(self) -> None:
        """Closes the idle connections (a call made afterwards opens new ones)."""
        with self._pools_lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()

    def _pool(self, scheme: str, host: str, port: int | None) -> ConnectionPool:
        key = (scheme, host, port)
        with self._pools_lock:
            pool = self._pools.get(key)
            if pool is None:
                # one TLS context for every connection (urllib loads the CA bundle per call)
                context = (self.ssl or ssl.create_default_context()) if scheme == "https" else None
                pool = ConnectionPool(
                    scheme, host, port, self.timeout, context, self.max_answer_bytes
                )
                self._pools[key] = pool
            return pool
