"""HTTP servers on loopback for the console: the fake Slack's Web API, and the Bolt app."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot.runtime.console.fake_slack import ApiError, ConsoleSlack

JSON_FIELDS = frozenset({"blocks", "attachments", "view", "files", "metadata"})


class _SlackServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    slack: ConsoleSlack


class _SlackHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: headers and body go out in two writes; with Nagle on, a kept-alive client's
    #: delayed ACK holds the body 40 ms (Slack's own servers answer at once)
    disable_nagle_algorithm = True
    server: _SlackServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = url.path.strip("/").split("/")
        slack = self.server.slack
        if parts[0] == "api" and len(parts) == 2:
            args = parse_args(url.query, body, self.headers.get("Content-Type", ""))
            token = _bearer(self.headers.get("Authorization", "")) or args.get("token")
            self._json(slack.call(parts[1], args, token))
        elif parts[0] == "response":
            self._response_url(body)
        elif parts[0] == "upload" and len(parts) == 2:
            ok = slack.receive_upload(parts[1], body)
            self._send(200 if ok else 404, b"OK" if ok else b"Not Found", "text/plain")
        elif parts[0] == "files" and len(parts) >= 2:
            content = slack.download(parts[1], _bearer(self.headers.get("Authorization", "")))
            self._send(
                200 if content is not None else 404, content or b"", "application/octet-stream"
            )
        else:
            self._send(404, b"Not Found", "text/plain")

    def _response_url(self, body: bytes) -> None:
        try:
            self.server.slack.respond(json.loads(body or b"{}"))
        except ValueError:
            self._send(400, b"invalid_payload", "text/plain")
        except ApiError as exc:
            self._send(400, exc.error.encode(), "text/plain")
        else:
            self._send(200, b"ok", "text/plain")

    def _json(self, payload: dict[str, Any]) -> None:
        self._send(200, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def parse_args(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Query string and body, form-encoded or JSON, as Slack reads a Web API call."""
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if content_type.startswith("application/json"):
        parsed = json.loads(body or b"{}")
        args.update(parsed if isinstance(parsed, dict) else {})
    elif body:
        args.update(parse_qsl(body.decode(), keep_blank_values=True))
    return {key: _json_field(key, value) for key, value in args.items()}


def _json_field(key: str, value: Any) -> Any:
    if key in JSON_FIELDS and isinstance(value, str) and value[:1] in {"[", "{"}:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _bearer(header: str) -> str | None:
    return header.removeprefix("Bearer ") if header.startswith("Bearer ") else None


def serve_slack(slack: ConsoleSlack) -> ThreadingHTTPServer:
    server = _SlackServer(("127.0.0.1", 0), _SlackHandler)
    server.slack = slack
    slack.base_url = f"http://127.0.0.1:{server.server_port}"
    _in_thread(server, "console-slack")
    return server


class _AppServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 64


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def serve_app(wsgi_app: Any) -> WSGIServer:
    """The bot's WSGI app (POST /slack/events) on a loopback port, as `serve` would run it."""
    server = make_server("127.0.0.1", 0, wsgi_app, _AppServer, _QuietHandler)
    _in_thread(server, "console-app")
    return server


def _in_thread(server: Any, name: str) -> None:
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), name=name, daemon=True)
    thread.start()
