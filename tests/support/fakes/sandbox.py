"""The sandbox helpdesk (bot/sandbox) behind FakeEpixel's test hooks, for the contract
tests: every request reaches the real sandbox through a small proxy that records it and
can fail, delay or hang it (`requests`, `fail_next`, `hang_next`, `delay`) — faults a
helpdesk for people must not have. The rest of the hooks (`add_ticket`, `tickets`,
`conversations`, `attachments`, `expire_tokens`, a static `token`, a changed
`password`, `open_ticket_limit`) read and write the sandbox's own database.

Not available: `locked_tickets` (the sandbox has no lock a status change runs into).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.sandbox import Sandbox
from tests.support.fakes.epixel import FakeEpixel, RecordedRequest
from tests.support.fakes.serving import Reply

#: request headers not passed on to the sandbox
HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


class _Tickets(Mapping[int, dict[str, Any]]):
    """`fake.tickets[id]` as FakeEpixel has it: priority and status as strings."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def __getitem__(self, ticket_id: int) -> dict[str, Any]:
        ticket = self.sandbox.db.ticket(ticket_id)
        if ticket is None:
            raise KeyError(ticket_id)
        return ticket

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(row["id"] for row in self.sandbox.tickets()))

    def __len__(self) -> int:
        return len(self.sandbox.tickets())


class SandboxBehindProxy(FakeEpixel):
    def __init__(self) -> None:
        self.sandbox = Sandbox(":memory:")
        self._client = httpx.Client(timeout=10)
        super().__init__(
            api_key=self.sandbox.api_key,
            username=self.sandbox.username,
            password=self.sandbox.password,
        )

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> SandboxBehindProxy:
        self.sandbox.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self._client.close()
        if self.sandbox._server is not None:
            self.sandbox.stop()

    def reset(self) -> None:
        with self._lock:
            self.requests = []
            self.locked_tickets = set()
            self.delay = 0.0
            self._failures = []
            self._hangs = []

    # -- the account --------------------------------------------------------------

    @property  # type: ignore[override]
    def password(self) -> str:
        return self.sandbox.account.password

    @password.setter
    def password(self, value: str) -> None:
        self.sandbox.account.password = value

    @property  # type: ignore[override]
    def open_ticket_limit(self) -> int:
        return self.sandbox.account.open_ticket_limit

    @open_ticket_limit.setter
    def open_ticket_limit(self, value: int) -> None:
        self.sandbox.account.open_ticket_limit = value

    @property  # type: ignore[override]
    def token(self) -> str | None:
        return self._static_token

    @token.setter
    def token(self, value: str | None) -> None:
        """A token issued earlier, outside the test."""
        self._static_token = value
        if value:
            self.sandbox.db.add_token(value, self.sandbox.username)

    def expire_tokens(self) -> None:
        with self._lock:
            self.expired_tokens.update(self.issued_tokens)
            for token in self.issued_tokens:
                self.sandbox.db.remove_token(token)

    # -- the data, read and written in the sandbox's database ------------------------

    @property
    def tickets(self) -> Mapping[int, dict[str, Any]]:  # type: ignore[override]
        return _Tickets(self.sandbox)

    @property
    def categories(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.sandbox.db.categories()

    @property
    def conversations(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.sandbox.db.conversations()

    @property
    def attachments(self) -> dict[int, dict[str, Any]]:  # type: ignore[override]
        rows = (self.sandbox.db.attachment(row["id"]) for row in self.sandbox.db.attachments())
        return {row["id"]: row for row in rows if row is not None}

    def add_ticket(
        self,
        subject: str,
        comment: str = "Added by the test.",
        *,
        priority: int = 2,
        category: int = 1,
        status: int = 1,
        tags: Iterable[int] = (),
        author: str | None = None,
    ) -> int:
        return self.sandbox.db.add_ticket(
            subject,
            comment,
            priority=str(priority),
            category=category,
            status=str(status),
            tags=list(tags),
            author=author or self.sandbox.username,
        )

    def add_agent_conversation(
        self,
        ticket_id: int,
        comment: str,
        author: str = "agent@example.com",
        attachment: tuple[str, bytes] | None = None,
    ) -> int:
        return self.sandbox.add_agent_reply(ticket_id, comment, author, attachment)

    def set_status(self, ticket_id: int, status: int) -> None:
        self.sandbox.set_status(ticket_id, status)

    def _store_attachment(
        self,
        ticket_id: int,
        conversation_id: int | None,
        filename: str,
        content: bytes,
        content_type: str = "application/octet-stream",
    ) -> int:
        file = (filename, content, content_type)
        return self.sandbox.db.add_attachment(ticket_id, conversation_id, file)

    # -- the proxy -------------------------------------------------------------------

    def _dispatch(self, request: RecordedRequest) -> Reply:
        url = self.sandbox.web_url.rstrip("/") + request.path
        if request.query:
            url += "?" + urlencode(request.query)
        headers = {k: v for k, v in request.headers.items() if k not in HOP_BY_HOP}
        response = self._client.request(request.method, url, headers=headers, content=request.body)
        if request.route == "user/login/" and response.status_code == 200:
            self.issued_tokens.append(response.json()["access"])
        passed = {
            name: response.headers[name]
            for name in ("content-disposition",)
            if name in response.headers
        }
        content_type = response.headers.get("content-type", "application/json")
        return Reply(response.status_code, response.content, content_type, passed)
