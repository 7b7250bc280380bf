"""Contract tests: EpixelGateway against the fake Epixel API over real HTTP."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.gateway import (
    Classic,
    FileUpload,
    GatewayError,
    InvalidState,
    LimitReached,
    NewTicket,
    NotFound,
    NotOwner,
    OutcomeUnknown,
    Requester,
    TicketGateway,
    TicketStatus,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from bot.gateway.epixel import (
    MAX_ATTACHMENT_BYTES,
    NEEDS_A_TAG,
    EpixelGateway,
    _error,
    _ticket,
)
from bot.gateway.http import HttpTransport, RetryPolicy, Timeouts
from bot.runtime.backends import build_gateway
from bot.runtime.settings import ConfigError, Settings
from tests.support.fakes.epixel import FakeEpixel
from tests.support.fakes.sandbox import SandboxBehindProxy

FAST_TIMEOUTS = Timeouts(connect=0.5, read=0.25, write=0.5, pool=0.5)
#: for a test that sends megabytes, on a machine that may be busy: not about timeouts
ROOMY_TIMEOUTS = Timeouts(connect=5, read=10, write=10, pool=5)
FAST_RETRY = RetryPolicy(attempts=3, base=0.001, cap=0.005)


@pytest.fixture(params=["FakeEpixel", "sandbox"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeEpixel]:
    """The contract tests run against the test fake and against the sandbox helpdesk
    (bot/sandbox, behind a proxy that records requests and injects faults)."""
    server = FakeEpixel() if request.param == "FakeEpixel" else SandboxBehindProxy()
    with server:
        yield server


def fake_epixel_only(reason: str) -> pytest.MarkDecorator:
    """The test runs against FakeEpixel alone; `reason` says what the sandbox lacks."""
    return pytest.mark.parametrize("fake", ["FakeEpixel"], indirect=True)


def make_gateway(fake: FakeEpixel, **overrides: Any) -> EpixelGateway:
    options: dict[str, Any] = {
        "username": fake.username,
        "password": fake.password,
        "timeouts": FAST_TIMEOUTS,
        "retry": FAST_RETRY,
    }
    options.update(overrides)
    api_key = options.pop("api_key", fake.api_key)
    return EpixelGateway(fake.base_url, api_key, **options)


@pytest.fixture
def gateway(fake: FakeEpixel) -> Iterator[EpixelGateway]:
    gw = make_gateway(fake)
    yield gw
    gw.close()


def new_ticket(**overrides: Any) -> NewTicket:
    values: dict[str, Any] = {
        "subject": "Printer on 3rd floor jams",
        "description": "It jams on every second page.",
        "category_id": "1",
        "priority": Classic.HIGH,
        "requester": Requester(name="Ada Lovelace", email="ada@example.com"),
        "reference": "ref-1234",
    }
    values.update(overrides)
    return NewTicket(**values)


def _login_directly(fake: FakeEpixel) -> str:
    credentials = {"username": fake.username, "password": fake.password}
    response = httpx.post(
        fake.base_url + "user/login/", data=credentials, headers={"apikey": fake.api_key}
    )
    assert response.status_code == 200
    return str(response.json()["access"])


def logins(fake: FakeEpixel) -> int:
    return len(fake.requests_to("user/login/"))


# -- reads ---------------------------------------------------------------------


def test_gateway_satisfies_the_protocol(gateway: EpixelGateway) -> None:
    assert isinstance(gateway, TicketGateway)
    assert gateway.name == "epixel"
    caps = gateway.capabilities
    assert caps.max_attachment_bytes == 2 * 1024 * 1024
    assert caps.max_subject_chars == 500
    assert caps.statuses == [Classic.OPEN, Classic.PROCESSING, Classic.CLOSED]
    flags = (caps.categories, caps.priorities, caps.tags, caps.status_change, caps.ticket_list)
    more = (caps.ticket_detail, caps.conversations_in, caps.conversations_out, caps.attachments)
    assert all((*flags, *more))


def test_list_categories(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    categories = gateway.list_categories()
    assert [(c.id, c.name) for c in categories][:3] == [
        ("1", "Hardware"),
        ("2", "Software"),
        ("3", "Network"),
    ]
    assert len(categories) == len(fake.categories)  # the sandbox seeds a fourth
    assert categories[0].description
    request = fake.requests_to("category-list")[0]
    assert request.method == "GET"
    assert request.headers["apikey"] == fake.api_key
    assert request.headers["Authorization"] == f"Bearer {fake.issued_tokens[0]}"


def test_list_tags_and_priorities(gateway: EpixelGateway) -> None:
    first = gateway.list_tags()[0]
    assert (first.id, first.name, first.keyword) == ("1", "urgent", "urgent")
    assert gateway.list_priorities() == [Classic.LOW, Classic.MEDIUM, Classic.HIGH]


def test_list_tickets_pages_newest_first(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    ids = [fake.add_ticket(f"Ticket {n}") for n in range(5)]
    first = gateway.list_tickets(limit=2)
    assert [t.id for t in first.tickets] == [str(ids[4]), str(ids[3])]
    assert first.has_more and first.offset == 0 and first.limit == 2
    assert fake.requests_to("history")[-1].query == {"offset": "0", "limit": "3"}
    last = gateway.list_tickets(offset=4, limit=2)
    assert [t.id for t in last.tickets] == [str(ids[0])]
    assert not last.has_more


def test_list_tickets_filters_and_maps_fields(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    fake.add_ticket("VPN drops", category=3, status=2, priority=3)
    fake.add_ticket("VPN slow", category=3, status=1)
    fake.add_ticket("Mouse broken", category=1, status=2)
    fake.add_foreign_ticket("VPN of someone else", category=3, status=2)
    page = gateway.list_tickets(status=Classic.PROCESSING, subject="vpn", category_id="3")
    assert fake.requests_to("history")[-1].query["status"] == "2"
    [ticket] = page.tickets
    assert ticket.subject == "VPN drops"
    assert ticket.status == Classic.PROCESSING
    assert ticket.priority == Classic.HIGH
    assert (ticket.category_id, ticket.category_name) == ("3", "Network")


def test_ids_are_accepted_as_int_or_str() -> None:
    row = {"id": "7", "subject": "s", "priority": 1, "category": "2", "comment": "c", "status": 3}
    ticket = _ticket(row)
    assert (ticket.id, ticket.priority, ticket.category_id, ticket.status) == (
        "7",
        Classic.LOW,
        "2",
        Classic.CLOSED,
    )
    assert _ticket({**row, "id": 7, "tags": [1, "2"]}).tag_ids == ["1", "2"]


def test_get_ticket_sends_the_id_in_the_get_body(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    ticket_id = fake.add_ticket("Screen flickers", tags=[1, 2], priority=1)
    gateway.get_ticket(str(ticket_id))
    request = fake.requests_to("detailed-view")[-1]
    assert request.method == "GET"
    assert request.form == {"ticket_id": [str(ticket_id)]}
    assert request.body == f"ticket_id={ticket_id}".encode()
    assert request.query == {"ticket_id": str(ticket_id)}


@pytest.mark.parametrize("where", ["body", "query"])
def test_fake_detail_view_reads_the_id_from_body_or_query(fake: FakeEpixel, where: str) -> None:
    ticket_id = fake.add_ticket("Either way")
    token = _login_directly(fake)
    headers = {"apikey": fake.api_key, "Authorization": f"Bearer {token}"}
    value = {"ticket_id": str(ticket_id)}
    with httpx.Client(base_url=fake.base_url) as client:
        if where == "body":
            response = client.request(
                "GET", "support/ticket/detailed-view/", data=value, headers=headers
            )
        else:
            response = client.get("support/ticket/detailed-view/", params=value, headers=headers)
    assert response.status_code == 200
    assert response.json()["data"]["ticket"]["id"] == ticket_id


def test_get_ticket_detail(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    ticket_id = fake.add_ticket("Screen flickers", "Since Monday.", tags=[1, 2], priority=1)
    fake._store_attachment(ticket_id, None, "photo.jpg", b"jpeg", "image/jpeg")
    first = fake.add_agent_conversation(ticket_id, "Have you tried turning it off?")
    second = fake.add_agent_conversation(ticket_id, "Log attached", attachment=("log.txt", b"log"))
    detail = gateway.get_ticket(str(ticket_id))
    assert detail.ticket.subject == "Screen flickers"
    assert detail.ticket.description == "Since Monday."
    assert detail.ticket.tag_ids == ["1", "2"]
    assert detail.ticket.author == fake.username
    assert detail.ticket.priority == Classic.LOW
    assert [c.id for c in detail.conversations] == [str(first), str(second)]
    assert detail.conversations[0].author == "agent@example.com"
    assert detail.conversations[0].ticket_id == str(ticket_id)
    assert detail.conversations[0].attachments == []
    [conversation_attachment] = detail.conversations[1].attachments
    assert conversation_attachment.conversation_id == str(second)
    [ticket_attachment] = detail.attachments
    assert ticket_attachment.conversation_id is None
    download = gateway.download_attachment(conversation_attachment.id)
    assert (download.filename, download.content) == ("log.txt", b"log")


def test_download_attachment(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    ticket_id = fake.add_ticket("Scan")
    content = bytes(range(256)) * 10
    attachment_id = fake._store_attachment(
        ticket_id, None, "résumé.pdf", content, "application/pdf"
    )
    download = gateway.download_attachment(str(attachment_id))
    assert download == FileUpload(
        filename="résumé.pdf", content=content, content_type="application/pdf"
    )


# -- writes ----------------------------------------------------------------------


def test_create_ticket_returns_the_ticket_found_by_reference(
    gateway: EpixelGateway, fake: FakeEpixel
) -> None:
    fake.add_ticket("Printer on 3rd floor jams", "An older one, no reference.")
    ticket = gateway.create_ticket(new_ticket())
    stored = fake.tickets[int(ticket.id)]
    assert stored["subject"] == "Printer on 3rd floor jams"
    assert stored["priority"] == "3" and stored["category"] == 1 and stored["status"] == "1"
    assert stored["comment"].startswith("It jams on every second page.")
    assert "Ada Lovelace <ada@example.com> via Slack" in stored["comment"]
    assert stored["comment"].endswith("Reference: ref-1234")
    assert ticket.description == stored["comment"]
    assert (ticket.priority, ticket.status, ticket.category_name) == (
        Classic.HIGH,
        Classic.OPEN,
        "Hardware",
    )
    assert fake.requests_to("history")[-1].query["subject"] == "Printer on 3rd floor jams"


def test_create_without_reference_finds_the_same_subject_and_comment(
    gateway: EpixelGateway, fake: FakeEpixel
) -> None:
    older = fake.add_ticket("Printer on 3rd floor jams", "Something else")
    ticket = gateway.create_ticket(new_ticket(reference=None, requester=None))
    assert ticket.id != str(older)
    assert fake.tickets[int(ticket.id)]["comment"] == "It jams on every second page."


def test_create_with_attachment_is_multipart(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    upload = FileUpload(filename="jam.png", content=b"\x89PNG\r\n" * 100, content_type="image/png")
    ticket = gateway.create_ticket(new_ticket(attachment=upload))
    request = fake.requests_to("create/ticket")[-1]
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert request.files["attachment"] == ("jam.png", upload.content)
    assert request.form["category"] == ["1"] and request.form["priority"] == ["3"]
    [attachment] = gateway.get_ticket(ticket.id).attachments
    assert gateway.download_attachment(attachment.id).content == upload.content


def test_create_refuses_a_long_subject_before_sending(
    gateway: EpixelGateway, fake: FakeEpixel
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        gateway.create_ticket(new_ticket(subject="x" * 501))
    assert list(caught.value.fields) == ["subject"]
    assert fake.requests == []
    assert gateway.create_ticket(new_ticket(subject="x" * 500)).subject == "x" * 500


def test_create_refuses_a_big_attachment_before_sending(
    gateway: EpixelGateway, fake: FakeEpixel
) -> None:
    too_big = FileUpload(filename="big.bin", content=b"0" * (MAX_ATTACHMENT_BYTES + 1))
    with pytest.raises(ValidationFailed) as caught:
        gateway.create_ticket(new_ticket(attachment=too_big))
    assert list(caught.value.fields) == ["attachment"]
    with pytest.raises(ValidationFailed) as caught:
        gateway.add_conversation("1", "see file", attachment=too_big)
    assert list(caught.value.fields) == ["attachment"]
    assert fake.requests == []


def test_create_refuses_blank_subject_and_description(
    gateway: EpixelGateway, fake: FakeEpixel
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        gateway.create_ticket(new_ticket(subject="  ", description=""))
    assert set(caught.value.fields) == {"subject", "description"}
    assert fake.requests == []


def test_create_with_unknown_category_is_a_validation_error(gateway: EpixelGateway) -> None:
    with pytest.raises(ValidationFailed) as caught:
        gateway.create_ticket(new_ticket(category_id="7"))
    assert caught.value.fields == {"category": ['Invalid pk "7" - object does not exist.']}


def test_create_over_the_open_ticket_limit(fake: FakeEpixel) -> None:
    fake.open_ticket_limit = 1
    fake.add_ticket("Already open")
    gw = make_gateway(fake)
    with pytest.raises(LimitReached, match="Limit Exceed"):
        gw.create_ticket(new_ticket())
    gw.close()
    assert logins(fake) == 1  # the limit's 401 is not a reason to log in again


def test_update_priority_keeps_the_tags(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    ticket_id = fake.add_ticket("Tagged", tags=[1, 3], priority=1)
    gateway.update_ticket(str(ticket_id), priority=Classic.HIGH)
    assert fake.tickets[ticket_id]["priority"] == "3"
    assert fake.tickets[ticket_id]["tags"] == [1, 3]
    assert fake.requests_to("update/ticket")[-1].form["tags"] == ["1", "3"]


def test_update_tags_replaces_them(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    ticket_id = fake.add_ticket("Tagged", tags=[1], priority=2)
    gateway.update_ticket(str(ticket_id), tag_ids=["2", "3"])
    assert fake.tickets[ticket_id]["tags"] == [2, 3]
    assert fake.tickets[ticket_id]["priority"] == "2"
    assert "priority" not in fake.requests_to("update/ticket")[-1].form


def test_update_with_bad_tags(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    ticket_id = str(fake.add_ticket("Tagged", tags=[1]))
    with pytest.raises(ValidationFailed) as caught:
        gateway.update_ticket(ticket_id, tag_ids=[])
    assert caught.value.fields == {"tags": [NEEDS_A_TAG]}
    assert fake.requests_to("update/ticket") == []
    with pytest.raises(ValidationFailed) as caught:
        gateway.update_ticket(ticket_id, tag_ids=["99"])
    assert caught.value.fields == {"tags": ['Invalid pk "99" - object does not exist.']}


def test_priority_of_an_untagged_ticket_is_refused_before_sending(
    gateway: EpixelGateway, fake: FakeEpixel
) -> None:
    ticket_id = str(fake.add_ticket("Untagged"))
    with pytest.raises(ValidationFailed) as caught:
        gateway.update_ticket(ticket_id, priority=Classic.LOW)
    assert caught.value.fields == {"tags": [NEEDS_A_TAG]}
    assert fake.requests_to("update/ticket") == []


@pytest.fixture
def roomy_gateway(fake: FakeEpixel) -> Iterator[EpixelGateway]:
    gw = make_gateway(fake, timeouts=ROOMY_TIMEOUTS)
    yield gw
    gw.close()


def test_add_conversation(roomy_gateway: EpixelGateway, fake: FakeEpixel) -> None:
    gateway = roomy_gateway
    ticket_id = fake.add_ticket("Help")
    gateway.add_conversation(str(ticket_id), "Any news?")
    upload = FileUpload(filename="a.txt", content=b"x" * MAX_ATTACHMENT_BYTES)
    gateway.add_conversation(str(ticket_id), "Exactly 2 MiB", attachment=upload)
    first, second = fake.conversations
    assert (first["ticket"], first["comment"], first["author"]) == (
        ticket_id,
        "Any news?",
        fake.username,
    )
    [stored] = fake.attachments.values()
    assert stored["conversation_id"] == second["id"] and stored["content"] == upload.content


def test_set_status(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    ticket_id = fake.add_ticket("Done soon")
    gateway.set_status(str(ticket_id), Classic.CLOSED)
    assert fake.tickets[ticket_id]["status"] == "3"
    assert fake.requests_to("ticket/status")[-1].form == {
        "ticket": [str(ticket_id)],
        "status": ["3"],
    }
    gateway.set_status(str(ticket_id), Classic.OPEN)
    assert fake.requests_to("ticket/status")[-1].form["status"] == ["2"]
    assert gateway.get_ticket(str(ticket_id)).ticket.status == Classic.PROCESSING


@pytest.mark.parametrize(
    ("current", "wanted"),
    [(3, Classic.CLOSED), (1, Classic.OPEN), (2, Classic.PROCESSING), (2, Classic.OPEN)],
)
def test_set_status_to_the_current_one_is_invalid_state(
    gateway: EpixelGateway, fake: FakeEpixel, current: int, wanted: TicketStatus
) -> None:
    ticket_id = fake.add_ticket("Status", status=current)
    with pytest.raises(InvalidState, match="already"):
        gateway.set_status(str(ticket_id), wanted)


@fake_epixel_only("the sandbox has no locked tickets to refuse a status change")
def test_set_status_on_a_locked_ticket(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    ticket_id = fake.add_ticket("Locked")
    fake.locked_tickets.add(ticket_id)
    with pytest.raises(InvalidState, match="You Can't open or close"):
        gateway.set_status(str(ticket_id), Classic.CLOSED)


# -- ownership and missing objects -------------------------------------------------


def test_someone_elses_ticket_is_not_owned(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    foreign = str(fake.add_foreign_ticket(tags=[1]))
    with pytest.raises(NotOwner):
        gateway.get_ticket(foreign)
    with pytest.raises(NotOwner):
        gateway.update_ticket(foreign, tag_ids=["2"])
    with pytest.raises(NotOwner):
        gateway.add_conversation(foreign, "Hello")
    with pytest.raises(NotOwner):
        gateway.set_status(foreign, Classic.CLOSED)


def test_missing_tickets_are_not_found(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    with pytest.raises(NotFound):
        gateway.get_ticket("999")
    with pytest.raises(NotFound):
        gateway.update_ticket("999", tag_ids=["1"])
    with pytest.raises(NotFound):  # Invalid pk "999" - object does not exist.
        gateway.add_conversation("999", "Hello")
    with pytest.raises(NotFound):
        gateway.set_status("999", Classic.CLOSED)
    with pytest.raises(NotFound):  # a 404
        gateway.download_attachment("999")
    sent = len(fake.requests)
    with pytest.raises(NotFound):
        gateway.download_attachment("../etc")
    assert len(fake.requests) == sent


# -- error bodies as the helpdesk writes them ---------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "fields", "expected", "expected_fields"),
    [
        (400, {"subject": ["This field is required."]}, {}, ValidationFailed, {"subject"}),
        (
            400,
            {"status_code": 400, "errors": {"comment": "This field may not be blank."}, "data": {}},
            {"comment": "description"},
            ValidationFailed,
            {"description"},
        ),
        (
            400,
            {"status_code": 400, "errors": {"comment": ["This field is required."]}, "data": {}},
            {"comment": "text"},
            ValidationFailed,
            {"text"},
        ),
        (
            400,
            {"errors": {"priority": ['"9" is not a valid choice.'], "attachment": ["Too big"]}},
            {},
            ValidationFailed,
            {"priority", "attachment"},
        ),
        (
            400,
            {"errors": {"category": ['Invalid pk "7" - object does not exist.']}},
            {},
            ValidationFailed,
            {"category"},
        ),
        (
            400,
            {"errors": {"ticket": 'Invalid pk "7" - object does not exist.'}},
            {},
            NotFound,
            None,
        ),
        (400, {"errors": {"ticket": ["Ticket id is not valid"]}}, {}, NotFound, None),
        (400, {"ticket_id": ["Ticket id is not valid."]}, {}, NotFound, None),
        (404, "<html>Not Found</html>", {}, NotFound, None),
        (
            400,
            {"errors": {"detail": "You are not the owner of the requested ticket"}},
            {},
            NotOwner,
            None,
        ),
        (400, {"errors": {"ticket": ["Ticket is already closed,"]}}, {}, InvalidState, None),
        (
            400,
            {"errors": {"ticket": ["You Can't open or close this Ticket"]}},
            {},
            InvalidState,
            None,
        ),
        (
            401,
            {"status_code": 401, "errors": {"detail": "Currenly Open Ticket Limit Exceed."}},
            {},
            LimitReached,
            None,
        ),
        (401, {"detail": "CURRENLY OPEN TICKET LIMIT EXCEED."}, {}, LimitReached, None),
        (401, {"detail": "Given token not valid for any token type"}, {}, Unauthorized, None),
        (403, {"detail": "Invalid API key."}, {}, Unauthorized, None),
        (
            400,
            {"tags": {"0": ["Incorrect type. Expected pk value, received str."]}},
            {},
            ValidationFailed,
            {"tags"},
        ),
        (400, {"detail": "Something odd"}, {}, GatewayError, None),
        (409, None, {}, GatewayError, None),
        (503, None, {}, Unavailable, None),
    ],
)
def test_error_mapping(
    status: int,
    body: Any,
    fields: dict[str, str],
    expected: type[Exception],
    expected_fields: set[str] | None,
) -> None:
    error = _error("POST", "support/x/", status, body, fields)
    assert type(error) is expected
    if expected_fields is not None:
        assert isinstance(error, ValidationFailed)
        assert set(error.fields) == expected_fields
    assert str(error)


def test_an_error_inside_a_200_envelope_is_still_an_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"status_code": 400, "errors": {"subject": ["This field is required."]}, "data": {}}
        return httpx.Response(200, json=body)

    gw = EpixelGateway(
        "http://helpdesk.invalid/api/v1/", "k", token="t", transport=httpx.MockTransport(answer)
    )
    with pytest.raises(ValidationFailed):
        gw.list_categories()


# -- authentication ------------------------------------------------------------------


def test_login_is_lazy_and_happens_once(fake: FakeEpixel) -> None:
    gw = make_gateway(fake)
    assert fake.requests == []
    gw.list_categories()
    gw.list_tags()
    assert logins(fake) == 1
    login = fake.requests[0]
    assert login.headers["apikey"] == fake.api_key
    assert "authorization" not in login.headers
    gw.close()


def test_expired_token_leads_to_one_new_login(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    gateway.list_categories()
    fake.expire_tokens()
    ticket_id = fake.add_ticket("After expiry")
    gateway.set_status(str(ticket_id), Classic.CLOSED)  # a write is resent after a 401
    assert logins(fake) == 2
    assert fake.tickets[ticket_id]["status"] == "3"
    assert len(fake.requests_to("ticket/status")) == 2


def test_concurrent_401s_cause_one_login(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    gateway.list_categories()
    fake.expire_tokens()
    fake.delay = 0.02
    errors: list[BaseException] = []

    def read() -> None:
        try:
            gateway.list_tags()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert logins(fake) == 2


def test_refused_new_login_is_unauthorized(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    gateway.list_categories()
    fake.expire_tokens()
    fake.password = "changed"
    with pytest.raises(Unauthorized):
        gateway.list_categories()


def test_wrong_password_is_unauthorized(fake: FakeEpixel) -> None:
    gw = make_gateway(fake, password="wrong")
    with pytest.raises(Unauthorized):
        gw.list_categories()
    gw.close()


def test_wrong_api_key_is_unauthorized(fake: FakeEpixel) -> None:
    gw = make_gateway(fake, token="irrelevant", username=None, password=None, api_key="nope")
    with pytest.raises(Unauthorized):
        gw.list_categories()
    gw.close()


def test_static_token(fake: FakeEpixel) -> None:
    fake.token = "static-token"
    gw = make_gateway(fake, token="static-token", username=None, password=None)
    assert len(gw.list_categories()) == len(fake.categories)
    assert logins(fake) == 0
    gw.close()


def test_refused_static_token_is_unauthorized_at_once(fake: FakeEpixel) -> None:
    gw = make_gateway(fake, token="not-the-token", username=None, password=None)
    with pytest.raises(Unauthorized):
        gw.list_categories()
    assert len(fake.requests) == 1
    gw.close()


# -- retries and ambiguous writes ------------------------------------------------------


def test_reads_are_retried_after_5xx(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    gateway.list_tags()
    fake.fail_next(2, 503, path_contains="category-list")
    assert len(gateway.list_categories()) == len(fake.categories)
    assert len(fake.requests_to("category-list")) == 3


def test_reads_give_up_after_the_last_attempt(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    gateway.list_tags()
    fake.fail_next(10, 502, path_contains="category-list")
    with pytest.raises(Unavailable) as caught:
        gateway.list_categories()
    assert not isinstance(caught.value, OutcomeUnknown)
    assert len(fake.requests_to("category-list")) == FAST_RETRY.attempts


def test_read_timeouts_are_retried(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    gateway.list_tags()
    fake.hang_next(1, 1.0, path_contains="category-list")
    assert len(gateway.list_categories()) == len(fake.categories)
    assert len(fake.requests_to("category-list")) == 2


def test_create_5xx_is_not_retried_and_outcome_unknown(
    gateway: EpixelGateway, fake: FakeEpixel
) -> None:
    gateway.list_tags()
    fake.fail_next(1, 500, path_contains="create/ticket")
    with pytest.raises(OutcomeUnknown, match="may or may not exist"):
        gateway.create_ticket(new_ticket())
    assert len(fake.requests_to("create/ticket")) == 1
    assert len(fake.requests_to("history")) == 1  # looked once for the reference


def test_create_5xx_resolved_by_the_reference(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    # As if the helpdesk stored the ticket and then failed to answer.
    stored = fake.add_ticket("Printer on 3rd floor jams", "It jams.\n--\nReference: ref-1234")
    fake.fail_next(1, 500, path_contains="create/ticket")
    ticket = gateway.create_ticket(new_ticket())
    assert ticket.id == str(stored)
    assert len(fake.requests_to("create/ticket")) == 1


def test_create_timeout_is_not_retried(gateway: EpixelGateway, fake: FakeEpixel) -> None:
    gateway.list_tags()
    fake.hang_next(1, 1.0, path_contains="create/ticket")
    with pytest.raises(OutcomeUnknown, match="may or may not exist"):
        gateway.create_ticket(new_ticket())
    assert len(fake.requests_to("create/ticket")) == 1


def test_writes_to_an_unreachable_helpdesk_are_unavailable_not_unknown() -> None:
    with FakeEpixel() as server:
        base_url = server.base_url
    gw = EpixelGateway(base_url, "k", token="t", timeouts=FAST_TIMEOUTS, retry=FAST_RETRY)
    with pytest.raises(Unavailable) as caught:
        gw.set_status("1", Classic.CLOSED)
    assert not isinstance(caught.value, OutcomeUnknown)
    gw.close()


class _Script:
    """A transport answering from a list: an exception to raise or a status to return."""

    def __init__(self, *steps: Exception | int) -> None:
        self.steps = list(steps)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step)


def _transport(script: _Script) -> HttpTransport:
    return HttpTransport(
        "http://helpdesk.invalid/", retry=FAST_RETRY, transport=httpx.MockTransport(script)
    )


def test_transport_resends_a_write_only_when_nothing_was_sent() -> None:
    script = _Script(httpx.ConnectError("refused"), 200)
    assert _transport(script).request("POST", "w/", idempotent=False).status_code == 200
    assert script.calls == 2


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout("slow"), 500, 503, httpx.RemoteProtocolError("gone")]
)
def test_transport_write_failures_after_sending_are_outcome_unknown(
    failure: Exception | int,
) -> None:
    script = _Script(failure, 200)
    with pytest.raises(OutcomeUnknown) as caught:
        _transport(script).request("POST", "w/?token=abc", idempotent=False)
    assert script.calls == 1
    assert str(caught.value).startswith("POST w/:")


def test_transport_other_write_failures_are_unavailable() -> None:
    script = _Script(httpx.WriteError("broken"), 200)
    with pytest.raises(Unavailable) as caught:
        _transport(script).request("POST", "w/", idempotent=False)
    assert not isinstance(caught.value, OutcomeUnknown)
    assert script.calls == 1


def test_backoff_is_capped_full_jitter() -> None:
    policy = RetryPolicy(attempts=10, base=0.1, cap=0.4)
    delays = [policy.delay(n) for n in range(8) for _ in range(50)]
    assert all(0.0 <= d <= 0.4 for d in delays)
    assert max(policy.delay(0) for _ in range(50)) <= 0.1


# -- secrets ---------------------------------------------------------------------------


def test_no_secret_in_logs_or_errors(fake: FakeEpixel, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    raised: list[str] = []
    gw = make_gateway(fake)
    gw.create_ticket(new_ticket())
    fake.expire_tokens()
    for action in (
        lambda: gw.get_ticket("999"),
        lambda: gw.create_ticket(new_ticket(category_id="7")),
        lambda: make_gateway(fake, password="wrong-" + fake.password).list_tags(),
        lambda: make_gateway(fake, token="tok", username=None, password=None).list_tags(),
        lambda: make_gateway(fake, api_key="bad-" + fake.api_key).list_tags(),
    ):
        with pytest.raises(GatewayError) as caught:
            action()
        raised.append(str(caught.value))
    fake.fail_next(1, 500, path_contains="create/ticket")
    with pytest.raises(OutcomeUnknown) as unknown:
        gw.create_ticket(new_ticket(reference="ref-never-stored"))
    raised.append(str(unknown.value))
    gw.close()
    secrets = [fake.api_key, fake.password, *fake.issued_tokens]
    assert len(fake.issued_tokens) >= 2
    for text in [caplog.text, *raised]:
        for secret in secrets:
            assert secret not in text


# -- configuration -----------------------------------------------------------------------


def _settings(monkeypatch: pytest.MonkeyPatch, **values: Any) -> Settings:
    for name in (
        "TICKET_API_KEY",
        "TICKET_API_TOKEN",
        "TICKET_API_USERNAME",
        "TICKET_API_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)
    base = {"SLACK_BOT_TOKEN": "xoxb-test", "TICKET_API_URL": "http://127.0.0.1:9/api/v1"}
    return Settings(_env_file=None, **{**base, **values})  # type: ignore[call-arg]


def test_build_gateway_for_epixel(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, TICKET_API_KEY="k", TICKET_API_TOKEN="t")
    gw = build_gateway(settings)
    assert isinstance(gw, EpixelGateway)
    gw.close()


# getfly, ispcrm and keliweb: their own tests/test_gateway_<name>.py build them.


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({}, ["TICKET_API_KEY", "TICKET_API_TOKEN"]),
        ({"TICKET_API_KEY": "k", "TICKET_API_USERNAME": "u"}, ["TICKET_API_PASSWORD"]),
        ({"TICKET_API_KEY": "k", "TICKET_API_PASSWORD": "p"}, ["TICKET_API_USERNAME"]),
        ({"TICKET_API_TOKEN": "t"}, ["TICKET_API_KEY"]),
    ],
)
def test_build_gateway_names_missing_credentials(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], missing: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_gateway(_settings(monkeypatch, **values))
    assert [line.split()[0] for line in caught.value.problems] == missing


def test_login_credentials_build_a_working_gateway(
    monkeypatch: pytest.MonkeyPatch, fake: FakeEpixel
) -> None:
    settings = _settings(
        monkeypatch,
        TICKET_API_URL=fake.base_url,
        TICKET_API_KEY=fake.api_key,
        TICKET_API_USERNAME=fake.username,
        TICKET_API_PASSWORD=fake.password,
    )
    gw = build_gateway(settings)
    assert len(gw.list_categories()) == len(fake.categories)
    gw.close()
