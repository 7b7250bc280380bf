"""What every fake helpdesk shares: an HTTP server on a free loopback port, in a thread,
and the way a reply is written."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from tests.support.fakes.epixel import RecordedRequest


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, body: Any) -> Reply:
    return Reply(status, json.dumps(body).encode())


@dataclass
class Fault:
    """The next `remaining` requests whose path contains `path_contains` (any when None)."""

    remaining: int
    path_contains: str | None
    status: int = 503
    seconds: float = 0.0

    def take(self, path: str) -> bool:
        if self.remaining > 0 and (self.path_contains is None or self.path_contains in path):
            self.remaining -= 1
            return True
        return False


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # bursts of concurrent requests must not be reset


class FakeHttpServer:
    """Start/stop and `with` for a fake (its handler class reads the fake as `fake`), and
    the faults tests steer: a delay on every request, failures and hangs of the next ones."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        #: set while stopping: wakes requests sleeping in a delay or a hang
        self._stopping = threading.Event()
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:<port>`, once started."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def serve(self, handler: BaseHTTPRequestHandler) -> Reply:
        """The reply to the request `handler` holds; ValueError when it is malformed."""
        raise NotImplementedError

    def malformed(self, exc: ValueError) -> Reply:
        """The reply to a request `serve` could not read, in the helpdesk's error shape."""
        raise NotImplementedError

    def start(self) -> Self:
        name = type(self).__name__.removeprefix("Fake") + "Handler"
        handler = type(name, (ReplyingHandler,), {"fake": self})
        self._stopping.clear()
        self._server = LoopbackServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------

    def _reset_faults(self) -> None:
        """No faults, no delay, no recorded requests; call from `reset`, the lock held."""
        self.requests: list[RecordedRequest] = []
        self.delay = 0.0
        self._failures: list[Fault] = []
        self._hangs: list[Fault] = []

    def fail_next(self, count: int, status: int = 503, path_contains: str | None = None) -> None:
        """The next `count` matching requests get `status` without being processed."""
        with self._lock:
            self._failures.append(Fault(count, path_contains, status=status))

    def hang_next(self, count: int, seconds: float, path_contains: str | None = None) -> None:
        """The next `count` matching requests wait `seconds`, then are processed as usual."""
        with self._lock:
            self._hangs.append(Fault(count, path_contains, seconds=seconds))

    def _admit(self, request: RecordedRequest) -> Fault | None:
        """Record `request` and wait out the delay and any hang set for it; the failure to
        answer with instead of processing it, when one is due."""
        with self._lock:
            self.requests.append(request)
            hang = next((h for h in self._hangs if h.take(request.path)), None)
            failure = next((f for f in self._failures if f.take(request.path)), None)
        if self.delay:
            self._stopping.wait(self.delay)
        if hang is not None:
            self._stopping.wait(hang.seconds)
        return failure


class ReplyingHandler(BaseHTTPRequestHandler):
    """Hands every request to the fake's `serve` and writes the `Reply` in one go."""

    fake: FakeHttpServer
    protocol_version = "HTTP/1.1"  # keep-alive, as behind a real server
    # One buffered write per response, sent at once: no Nagle/delayed-ACK stalls.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        try:
            reply = self.fake.serve(self)
        except ValueError as exc:
            reply = self.fake.malformed(exc)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (hang_next)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass
