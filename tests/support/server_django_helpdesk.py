"""The real django-helpdesk the tests talk to (session-scoped).

CI starts it before pytest (`tests/servers/django_helpdesk/server.py start --shell`) and
exports TEST_DJANGO_HELPDESK_URL / TEST_DJANGO_HELPDESK_TOKEN; without them the fixture
starts it itself from the same script (about 15 s the first time, 3 s once installed) and
stops it at the end. When it cannot be installed here, every test that needs it is skipped
with one line saying why.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.servers.django_helpdesk import server


@dataclass(frozen=True)
class DjangoHelpdesk:
    url: str  # the site root, http://127.0.0.1:PORT/
    token: str  # a staff user's DRF token
    queues: dict[int, str] = field(default_factory=dict)  # queue id -> title

    @property
    def api_url(self) -> str:
        return self.url + "helpdesk/api/"

    def set_webhooks(self, new_ticket: str = "", followup: str = "") -> None:
        """Points the server's webhooks at these URLs (empty: off) until the next call."""
        server.set_webhooks(self.url, new_ticket=new_ticket, followup=followup)


SEEDED_QUEUES = {1: "IT Support", 2: "Facilities"}


@pytest.fixture(scope="session")
def django_helpdesk() -> Iterator[DjangoHelpdesk]:
    given = os.environ.get("TEST_DJANGO_HELPDESK_URL")
    if given:
        queues = json.loads(os.environ.get("TEST_DJANGO_HELPDESK_QUEUES") or "[]")
        yield DjangoHelpdesk(
            url=given.rstrip("/") + "/",
            token=os.environ.get("TEST_DJANGO_HELPDESK_TOKEN", "agent-token-loopback"),
            queues={int(q["id"]): str(q["title"]) for q in queues} or SEEDED_QUEUES,
        )
        return
    was_running = server.running() is not None
    try:
        started = server.start()
    except server.ServerUnavailable as exc:
        pytest.skip(f"django-helpdesk cannot run on this machine: {exc}")
    helpdesk = DjangoHelpdesk(
        url=started.url,
        token=started.token,
        queues={int(str(q["id"])): str(q["title"]) for q in started.queues},
    )
    try:
        yield helpdesk
    finally:
        helpdesk.set_webhooks()
        if not was_running:
            server.stop()
