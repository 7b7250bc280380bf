"""The sandbox helpdesk served over HTTP on 127.0.0.1: the Epixel API under `/api/v1/`
and the web page at `/`, from one stdlib `ThreadingHTTPServer`."""

from __future__ import annotations

import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.sandbox.api import Account, Api, json_reply
from bot.sandbox.db import Row, SandboxDB
from bot.sandbox.requests import Reply, read_request
from bot.sandbox.web import AGENT, PageInfo, WebPages, add_agent_reply

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
DB_NAME = "sandbox.sqlite3"
#: the documented credentials of the one sandbox account (public: a local test desk)
API_KEY = "sandbox-api-key"
USERNAME = "bot@sandbox.local"
PASSWORD = "sandbox-password"  # noqa: S105


def default_db() -> str:
    """The sandbox's SQLite file in the user's data directory (XDG), never the working
    directory: `$XDG_DATA_HOME/ticket-bot/`, else `~/.local/share/ticket-bot/`."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    folder = os.path.join(base, "ticket-bot")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return os.path.join(folder, DB_NAME)


class Sandbox:
    """A local helpdesk speaking the Epixel support API, with a web page for agents.

    `db_path`: an SQLite file (kept between runs) or ":memory:"; `port`: 0 for any free one.
    """

    def __init__(self, db_path: str = ":memory:", port: int = 0) -> None:
        self.db_path = db_path
        self.port = port
        self.account = Account(API_KEY, USERNAME, PASSWORD)
        self.db = SandboxDB(db_path)
        self.api = Api(self.db, self.account)
        self.pages = WebPages(self.db, PageInfo("", self.account))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Sandbox:
        """Listen on 127.0.0.1 and serve on a background thread; `OSError` if the port is taken."""
        handler = type("SandboxHandler", (_Handler,), {"sandbox": self})
        server = _Server(("127.0.0.1", self.port), handler)
        self._server = server
        self.port = int(server.server_address[1])
        self.pages.info.api_url = self.base_url
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
        self.db.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- where and who ---------------------------------------------------------

    @property
    def web_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://127.0.0.1:{self.port}/"

    @property
    def base_url(self) -> str:
        """The API's base URL, prefix and version included (TICKET_API_URL)."""
        return self.web_url.rstrip("/") + API_PREFIX

    @property
    def api_key(self) -> str:
        return self.account.api_key

    @property
    def username(self) -> str:
        return self.account.username

    @property
    def password(self) -> str:
        return self.account.password

    def bot_settings(self) -> dict[str, str]:
        """The TICKET_* settings that make the bot use this sandbox."""
        return {
            "TICKET_BACKEND": "epixel",
            "TICKET_API_URL": self.base_url,
            "TICKET_API_KEY": self.api_key,
            "TICKET_API_USERNAME": self.username,
            "TICKET_API_PASSWORD": self.password,
        }

    # -- what an agent does ------------------------------------------------------

    def add_agent_reply(
        self,
        ticket_id: int,
        text: str,
        author: str = AGENT,
        attachment: tuple[str, bytes] | None = None,
    ) -> int:
        """A reply written by an agent (with a file if given); its conversation id.
        `KeyError` when there is no such ticket."""
        return add_agent_reply(self.db, ticket_id, text, author, attachment)

    def set_status(self, ticket_id: int, status: int) -> None:
        """1 Open, 2 Processing, 3 Closed, as an agent sets it."""
        if str(status) not in ("1", "2", "3"):
            raise ValueError(f"status {status} is not 1, 2 or 3")
        if self.db.ticket(ticket_id) is None:
            raise KeyError(f"no ticket {ticket_id}")
        self.db.set_status(ticket_id, str(status))

    def tickets(self) -> list[Row]:
        """Every ticket, newest first: id, subject, priority, category, category_title,
        comment, status, author, tags (ids as in the API: status and priority are strings)."""
        return self.db.tickets()

    # -- serving -----------------------------------------------------------------

    def serve(self, handler: BaseHTTPRequestHandler) -> Reply:
        try:
            request = read_request(handler)
        except (ValueError, UnicodeDecodeError) as exc:
            return json_reply(400, {"detail": f"Malformed request: {type(exc).__name__}"})
        if request.path.startswith(API_PREFIX):
            return self.api.handle(request, request.path[len(API_PREFIX) :])
        return self.pages.handle(request)


class _Handler(BaseHTTPRequestHandler):
    sandbox: Sandbox
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server_version = "ticket-bot-sandbox"

    def do_GET(self) -> None:
        try:
            reply = self.sandbox.serve(self)
        except Exception:
            log.exception("sandbox: %s %s failed", self.command, self.path.split("?")[0])
            reply = json_reply(500, {"detail": "A server error occurred."})
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox: %s", format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
