"""Helpdesk webhooks: `POST /hooks/<backend>/<secret>` → a sync job for the ticket named.

A helpdesk that pushes (django-helpdesk) signs nothing, so the payload is not trusted:
the secret in the path (TICKET_WEBHOOK_SECRET, at least 16 characters) says the caller
knows it, and the payload only says which ticket to read again through the API
(`PushingGateway.webhook_ticket_id`). The job goes into the outbox like every other side
effect, and the worker runs the poller's own code for that ticket (`Poller.sync_ticket`),
under the same lease and cursor: a reply is never posted twice, whichever of the push and
the poll comes first, and the poll stays the safety net for a push that never came.

The answer is quick (one Redis write), since django-helpdesk waits for it while the agent
waits for their page: 202 when a job was queued, 200 when the ticket is not linked to a
thread (nothing to do), 404 for a wrong path or secret or when webhooks are off, 400
for a payload that names no ticket, 413 past MAX_BODY.
"""

from __future__ import annotations

import hmac
import logging
from typing import NamedTuple

from bot.gateway import PushingGateway, TicketGateway
from bot.runtime.settings import Settings
from bot.store import Store
from bot.sync.observe import SyncObserver
from bot.sync.outbox import Outbox, SyncJob

log = logging.getLogger(__name__)

PREFIX = "/hooks/"
#: django-helpdesk's payload holds the whole ticket with all its followups
MAX_BODY = 8 * 1024 * 1024


class Answer(NamedTuple):
    status: str
    text: str


NOT_FOUND = Answer("404 Not Found", "not found")


class WebhookReceiver:
    def __init__(
        self,
        backend: str,
        secret: str | None,
        gateway: TicketGateway,
        store: Store,
        observe: SyncObserver | None = None,
    ) -> None:
        self.path = f"{PREFIX}{backend}/"
        self.secret = secret or ""
        self.gateway = gateway if isinstance(gateway, PushingGateway) else None
        self.store = store
        self.outbox = Outbox(store)
        self.observe = observe or SyncObserver()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        gateway: TicketGateway,
        store: Store,
        observe: SyncObserver | None = None,
    ) -> WebhookReceiver:
        secret = settings.TICKET_WEBHOOK_SECRET
        return cls(
            settings.TICKET_BACKEND.value,
            secret.get_secret_value() if secret else None,
            gateway,
            store,
            observe,
        )

    def handles(self, path: str) -> bool:
        return path.startswith(PREFIX)

    def receive(self, method: str, path: str, body: bytes | None) -> Answer:
        """`body` None: longer than MAX_BODY (the caller stopped reading)."""
        answer = self._answer(method, path, body)
        self.observe.webhook(answer.status.split()[0])
        return answer

    def _answer(self, method: str, path: str, body: bytes | None) -> Answer:
        if not self._authorised(path) or self.gateway is None:
            return NOT_FOUND
        if method != "POST":
            return Answer("405 Method Not Allowed", "POST only")
        if body is None:
            return Answer("413 Content Too Large", "payload too large")
        ticket_id = self.gateway.webhook_ticket_id(body)
        if ticket_id is None:
            log.warning("a webhook named no ticket; ignored")
            return Answer("400 Bad Request", "the payload names no ticket")
        if self.store.thread_for_ticket(ticket_id) is None:
            return Answer("200 OK", "ticket not linked to a thread")
        self.outbox.put(SyncJob(ticket_id=ticket_id))
        log.debug("webhook: ticket %s queued for sync", ticket_id)
        return Answer("202 Accepted", "queued")

    def _authorised(self, path: str) -> bool:
        if len(self.secret) < 16 or not path.startswith(self.path):
            return False
        given = path[len(self.path) :].rstrip("/")
        return hmac.compare_digest(given.encode(), self.secret.encode())
