"""What every fake helpdesk shares: an HTTP server on a free loopback port, in a thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # bursts of concurrent requests must not be reset


class FakeHttpServer:
    """Start/stop and `with` for a fake; its handler class reads the fake as `fake`."""

    def __init__(self) -> None:
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

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The fake's request handler; each request reaches the fake as `self.fake`."""
        raise NotImplementedError

    def start(self) -> Self:
        name = type(self).__name__.removeprefix("Fake") + "Handler"
        handler = type(name, (self.handler_class(),), {"fake": self})
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
