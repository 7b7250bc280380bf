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
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redis

from bot.store import ThreadRef as ThreadRef
from tests.servers.django_helpdesk import server

if TYPE_CHECKING:
    from tests.support.harness import Harness


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

    def queues_setting(self) -> str:
        """DJANGO_HELPDESK_QUEUES for this server."""
        return ",".join(f"{qid}={title}" for qid, title in self.queues.items())


class Agent:
    """A person working in the helpdesk: plain API calls with the staff token, as the
    helpdesk's own pages would make them (followups, so that its webhooks fire)."""

    def __init__(self, helpdesk: DjangoHelpdesk) -> None:
        self.http = httpx.Client(
            base_url=helpdesk.api_url, headers={"Authorization": f"Token {helpdesk.token}"}
        )

    def followup(self, ticket_id: str, comment: str, **extra: Any) -> dict[str, Any]:
        response = self.http.post(
            "followups/", json={"ticket": int(ticket_id), "comment": comment, **extra}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def followup_with_file(
        self, ticket_id: str, comment: str, filename: str, content: bytes
    ) -> dict[str, Any]:
        form = {"ticket": ticket_id, "comment": comment, "public": "true"}
        files = {"attachments": (filename, content, "application/octet-stream")}
        response = self.http.post("followups/", data=form, files=files)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        response = self.http.get(f"tickets/{ticket_id}/")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def close(self) -> None:
        self.http.close()


class BotBackend:
    """The real server in the shape tests/support/harness.py takes for a helpdesk
    (nothing to start or stop: the session runs it); `agent` acts in it."""

    def __init__(self, helpdesk: DjangoHelpdesk) -> None:
        self.server = helpdesk
        self.agent = Agent(helpdesk)

    def start(self) -> BotBackend:
        return self

    def stop(self) -> None:
        self.agent.close()

    def bot_settings(self) -> dict[str, str]:
        return {
            "TICKET_BACKEND": "django-helpdesk",
            "TICKET_API_URL": self.server.api_url,
            "TICKET_API_TOKEN": self.server.token,
        }


SEEDED_QUEUES = {1: "IT Support", 2: "Facilities"}
UNAVAILABLE = "django-helpdesk cannot run on this machine: "


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Every test skipped for want of the server is reported on one line (-ra folds
    skips of one place and reason), not one line per test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    longrepr = report.longrepr
    if (
        report.skipped
        and isinstance(longrepr, tuple)
        and longrepr[2].startswith("Skipped: " + UNAVAILABLE)
    ):
        report.longrepr = (__file__, 0, longrepr[2])


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
        pytest.skip(f"{UNAVAILABLE}{exc}")
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


WEBHOOK_SECRET = "test-webhook-secret-0123456789"


@pytest.fixture()
def django_helpdesk_bot(
    django_helpdesk: DjangoHelpdesk,
    redis_url: str,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Harness]:
    """The whole bot on the real django-helpdesk, its webhooks pointed at the bot.

    TICKET_SYNC_INTERVAL is 60 and no poll loop runs (the harness's worker only drains
    the outbox): what comes back from the helpdesk comes through the webhooks."""
    with django_helpdesk_bot_running(django_helpdesk, redis_url, redis_prefix, monkeypatch) as live:
        yield live


@contextmanager
def django_helpdesk_bot_running(
    django_helpdesk: DjangoHelpdesk,
    redis_url: str,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    **settings: Any,
) -> Iterator[Harness]:
    """`django_helpdesk_bot` with more `settings` (TICKET_AGENT_CHANNEL, …)."""
    from tests.support.harness import running_bot

    monkeypatch.setenv("DJANGO_HELPDESK_QUEUES", django_helpdesk.queues_setting())
    backend = BotBackend(django_helpdesk)
    with running_bot(
        redis_url,
        redis_prefix,
        helpdesk=backend,
        TICKET_SYNC_INTERVAL="60",
        TICKET_WEBHOOK_SECRET=WEBHOOK_SECRET,
        **settings,
    ) as live:
        hook = f"{live.url}/hooks/django-helpdesk/{WEBHOOK_SECRET}"
        django_helpdesk.set_webhooks(new_ticket=hook, followup=hook)
        try:
            yield live
        finally:
            django_helpdesk.set_webhooks()
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{redis_prefix}:*"):
        client.delete(key)


def create_through_slack(live: Harness, subject: str, **answers: Any) -> tuple[Any, str, ThreadRef]:
    """`/ticket new` → the modal → submitted → the card; (card call, ticket id, thread)."""
    from tests.support.flows import open_form, submit
    from tests.support.outbound import wait_until

    view = open_form(live, subject)
    filled = {
        "description_input": "Cannot connect since 9am",
        "category_input": "2",
        "priority_input": "2",
        **answers,
    }
    response = submit(live, view, **filled)
    assert response.status_code == 200
    card = live.slack.wait_for("chat.postMessage")[0]
    thread = ThreadRef(card.response["channel"], card.response["ts"])
    ticket_id = wait_until(lambda: live.store.ticket_for_thread(thread), what="the card's link")
    return card, str(ticket_id), thread
