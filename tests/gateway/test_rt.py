"""Contract tests: RtGateway against a REAL Request Tracker 5 (tests/servers/rt), no fake.

What an RT agent does in these tests (reply, comment, stall) goes through RT's own REST2
API with the same token, as the agent's web UI would write the same transactions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from bot.gateway.errors import InvalidState, NotFound, Unauthorized, ValidationFailed
from bot.gateway.models import FileUpload, NewTicket, Requester, StatusKind
from bot.gateway.rt import RtGateway, RtSettings
from bot.runtime.backends import build_gateway
from bot.runtime.settings import ConfigError, load_settings
from tests.support.server_rt import RtServer, rt_server  # noqa: F401  (the session fixture)

BINARY = bytes(range(256)) * 8  # every byte value: breaks anything that is not base64-safe


@pytest.fixture(scope="module")
def gateway(rt_server: RtServer) -> Iterator[RtGateway]:  # noqa: F811
    section = RtSettings(
        priorities="0=Low,50=Medium,100=High",
        statuses="new=open,open=open,stalled=pending,resolved=closed,rejected=closed",
        close_status="resolved",
        reopen_status="open",
    )
    gateway = RtGateway(rt_server.api_url, rt_server.token, settings=section)
    yield gateway
    gateway.close()


@pytest.fixture(scope="module")
def agent(rt_server: RtServer) -> Iterator[httpx.Client]:  # noqa: F811
    with rt_server.client() as client:
        yield client


@pytest.fixture(scope="module")
def queue_id(gateway: RtGateway, rt_server: RtServer) -> str:  # noqa: F811
    return next(q.id for q in gateway.list_categories() if q.name == rt_server.queue)


def new_ticket(queue_id: str, **changes: object) -> NewTicket:
    fields: dict[str, object] = {
        "subject": f"Laptop will not boot {uuid.uuid4().hex[:6]}",
        "description": "Black screen after the update.\nSecond line.",
        "category_id": queue_id,
        "requester": Requester(name="Alice Example", email="alice@example.com"),
        "reference": uuid.uuid4().hex,
    }
    return NewTicket.model_validate({**fields, **changes})


def test_queues_are_categories_and_priorities_are_configured_numbers(
    gateway: RtGateway,
    rt_server: RtServer,  # noqa: F811
) -> None:
    names = [q.name for q in gateway.list_categories()]
    assert rt_server.queue in names
    assert [(p.id, p.label) for p in gateway.list_priorities()] == [
        ("0", "Low"),
        ("50", "Medium"),
        ("100", "High"),
    ]
    caps = gateway.capabilities
    assert caps.internal_notes and caps.assign and caps.change_feed
    assert [s.id for s in caps.statuses if s.kind == StatusKind.PENDING] == ["stalled"]


def test_create_with_attachment_reads_back_everything(
    gateway: RtGateway, agent: httpx.Client, queue_id: str
) -> None:
    high = gateway.list_priorities()[-1]
    new = new_ticket(
        queue_id,
        priority=high,
        attachment=FileUpload(filename="dump.bin", content=BINARY),
    )
    created = gateway.create_ticket(new)

    detail = gateway.get_ticket(created.id)
    ticket = detail.ticket
    assert ticket.subject == new.subject
    assert ticket.status.kind == StatusKind.OPEN
    assert ticket.priority is not None and ticket.priority.label == "High"
    assert ticket.category_name == "IT Support" or ticket.category_id == queue_id
    assert ticket.author == "alice@example.com"  # the Requestor is the Slack e-mail
    assert ticket.description.startswith("Black screen after the update.\nSecond line.")
    assert f"Reference: {new.reference}" in ticket.description
    assert detail.conversations == []
    [attachment] = detail.attachments
    file = gateway.download_attachment(attachment.id)
    assert (file.filename, file.content) == ("dump.bin", BINARY)
    # RT keeps the number: a name sent on create would be stored as text
    assert agent.get(f"ticket/{created.id}").json()["Priority"] == "100"


def test_correspond_is_public_and_comment_is_internal(
    gateway: RtGateway, agent: httpx.Client, queue_id: str
) -> None:
    ticket = gateway.create_ticket(new_ticket(queue_id))
    gateway.add_conversation(
        ticket.id, "From Slack: it still fails", FileUpload(filename="log.txt", content=b"boot\n")
    )
    agent.post(
        f"ticket/{ticket.id}/comment",
        json={"Content": "Internal: warranty expired", "ContentType": "text/plain"},
    ).raise_for_status()
    agent.post(
        f"ticket/{ticket.id}/correspond",
        json={"Content": "<p>Hold the <b>power</b> button</p>", "ContentType": "text/html"},
    ).raise_for_status()

    conversations = gateway.get_ticket(ticket.id).conversations
    assert [(c.text, c.public) for c in conversations] == [
        ("From Slack: it still fails", True),
        ("Internal: warranty expired", False),
        ("Hold the power button", True),
    ]
    assert [int(c.id) for c in conversations] == sorted(int(c.id) for c in conversations)
    [file] = conversations[0].attachments
    assert gateway.download_attachment(file.id).content == b"boot\n"


def test_close_reopen_and_an_agents_stall_map_to_kinds(
    gateway: RtGateway, agent: httpx.Client, queue_id: str
) -> None:
    ticket = gateway.create_ticket(new_ticket(queue_id))
    gateway.set_status(ticket.id, StatusKind.CLOSED)
    assert gateway.get_ticket(ticket.id).ticket.status.id == "resolved"
    gateway.set_status(ticket.id, StatusKind.OPEN)
    assert gateway.get_ticket(ticket.id).ticket.status.id == "open"
    agent.put(f"ticket/{ticket.id}", json={"Status": "stalled"}).raise_for_status()
    status = gateway.get_ticket(ticket.id).ticket.status
    assert (status.id, status.kind) == ("stalled", StatusKind.PENDING)
    gateway.set_status(ticket.id, StatusKind.OPEN)  # the same status twice is no error
    gateway.set_status(ticket.id, StatusKind.OPEN)


def test_assign_maps_the_email_to_the_rt_user(gateway: RtGateway, queue_id: str) -> None:
    ticket = gateway.create_ticket(new_ticket(queue_id))
    gateway.assign(ticket.id, "root@localhost")
    assert gateway.get_ticket(ticket.id).ticket.assignee == "root"


def test_refusals_rt_answers_with_200_become_typed_errors(
    gateway: RtGateway, queue_id: str
) -> None:
    ticket = gateway.create_ticket(new_ticket(queue_id))
    bogus = gateway.capabilities.statuses[0].model_copy(update={"id": "bogus"})
    with pytest.raises(InvalidState, match="isn't a valid status"):
        gateway.set_status(ticket.id, bogus)
    with pytest.raises(ValidationFailed, match="no user with the e-mail"):
        gateway.assign(ticket.id, "nobody-here@example.com")
    # a requester is an unprivileged RT user: RT answers 200 "may not own tickets"
    with pytest.raises(ValidationFailed, match="may not own tickets"):
        gateway.assign(ticket.id, "alice@example.com")
    with pytest.raises(NotFound):
        gateway.get_ticket("99999999")
    with pytest.raises(NotFound):
        gateway.add_conversation("99999999", "hello")


def test_a_refused_token_is_unauthorized(rt_server: RtServer) -> None:  # noqa: F811
    broken = RtGateway(rt_server.api_url, "1-14-" + "0" * 32)
    with pytest.raises(Unauthorized) as raised:
        broken.list_categories()
    assert "0" * 32 not in str(raised.value)  # the token is never in a message
    broken.close()


def test_change_feed_names_only_the_tickets_that_changed(
    gateway: RtGateway, agent: httpx.Client, queue_id: str
) -> None:
    quiet = gateway.create_ticket(new_ticket(queue_id))
    busy = gateway.create_ticket(new_ticket(queue_id))
    cursor, none = gateway.changes_since(None)
    assert none == set()

    agent.post(
        f"ticket/{busy.id}/correspond", json={"Content": "on it", "ContentType": "text/plain"}
    ).raise_for_status()
    cursor, changed = gateway.changes_since(cursor)
    assert busy.id in changed and quiet.id not in changed

    # nothing since: same cursor, no ticket (the idle cycle)
    assert gateway.changes_since(cursor) == (cursor, set())


def test_list_tickets_by_kind_and_by_page(gateway: RtGateway, queue_id: str) -> None:
    mark = uuid.uuid4().hex[:8]
    made = [gateway.create_ticket(new_ticket(queue_id, subject=f"{mark} {n}")) for n in range(3)]
    gateway.set_status(made[0].id, StatusKind.CLOSED)

    first = gateway.list_tickets(subject=mark, limit=2)
    second = gateway.list_tickets(subject=mark, offset=2, limit=2)
    assert [t.id for t in first.tickets + second.tickets] == [t.id for t in reversed(made)]
    assert first.has_more and not second.has_more
    open_ones = gateway.list_tickets(subject=mark, status=StatusKind.OPEN)
    assert {t.id for t in open_ones.tickets} == {made[1].id, made[2].id}


def test_configuration_is_checked_against_rt(rt_server: RtServer) -> None:  # noqa: F811
    good = RtGateway(rt_server.api_url, rt_server.token, settings=RtSettings())
    assert good.configuration_problems() == []
    bad = RtGateway(rt_server.api_url, rt_server.token, settings=RtSettings(close_status="closed"))
    [problem] = bad.configuration_problems()
    assert problem.startswith("RT_CLOSE_STATUS=closed is not among RT_STATUSES")
    good.close()
    bad.close()


def test_settings_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        SLACK_BOT_TOKEN="xoxb-x", TICKET_BACKEND="rt", TICKET_API_URL="http://127.0.0.1:1/REST/2.0/"
    )
    with pytest.raises(ConfigError) as missing:
        build_gateway(settings)
    assert [p.split(" ", 1)[0] for p in missing.value.problems] == ["TICKET_API_TOKEN"]

    monkeypatch.setenv("RT_PRIORITIES", "low,high")
    monkeypatch.setenv("RT_STATUSES", "new=open,stalled=waiting")
    with_token = settings.model_copy(update={"TICKET_API_TOKEN": SecretStr("1-14-" + "a" * 32)})
    with pytest.raises(ConfigError) as malformed:
        build_gateway(with_token)
    assert sorted(p.split(" ", 1)[0] for p in malformed.value.problems) == [
        "RT_PRIORITIES",
        "RT_STATUSES",
    ]
    assert all("1-14-" not in p for p in malformed.value.problems)

    monkeypatch.delenv("RT_PRIORITIES")
    monkeypatch.delenv("RT_STATUSES")
    gateway = build_gateway(with_token)
    assert isinstance(gateway, RtGateway)
    gateway.close()
