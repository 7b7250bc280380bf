"""The django-helpdesk backend against a real django-helpdesk 2.6.1 (no fake of it).

The server is the session's (tests/support/server_django_helpdesk.py); its database
outlives a run, so every test makes its own tickets and never counts all of them.
What an agent does in the helpdesk is done here with plain API calls (`Agent`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from bot.gateway import (
    FileUpload,
    NewTicket,
    NotFound,
    OutcomeUnknown,
    Requester,
    StatusKind,
    Unauthorized,
    ValidationFailed,
)
from bot.gateway.django_helpdesk import (
    CLOSED,
    OPEN,
    PRIORITIES,
    REOPENED,
    RESOLVED,
    DjangoHelpdeskGateway,
    DjangoHelpdeskSettings,
)
from tests.support.server_django_helpdesk import Agent, DjangoHelpdesk

NORMAL = next(p for p in PRIORITIES if p.label == "Normal")
HIGH = next(p for p in PRIORITIES if p.label == "High")


def section(queues: Mapping[int, str]) -> DjangoHelpdeskSettings:
    """The DJANGO_HELPDESK_* settings as the environment would give them."""
    pairs = ",".join(f"{queue_id}={name}" for queue_id, name in queues.items())
    return DjangoHelpdeskSettings(_env_file=None, queues=pairs)  # type: ignore[call-arg]


@pytest.fixture()
def gateway(django_helpdesk: DjangoHelpdesk) -> Iterator[DjangoHelpdeskGateway]:
    gateway = DjangoHelpdeskGateway(
        django_helpdesk.api_url, django_helpdesk.token, settings=section(django_helpdesk.queues)
    )
    yield gateway
    gateway.close()


@pytest.fixture()
def agent(django_helpdesk: DjangoHelpdesk) -> Iterator[Agent]:
    agent = Agent(django_helpdesk)
    yield agent
    agent.close()


@pytest.fixture()
def webhooks_refused(django_helpdesk: DjangoHelpdesk) -> Iterator[None]:
    """Webhook URLs nobody listens on: django-helpdesk then answers 500 (an HTML page)
    although it made the ticket or followup."""
    nobody = "http://127.0.0.1:9/nobody"
    django_helpdesk.set_webhooks(new_ticket=nobody, followup=nobody)
    yield
    django_helpdesk.set_webhooks()


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def new_ticket(**changes: Any) -> NewTicket:
    fields: dict[str, Any] = {
        "subject": unique("VPN is down"),
        "description": "Cannot connect since 9am",
        "category_id": "2",
        "priority": HIGH,
        "requester": Requester(name="Alice", email="alice@example.com", slack_user_id="U1"),
    }
    fields.update(changes)
    return NewTicket(**fields)


def test_capabilities_name_the_helpdesks_statuses_and_priorities(
    gateway: DjangoHelpdeskGateway,
) -> None:
    caps = gateway.capabilities
    assert [s.name for s in caps.statuses] == [
        "Open",
        "Reopened",
        "Resolved",
        "Closed",
        "Duplicate",
    ]
    assert caps.closing_status() == CLOSED
    assert caps.reopening_status() == REOPENED
    assert caps.internal_notes
    assert [p.label for p in gateway.list_priorities()] == [
        "Critical",
        "High",
        "Normal",
        "Low",
        "Very Low",
    ]
    assert [(c.id, c.name) for c in gateway.list_categories()] == [
        ("1", "IT Support"),
        ("2", "Facilities"),
    ]


def test_create_reads_back_the_ticket_with_the_requester_as_submitter(
    gateway: DjangoHelpdeskGateway, agent: Agent
) -> None:
    new = new_ticket(reference="ref-123")
    ticket = gateway.create_ticket(new)
    assert ticket.subject == new.subject
    assert ticket.status == OPEN
    assert ticket.priority == HIGH
    assert (ticket.category_id, ticket.category_name) == ("2", "Facilities")
    stored = agent.ticket(ticket.id)
    assert stored["submitter_email"] == "alice@example.com"
    assert stored["priority"] == 2
    assert stored["queue"] == 2
    assert "Requested by Alice <alice@example.com> via Slack" in stored["description"]
    assert "Reference: ref-123" in stored["description"]
    detail = gateway.get_ticket(ticket.id)
    assert detail.conversations == []  # the opening followup is the description, not a reply


def test_create_without_priority_sends_normal(gateway: DjangoHelpdeskGateway, agent: Agent) -> None:
    ticket = gateway.create_ticket(new_ticket(priority=None, requester=None))
    assert ticket.priority == NORMAL
    assert agent.ticket(ticket.id)["submitter_email"] in ("", None)


def test_create_with_an_attachment_and_download_it(gateway: DjangoHelpdeskGateway) -> None:
    upload = FileUpload(filename="error.txt", content=b"line 1\n", content_type="text/plain")
    ticket = gateway.create_ticket(new_ticket(attachment=upload))
    detail = gateway.get_ticket(ticket.id)
    assert [a.filename for a in detail.attachments] == ["error.txt"]
    fetched = gateway.download_attachment(detail.attachments[0].id)
    assert (fetched.filename, fetched.content, fetched.content_type) == (
        "error.txt",
        upload.content,
        "text/plain",
    )


def test_replies_notes_and_agent_answers_come_back_as_conversations(
    gateway: DjangoHelpdeskGateway, agent: Agent
) -> None:
    ticket = gateway.create_ticket(new_ticket())
    gateway.add_conversation(ticket.id, "It still fails")
    agent.followup(ticket.id, "Checking the concentrator", public=False)
    agent.followup(ticket.id, "Please retry now", public=True)
    conversations = gateway.get_ticket(ticket.id).conversations
    assert [(c.text, c.public) for c in conversations] == [
        ("It still fails", True),
        ("Checking the concentrator", False),
        ("Please retry now", True),
    ]
    ids = [int(c.id) for c in conversations]
    assert ids == sorted(ids)
    assert agent.ticket(ticket.id)["title"] == ticket.subject  # never renamed by a followup


def test_an_internal_note_is_written_as_private(
    gateway: DjangoHelpdeskGateway, agent: Agent
) -> None:
    ticket = gateway.create_ticket(new_ticket())
    gateway.add_conversation(ticket.id, "Only for agents", public=False)
    followups = agent.ticket(ticket.id)["followup_set"]
    assert [(f["comment"], f["public"]) for f in followups[1:]] == [("Only for agents", False)]


def test_a_reply_with_a_file(gateway: DjangoHelpdeskGateway) -> None:
    ticket = gateway.create_ticket(new_ticket())
    photo = FileUpload(filename="photo.png", content=b"\x89PNG fake", content_type="image/png")
    gateway.add_conversation(ticket.id, "Here is a photo", photo)
    (conversation,) = gateway.get_ticket(ticket.id).conversations
    assert [a.filename for a in conversation.attachments] == ["photo.png"]
    assert gateway.download_attachment(conversation.attachments[0].id).content == photo.content


def test_close_and_reopen_are_followups_with_the_helpdesks_statuses(
    gateway: DjangoHelpdeskGateway, agent: Agent
) -> None:
    ticket = gateway.create_ticket(new_ticket())
    gateway.set_status(ticket.id, CLOSED)
    assert gateway.get_ticket(ticket.id).ticket.status == CLOSED
    gateway.set_status(ticket.id, REOPENED)
    detail = gateway.get_ticket(ticket.id)
    assert detail.ticket.status == REOPENED
    assert detail.conversations == []  # the bot's own status notes are not replies
    followups = agent.ticket(ticket.id)["followup_set"]
    assert [f["new_status"] for f in followups[1:]] == [4, 2]
    assert agent.ticket(ticket.id)["title"] == ticket.subject


def test_a_status_an_agent_sets_is_read_back_with_its_comment(
    gateway: DjangoHelpdeskGateway, agent: Agent
) -> None:
    ticket = gateway.create_ticket(new_ticket())
    agent.followup(ticket.id, "Fixed the certificate.", public=True, new_status=3)
    detail = gateway.get_ticket(ticket.id)
    assert detail.ticket.status == RESOLVED
    assert detail.ticket.status.kind is StatusKind.CLOSED
    assert [c.text for c in detail.conversations] == ["Fixed the certificate."]


def test_priority_change_is_read_back(gateway: DjangoHelpdeskGateway) -> None:
    ticket = gateway.create_ticket(new_ticket())
    gateway.update_ticket(ticket.id, priority=NORMAL)
    assert gateway.get_ticket(ticket.id).ticket.priority == NORMAL


def test_list_is_newest_first_with_pages_and_status_filters(
    gateway: DjangoHelpdeskGateway,
) -> None:
    made = [gateway.create_ticket(new_ticket()) for _ in range(3)]
    gateway.set_status(made[1].id, CLOSED)
    first = gateway.list_tickets(limit=2)
    assert [t.id for t in first.tickets] == [made[2].id, made[1].id]
    assert first.has_more
    second = gateway.list_tickets(offset=2, limit=2)
    assert second.tickets[0].id == made[0].id
    closed = gateway.list_tickets(status=StatusKind.CLOSED, limit=5)
    assert closed.tickets[0].id == made[1].id
    assert all(t.status.kind is StatusKind.CLOSED for t in closed.tickets)
    by_name = gateway.list_tickets(status=CLOSED, limit=5)
    assert all(t.status == CLOSED for t in by_name.tickets)
    opened = gateway.list_tickets(status=StatusKind.OPEN, limit=2)
    assert [t.id for t in opened.tickets] == [made[2].id, made[0].id]


def test_refused_token_unknown_ids_and_unknown_queues(
    django_helpdesk: DjangoHelpdesk, gateway: DjangoHelpdeskGateway
) -> None:
    stranger = DjangoHelpdeskGateway(
        django_helpdesk.api_url, "wrong-token", settings=section({1: "IT"})
    )
    with pytest.raises(Unauthorized) as refused:
        stranger.get_ticket("1")
    assert "wrong-token" not in str(refused.value)
    stranger.close()
    with pytest.raises(NotFound):
        gateway.get_ticket("99999999")
    with pytest.raises(NotFound):
        gateway.get_ticket("../users")
    with pytest.raises(NotFound):
        gateway.add_conversation("99999999", "hello")
    with pytest.raises(NotFound):
        gateway.download_attachment("99999999")
    missing_queue = DjangoHelpdeskGateway(
        django_helpdesk.api_url, django_helpdesk.token, settings=section({999: "Gone"})
    )
    with pytest.raises(ValidationFailed) as refused_queue:
        missing_queue.create_ticket(new_ticket(category_id="999"))
    assert list(refused_queue.value.fields) == ["category"]
    missing_queue.close()


def test_check_names_a_configured_queue_the_helpdesk_lacks(
    django_helpdesk: DjangoHelpdesk, agent: Agent
) -> None:
    before = agent.http.get("tickets/", params={"page_size": "1"}).json()["count"]
    configured = DjangoHelpdeskGateway(
        django_helpdesk.api_url,
        django_helpdesk.token,
        settings=section({1: "IT Support", 999: "Gone"}),
    )
    problems = configured.configuration_problems()
    configured.close()
    assert len(problems) == 1 and "queue 999 (Gone)" in problems[0]
    assert agent.http.get("tickets/", params={"page_size": "1"}).json()["count"] == before


def test_input_the_helpdesk_would_refuse_is_refused_before_sending(
    gateway: DjangoHelpdeskGateway,
) -> None:
    with pytest.raises(ValidationFailed) as long_subject:
        gateway.create_ticket(new_ticket(subject="x" * 201))
    assert list(long_subject.value.fields) == ["subject"]
    with pytest.raises(ValidationFailed) as blank:
        gateway.create_ticket(new_ticket(description="  "))
    assert list(blank.value.fields) == ["description"]
    page = FileUpload(filename="page.html", content=b"<p>hi</p>", content_type="text/html")
    ticket = gateway.create_ticket(new_ticket())
    # django-helpdesk answers a refused followup file with a 500 after making the followup
    with pytest.raises(ValidationFailed) as html:
        gateway.add_conversation(ticket.id, "a page", page)
    assert ".html" in html.value.fields["attachment"][0]
    assert gateway.get_ticket(ticket.id).conversations == []


def test_downloads_stop_at_their_limit(django_helpdesk: DjangoHelpdesk) -> None:
    small = DjangoHelpdeskGateway(
        django_helpdesk.api_url,
        django_helpdesk.token,
        settings=section(django_helpdesk.queues),
        max_download_bytes=10,
    )
    upload = FileUpload(filename="big.txt", content=b"x" * 1000, content_type="text/plain")
    ticket = small.create_ticket(new_ticket(attachment=upload))
    (attachment,) = small.get_ticket(ticket.id).attachments
    with pytest.raises(ValidationFailed):
        small.download_attachment(attachment.id)
    small.close()


@pytest.mark.usefixtures("webhooks_refused")
def test_a_500_page_after_a_write_is_an_unknown_outcome(
    gateway: DjangoHelpdeskGateway,
) -> None:
    ticket = gateway.create_ticket(new_ticket(reference="r-" + uuid.uuid4().hex))
    with pytest.raises(OutcomeUnknown) as unknown:
        gateway.add_conversation(ticket.id, "sent once")
    assert "<" not in str(unknown.value)  # no HTML page in the message
    assert [c.text for c in gateway.get_ticket(ticket.id).conversations] == ["sent once"]


@pytest.mark.usefixtures("webhooks_refused")
def test_an_ambiguous_create_is_found_by_its_reference(gateway: DjangoHelpdeskGateway) -> None:
    new = new_ticket(reference="r-" + uuid.uuid4().hex)
    ticket = gateway.create_ticket(new)  # answered 500, found among the newest tickets
    assert ticket.subject == new.subject
    with pytest.raises(OutcomeUnknown):
        gateway.create_ticket(new_ticket(reference=None))


def test_settings_name_what_is_missing_or_malformed(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.runtime.backends import build_gateway
    from bot.runtime.settings import ConfigError, load_settings

    base = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "TICKET_BACKEND": "django-helpdesk",
        "TICKET_API_URL": "http://127.0.0.1:9/helpdesk/api/",
    }
    monkeypatch.delenv("DJANGO_HELPDESK_QUEUES", raising=False)
    with pytest.raises(ConfigError) as missing:
        build_gateway(load_settings(**base, TICKET_API_TOKEN="t"))
    assert missing.value.problems[0].startswith("DJANGO_HELPDESK_QUEUES is required")
    monkeypatch.setenv("DJANGO_HELPDESK_QUEUES", "1=IT,x=Broken")
    with pytest.raises(ConfigError) as malformed:
        build_gateway(load_settings(**base))
    assert [p.split(":")[0] for p in malformed.value.problems] == [
        "TICKET_API_TOKEN is required",
        "DJANGO_HELPDESK_QUEUES is malformed",
    ]
    monkeypatch.setenv("DJANGO_HELPDESK_QUEUES", "1=IT Support,2=Facilities")
    gateway = build_gateway(load_settings(**base, TICKET_API_TOKEN="t"))
    assert [c.name for c in gateway.list_categories()] == ["IT Support", "Facilities"]
    gateway.close()
    with pytest.raises(ConfigError) as short:
        load_settings(**base, TICKET_WEBHOOK_SECRET="short")
    assert short.value.problems[0].startswith("TICKET_WEBHOOK_SECRET is malformed")
