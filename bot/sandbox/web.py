"""The sandbox helpdesk's web page, as an agent sees it: the tickets, one ticket with its
conversation, a reply (with a file), and status changes. Server-rendered HTML from
jinja2 templates with autoescaping; plain forms, POST then redirect."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import jinja2

from bot.sandbox.api import Account, content_disposition
from bot.sandbox.db import SandboxDB
from bot.sandbox.requests import MAX_ATTACHMENT_BYTES, Reply, Request

AGENT = "agent@sandbox.local"
STATUS_NAMES = {"1": "Open", "2": "Processing", "3": "Closed"}
PRIORITY_NAMES = {"1": "Low", "2": "Medium", "3": "High"}


@dataclass
class PageInfo:
    """What the pages tell about reaching the API (shown on the ticket list)."""

    api_url: str
    account: Account


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bot.sandbox", "templates"),
        autoescape=True,  # every value is HTML-escaped unless marked safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, status: int = 200, **values: Any) -> Reply:
    values |= {"status_names": STATUS_NAMES, "priority_names": PRIORITY_NAMES}
    html = _environment().get_template(name).render(**values)
    return Reply(status, html.encode(), "text/html; charset=utf-8")


def redirect(location: str) -> Reply:
    return Reply(303, b"", "text/plain", {"Location": location})


def not_found() -> Reply:
    return render("sandbox_message.html.j2", 404, title="Not found", message="No such page.")


def same_origin(request: Request) -> bool:
    """False for a form another site's page made the browser post here (CSRF): what
    the sandbox posts becomes agent replies in Slack threads. Clients that send
    neither Origin nor Referer (curl, scripts) are not browsers run by a stranger."""
    sent_from = request.header("Origin") or request.header("Referer")
    if not sent_from:
        return request.header("Sec-Fetch-Site") in ("", "same-origin", "none")
    return urlsplit(sent_from).netloc == request.header("Host")


def add_agent_reply(
    db: SandboxDB,
    ticket_id: int,
    text: str,
    author: str = AGENT,
    attachment: tuple[str, bytes] | None = None,
) -> int:
    """A conversation written by an agent, as the bot's poller will find it."""
    if db.ticket(ticket_id) is None:
        raise KeyError(f"no ticket {ticket_id}")
    file = None
    if attachment is not None:
        guessed = mimetypes.guess_type(attachment[0])[0]
        file = (*attachment, guessed or "application/octet-stream")
    return db.add_conversation(ticket_id, text, author, file)


class WebPages:
    def __init__(self, db: SandboxDB, info: PageInfo) -> None:
        self.db = db
        self.info = info

    def handle(self, request: Request) -> Reply:
        path = request.path
        if request.method == "POST" and not same_origin(request):
            return render(
                "sandbox_message.html.j2",
                403,
                title="Refused",
                message="This form was sent from another site. Use the sandbox's own page.",
            )
        if path == "/" and request.method == "GET":
            return self._index(request.query.get("status", ""))
        found = re.fullmatch(r"/(tickets|attachments)/(\d+)(?:/|/(reply|status)/?)?", path)
        if found is None:
            return not_found()
        kind, number, action = found.group(1), int(found.group(2)), found.group(3)
        if kind == "attachments" and action is None and request.method == "GET":
            return self._attachment(number)
        if kind == "tickets" and action is None and request.method == "GET":
            return self._ticket(number)
        if kind == "tickets" and action == "reply" and request.method == "POST":
            return self._reply(number, request)
        if kind == "tickets" and action == "status" and request.method == "POST":
            return self._status(number, request)
        return not_found()

    def _index(self, status: str) -> Reply:
        status = status if status in STATUS_NAMES else ""
        tickets = self.db.tickets(status=status or None)
        counts: dict[int, int] = {}
        for conversation in self.db.conversations():
            counts[conversation["ticket"]] = counts.get(conversation["ticket"], 0) + 1
        return render(
            "sandbox_index.html.j2",
            tickets=tickets,
            counts=counts,
            shown_status=status,
            info=self.info,
        )

    def _ticket(self, ticket_id: int, error: str = "", status: int = 200) -> Reply:
        ticket = self.db.ticket(ticket_id)
        if ticket is None:
            return not_found()
        attachments = self.db.attachments(ticket_id)
        by_conversation: dict[int | None, list[dict[str, Any]]] = {}
        for attachment in attachments:
            by_conversation.setdefault(attachment["conversation_id"], []).append(attachment)
        tag_names = {row["id"]: row["tag"] for row in self.db.tags()}
        return render(
            "sandbox_ticket.html.j2",
            status,
            ticket=ticket,
            tags=[tag_names.get(tag_id, str(tag_id)) for tag_id in ticket["tags"]],
            conversations=self.db.conversations(ticket_id),
            attachments=by_conversation,
            error=error,
            agent=AGENT,
        )

    def _reply(self, ticket_id: int, request: Request) -> Reply:
        if self.db.ticket(ticket_id) is None:
            return not_found()
        text = (request.one("text") or "").strip()
        author = (request.one("author") or "").strip() or AGENT
        upload = request.files.get("attachment")
        if not text:
            return self._ticket(ticket_id, "Write a reply first.", 400)
        if upload is not None and len(upload.content) > MAX_ATTACHMENT_BYTES:
            return self._ticket(ticket_id, "File is too big. Max filesize: 2MiB.", 400)
        file = None if upload is None else (upload.filename, upload.content, upload.content_type)
        self.db.add_conversation(ticket_id, text, author, file)
        return redirect(f"/tickets/{ticket_id}/")

    def _status(self, ticket_id: int, request: Request) -> Reply:
        if self.db.ticket(ticket_id) is None:
            return not_found()
        wanted = request.one("status") or ""
        if wanted not in STATUS_NAMES:
            return self._ticket(ticket_id, "Choose Open, Processing or Closed.", 400)
        self.db.set_status(ticket_id, wanted)
        return redirect(f"/tickets/{ticket_id}/")

    def _attachment(self, attachment_id: int) -> Reply:
        found = self.db.attachment(attachment_id)
        if found is None:
            return not_found()
        headers = {
            "Content-Disposition": content_disposition(found["filename"]),
            "X-Content-Type-Options": "nosniff",  # a download, never a page of this origin
        }
        return Reply(200, found["content"], found["content_type"], headers)
