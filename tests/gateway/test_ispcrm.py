"""Contract tests: IspcrmGateway against the fake ISPCRM API over real HTTP."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bot.gateway import (
    Classic,
    FileUpload,
    GatewayError,
    NewTicket,
    NotFound,
    OutcomeUnknown,
    Requester,
    TicketGateway,
    TicketStatus,
    Unauthorized,
    Unavailable,
    Unsupported,
    ValidationFailed,
)
from bot.gateway.http import RetryPolicy, Timeouts
from bot.gateway.ispcrm import (
    IspcrmGateway,
    IspcrmSettings,
    _status,
    compose_message,
    parse_priority_ids,
)
from bot.runtime.backends import build_gateway
from bot.runtime.check import check_helpdesk
from bot.runtime.settings import ConfigError, Settings, load_section
from tests.support.fakes.ispcrm import FakeIspcrm

FAST_TIMEOUTS = Timeouts(connect=0.5, read=0.25, write=0.5, pool=0.5)
FAST_RETRY = RetryPolicy(attempts=3, base=0.001, cap=0.005)
SECTION: dict[str, Any] = {
    "type_id": 1,
    "status_id": 1,
    "group_id": 1,
    "priority_ids": "low=1,medium=2,high=3",
}


@pytest.fixture
def fake() -> Iterator[FakeIspcrm]:
    with FakeIspcrm(token="subscriber-api-token") as server:
        yield server


def make_gateway(fake: FakeIspcrm, **overrides: Any) -> IspcrmGateway:
    options: dict[str, Any] = {
        "username": fake.username,
        "password": fake.password,
        "timeouts": FAST_TIMEOUTS,
        "retry": FAST_RETRY,
    }
    options.update(overrides)
    settings = IspcrmSettings(_env_file=None, **{**SECTION, **options.pop("section", {})})  # type: ignore[call-arg]
    return IspcrmGateway(fake.base_url, settings=settings, **options)


@pytest.fixture
def gateway(fake: FakeIspcrm) -> Iterator[IspcrmGateway]:
    gw = make_gateway(fake)
    yield gw
    gw.close()


def new_ticket(**overrides: Any) -> NewTicket:
    values: dict[str, Any] = {
        "subject": "No internet since yesterday",
        "description": "The router's light is red.",
        "category_id": "1",
        "priority": Classic.HIGH,
        "requester": Requester(name="Ada Lovelace", email="ada@example.com"),
        "reference": "slack-V123",
    }
    values.update(overrides)
    return NewTicket(**values)


def sent_json(fake: FakeIspcrm, path: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in fake.requests_to(path)]


def test_it_is_a_ticket_gateway_with_truthful_capabilities(gateway: IspcrmGateway) -> None:
    assert isinstance(gateway, TicketGateway)
    caps = gateway.capabilities
    assert caps.categories and caps.priorities and caps.ticket_list
    assert not (caps.priority_change or caps.tags or caps.status_change or caps.ticket_detail)
    assert not (caps.conversations_in or caps.conversations_out or caps.attachments)
    assert caps.max_attachment_bytes is None


# -- categories, priorities, login ----------------------------------------------------------


def test_categories_are_the_ticket_subjects(fake: FakeIspcrm, gateway: IspcrmGateway) -> None:
    categories = gateway.list_categories()
    assert [(c.id, c.name) for c in categories] == [
        ("1", "Technical Support"),
        ("2", "Billing Issue"),
        ("3", "New Connection"),
    ]
    login, subjects = fake.requests
    assert login.route == "subscriber/Login" and login.method == "POST"
    assert json.loads(login.body) == {"username": fake.username, "password": fake.password}
    assert subjects.headers["authorization"] == f"Bearer {fake.issued_tokens[0]}"


def test_one_login_serves_many_requests(fake: FakeIspcrm, gateway: IspcrmGateway) -> None:
    for _ in range(3):
        gateway.list_categories()
    assert len(fake.requests_to("Login")) == 1


def test_priorities_are_the_configured_ones_in_order(fake: FakeIspcrm) -> None:
    gw = make_gateway(fake, section={"priority_ids": "high=9, low=7"})
    assert gw.list_priorities() == [Classic.LOW, Classic.HIGH]
    assert fake.requests == []  # nothing to ask the helpdesk
    gw.close()


def test_wrong_password_is_unauthorized(fake: FakeIspcrm) -> None:
    gw = make_gateway(fake, password="wrong")
    with pytest.raises(Unauthorized) as caught:
        gw.list_categories()
    assert "HTTP 401" in caught.value.message
    gw.close()


def test_a_token_alone_is_used_without_logging_in(fake: FakeIspcrm) -> None:
    gw = make_gateway(fake, token=fake.token, username=None, password=None)
    gw.create_ticket(new_ticket())
    assert fake.requests_to("Login") == []
    assert all(r.headers["authorization"] == "Bearer subscriber-api-token" for r in fake.requests)
    gw.close()


def test_a_refused_token_alone_is_unauthorized(fake: FakeIspcrm) -> None:
    gw = make_gateway(fake, token="revoked", username=None, password=None)
    with pytest.raises(Unauthorized):
        gw.list_categories()
    assert fake.requests_to("Login") == []
    gw.close()


def test_the_token_wins_and_the_login_renews_it(fake: FakeIspcrm) -> None:
    gw = make_gateway(fake, token="revoked")
    assert len(gw.list_categories()) == 3
    first, login, again = fake.requests
    assert first.headers["authorization"] == "Bearer revoked"
    assert login.route == "subscriber/Login"
    assert again.headers["authorization"] == f"Bearer {fake.issued_tokens[0]}"
    gw.list_categories()
    assert len(fake.requests_to("Login")) == 1
    gw.close()


def test_an_expired_login_token_is_renewed_once(fake: FakeIspcrm, gateway: IspcrmGateway) -> None:
    gateway.list_categories()
    fake.expire_tokens()
    gateway.list_tickets()
    assert len(fake.issued_tokens) == 2


def test_concurrent_refusals_cause_one_login(fake: FakeIspcrm, gateway: IspcrmGateway) -> None:
    gateway.list_categories()
    fake.expire_tokens()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            gateway.list_tickets()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(fake.issued_tokens) == 2


def test_a_token_of_no_subscriber_is_replaced_by_the_login(fake: FakeIspcrm) -> None:
    gw = make_gateway(fake, token=fake.admin_token)
    ticket = gw.create_ticket(new_ticket())
    assert ticket.id == "101"
    refused, login, created = fake.requests
    assert refused.route == created.route == "subscriber/CreateTicket"
    assert login.route == "subscriber/Login"
    assert len(fake.tickets) == 1
    gw.close()


def test_a_token_of_no_subscriber_alone_is_unauthorized(fake: FakeIspcrm) -> None:
    gw = make_gateway(fake, token=fake.admin_token, username=None, password=None)
    assert len(gw.list_categories()) == 3  # the admin token may read the subjects
    with pytest.raises(Unauthorized) as caught:
        gw.list_tickets()
    assert "Subscriber not found" in caught.value.message
    gw.close()


# -- creating ------------------------------------------------------------------------------


def test_create_sends_the_configured_ids_and_the_composed_message(
    fake: FakeIspcrm, gateway: IspcrmGateway
) -> None:
    ticket = gateway.create_ticket(new_ticket(category_id="2"))
    (body,) = sent_json(fake, "CreateTicket")
    assert {k: v for k, v in body.items() if k != "message"} == {
        "subject_id": 2,
        "type_id": 1,
        "status_id": 1,
        "priority_id": 3,
        "group_id": 1,
    }
    assert body["message"] == (
        "No internet since yesterday\n\nThe router's light is red.\n\n--\n"
        "Requested by Ada Lovelace <ada@example.com> via Slack\nReference: slack-V123"
    )
    assert ticket.id == "101" and ticket.status == Classic.OPEN
    assert ticket.subject == "No internet since yesterday"
    assert ticket.priority == Classic.HIGH and ticket.category_id == "2"
    assert fake.tickets[101]["message"] == body["message"]


def test_create_with_other_configured_ids(fake: FakeIspcrm) -> None:
    gw = make_gateway(
        fake,
        section={"type_id": 2, "status_id": 2, "group_id": 2, "priority_ids": "low=3,high=1"},
    )
    ticket = gw.create_ticket(new_ticket(priority=Classic.LOW))
    (body,) = sent_json(fake, "CreateTicket")
    assert (body["type_id"], body["status_id"], body["group_id"], body["priority_id"]) == (
        2,
        2,
        2,
        3,
    )
    assert ticket.status == Classic.PROCESSING  # the answer's "In Progress"
    gw.close()


def test_create_without_a_priority_uses_medium(fake: FakeIspcrm, gateway: IspcrmGateway) -> None:
    ticket = gateway.create_ticket(new_ticket(priority=None, requester=None, reference=None))
    (body,) = sent_json(fake, "CreateTicket")
    assert body["priority_id"] == 2 and ticket.priority == Classic.MEDIUM
    assert body["message"] == "No internet since yesterday\n\nThe router's light is red."


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subject": "  "}, "subject"),
        ({"description": ""}, "description"),
        ({"category_id": None}, "category"),
        ({"category_id": "abc"}, "category"),
        ({"priority": Classic.MEDIUM}, "priority"),
        ({"attachment": FileUpload(filename="a.txt", content=b"x")}, "attachment"),
    ],
)
def test_create_refuses_what_cannot_be_sent(
    fake: FakeIspcrm, overrides: dict[str, Any], field: str
) -> None:
    gw = make_gateway(fake, section={"priority_ids": "low=1,high=3"})
    with pytest.raises(ValidationFailed) as caught:
        gw.create_ticket(new_ticket(**overrides))
    assert field in caught.value.fields
    assert fake.requests == []
    gw.close()


def test_a_wrong_configured_id_is_refused_with_a_hint(fake: FakeIspcrm) -> None:
    gw = make_gateway(fake, section={"group_id": 99})
    with pytest.raises(ValidationFailed) as caught:
        gw.create_ticket(new_ticket())
    (message,) = caught.value.fields["request"]
    assert "Invalid request data" in message and "ISPCRM_GROUP_ID" in message
    assert fake.tickets == {}
    gw.close()


def test_an_unknown_subject_is_refused(fake: FakeIspcrm, gateway: IspcrmGateway) -> None:
    with pytest.raises(ValidationFailed):
        gateway.create_ticket(new_ticket(category_id="42"))


def test_field_errors_map_to_the_form(gateway: IspcrmGateway) -> None:
    from bot.gateway.ispcrm import CREATE_FIELDS, _error

    body = {"success": False, "errors": {"subject_id": ["unknown"], "message": "too long"}}
    error = _error("POST", "subscriber/CreateTicket", 422, body, CREATE_FIELDS)
    assert isinstance(error, ValidationFailed)
    assert error.fields == {"category": ["unknown"], "description": ["too long"]}


def test_a_failed_create_is_never_sent_twice(fake: FakeIspcrm, gateway: IspcrmGateway) -> None:
    gateway.list_categories()  # logged in
    fake.fail_next(1, 502, path_contains="CreateTicket")
    with pytest.raises(OutcomeUnknown):
        gateway.create_ticket(new_ticket())
    assert len(fake.requests_to("CreateTicket")) == 1


def test_a_create_without_an_answer_is_outcome_unknown(
    fake: FakeIspcrm, gateway: IspcrmGateway
) -> None:
    gateway.list_categories()
    fake.hang_next(1, 1.0, path_contains="CreateTicket")
    with pytest.raises(OutcomeUnknown):
        gateway.create_ticket(new_ticket())
    assert len(fake.requests_to("CreateTicket")) == 1


def test_an_answer_without_ticket_id_finds_the_newest_of_that_subject(
    fake: FakeIspcrm, gateway: IspcrmGateway
) -> None:
    fake.add_ticket(2)
    fake.add_ticket(1)
    fake.omit_ticket_id = True
    ticket = gateway.create_ticket(new_ticket(category_id="2"))
    assert ticket.id == "103" and ticket.subject == "No internet since yesterday"


def test_a_created_ticket_that_is_not_listed_is_an_error(gateway: IspcrmGateway) -> None:
    # What happens when an answer without ticket_id is followed by a list without it.
    with pytest.raises(GatewayError) as caught:
        gateway._find_created("1")
    assert "does not list it" in caught.value.message


# -- listing ---------------------------------------------------------------------------------


def test_list_maps_names_newest_first_with_paging(fake: FakeIspcrm, gateway: IspcrmGateway) -> None:
    fake.add_ticket(1, status_id=1, priority_id=1)
    fake.add_ticket(2, status_id=2, priority_id=3)
    fake.add_ticket(3, status_id=3, priority_id=2)
    fake.add_ticket(1, subscriber="someone-else@example.com")
    page = gateway.list_tickets(limit=2)
    assert [(t.id, t.subject, t.status, t.priority) for t in page.tickets] == [
        ("103", "New Connection", Classic.CLOSED, Classic.MEDIUM),
        ("102", "Billing Issue", Classic.PROCESSING, Classic.HIGH),
    ]
    assert page.has_more
    rest = gateway.list_tickets(offset=2, limit=2)
    assert [t.id for t in rest.tickets] == ["101"] and not rest.has_more


def test_list_filters_here(fake: FakeIspcrm, gateway: IspcrmGateway) -> None:
    fake.add_ticket(1, status_id=1)
    fake.add_ticket(2, status_id=3)
    fake.add_ticket(2, status_id=1)
    assert [t.id for t in gateway.list_tickets(status=Classic.OPEN).tickets] == ["103", "101"]
    assert [t.id for t in gateway.list_tickets(category_id="2").tickets] == ["103", "102"]
    assert [t.id for t in gateway.list_tickets(subject="billing").tickets] == ["103", "102"]
    assert all(not r.query for r in fake.requests_to("getCustomerTickets"))


def test_list_of_an_account_without_tickets(gateway: IspcrmGateway) -> None:
    page = gateway.list_tickets()
    assert page.tickets == [] and not page.has_more


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("Open", Classic.OPEN),
        ("NEW", Classic.OPEN),
        ("In Progress", Classic.PROCESSING),
        ("Pending", Classic.PROCESSING),
        ("on hold", Classic.PROCESSING),
        ("Resolved", Classic.CLOSED),
        ("Closed", Classic.CLOSED),
        ({"name": "Closed"}, Classic.CLOSED),
        ("Escalated to level 3", Classic.OPEN),
        (None, Classic.OPEN),
    ],
)
def test_status_names_map_to_the_domain(text: Any, status: TicketStatus) -> None:
    assert _status(text) is status


def test_priority_names_and_ids_map_to_the_domain(gateway: IspcrmGateway) -> None:
    assert gateway._priority("Urgent") == Classic.HIGH
    assert gateway._priority("normal") == Classic.MEDIUM
    assert gateway._priority(1) == Classic.LOW
    assert gateway._priority("3") == Classic.HIGH
    assert gateway._priority("whatever") is None


# -- transport errors --------------------------------------------------------------------


def test_reads_are_retried_after_a_5xx(fake: FakeIspcrm, gateway: IspcrmGateway) -> None:
    fake.fail_next(2, 503, path_contains="getSubjects")
    assert len(gateway.list_categories()) == 3


def test_reads_give_up_as_unavailable(fake: FakeIspcrm, gateway: IspcrmGateway) -> None:
    fake.fail_next(5, 500, path_contains="getCustomerTickets")
    with pytest.raises(Unavailable):
        gateway.list_tickets()


def test_a_wrong_url_is_not_found(fake: FakeIspcrm) -> None:
    settings = IspcrmSettings(_env_file=None, **SECTION)  # type: ignore[call-arg]
    gw = IspcrmGateway(
        fake.base_url + "nope/",
        settings=settings,
        token=fake.token,
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
    )
    with pytest.raises(NotFound) as caught:
        gw.list_categories()
    assert "TICKET_API_URL" in caught.value.message
    gw.close()


def test_a_refusal_with_http_200_is_still_an_error() -> None:
    import httpx

    from bot.gateway.ispcrm import IspcrmGateway as Gw

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"success": False, "message": "Invalid request data"})

    settings = IspcrmSettings(_env_file=None, **SECTION)  # type: ignore[call-arg]
    gw = Gw(
        "http://ispcrm.invalid/api/v1/",
        settings=settings,
        token="t",
        transport=httpx.MockTransport(answer),
    )
    with pytest.raises(ValidationFailed):
        gw.create_ticket(new_ticket())
    gw.close()


def test_a_create_answer_without_data_finds_the_ticket() -> None:
    import httpx

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("CreateTicket"):
            return httpx.Response(200, json={"success": True, "message": "Ticket created"})
        if request.url.path.endswith("getSubjects"):
            return httpx.Response(200, json={"success": True, "data": [SUBJECT]})
        return httpx.Response(200, json={"success": True, "data": [ROW]})

    settings = IspcrmSettings(_env_file=None, **SECTION)  # type: ignore[call-arg]
    gw = IspcrmGateway(
        "http://ispcrm.invalid/api/v1/",
        settings=settings,
        token="t",
        transport=httpx.MockTransport(answer),
    )
    ticket = gw.create_ticket(new_ticket())
    assert ticket.id == "7" and ticket.status == Classic.PROCESSING
    gw.close()


SUBJECT = {"subject_id": 1, "name": "Technical Support"}
ROW = {"ticket_id": "7", "subject": "Technical Support", "status": "Pending", "priority": "High"}


def test_what_ispcrm_cannot_do_is_unsupported(gateway: IspcrmGateway) -> None:
    for action in (
        gateway.list_tags,
        lambda: gateway.get_ticket("101"),
        lambda: gateway.update_ticket("101", priority=Classic.LOW),
        lambda: gateway.add_conversation("101", "hello"),
        lambda: gateway.download_attachment("1"),
        lambda: gateway.set_status("101", Classic.CLOSED),
    ):
        with pytest.raises(Unsupported):
            action()


# -- configuration_problems and check ---------------------------------------------------------


def test_a_good_configuration_has_no_problems(gateway: IspcrmGateway) -> None:
    assert gateway.configuration_problems() == []
    assert check_helpdesk(gateway) == [(True, "helpdesk (ispcrm): answering, 3 categories")]


def test_no_subjects_is_a_configuration_problem(fake: FakeIspcrm, gateway: IspcrmGateway) -> None:
    fake.subjects.clear()
    (line,) = gateway.configuration_problems()
    assert "no ticket subjects" in line and "Fix:" in line
    ((ok, text),) = check_helpdesk(gateway)
    assert not ok and "no ticket subjects" in text


def test_a_token_of_no_subscriber_fails_the_check(fake: FakeIspcrm) -> None:
    gw = make_gateway(fake, token=fake.admin_token, username=None, password=None)
    ((ok, text),) = check_helpdesk(gw)
    assert not ok and "Subscriber not found" in text
    gw.close()


# -- secrets ------------------------------------------------------------------------------


def test_no_secret_in_logs_or_errors(fake: FakeIspcrm, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    raised: list[str] = []
    gw = make_gateway(fake, token="stale-token-value")
    gw.create_ticket(new_ticket())
    fake.expire_tokens()
    for action in (
        lambda: gw.create_ticket(new_ticket(category_id="77")),
        lambda: make_gateway(fake, password="wrong-" + fake.password).list_categories(),
        lambda: make_gateway(
            fake, token=fake.admin_token, username=None, password=None
        ).list_tickets(),
        lambda: make_gateway(fake, token="bad-token", username=None, password=None).list_tickets(),
    ):
        with pytest.raises(GatewayError) as caught:
            action()
        raised.append(str(caught.value))
    fake.fail_next(1, 500, path_contains="CreateTicket")
    with pytest.raises(OutcomeUnknown) as unknown:
        gw.create_ticket(new_ticket())
    raised.append(str(unknown.value))
    gw.close()
    secrets = [fake.password, fake.admin_token, "stale-token-value", *fake.issued_tokens]
    assert len(fake.issued_tokens) >= 2
    for text in [caplog.text, *raised]:
        for secret in secrets:
            assert secret not in text


# -- configuration -----------------------------------------------------------------------


def _settings(monkeypatch: pytest.MonkeyPatch, section: bool = True, **values: Any) -> Settings:
    for name in ("TICKET_API_TOKEN", "TICKET_API_USERNAME", "TICKET_API_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in FakeIspcrm.section_env().items():
        monkeypatch.delenv(name, raising=False)
        if section:
            monkeypatch.setenv(name, value)
    monkeypatch.chdir("/")  # no .env file
    base = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "TICKET_API_URL": "http://127.0.0.1:9/api/v1",
        "TICKET_BACKEND": "ispcrm",
    }
    return Settings(_env_file=None, **{**base, **values})  # type: ignore[call-arg]


def test_build_gateway_for_ispcrm(monkeypatch: pytest.MonkeyPatch) -> None:
    gw = build_gateway(_settings(monkeypatch, TICKET_API_TOKEN="t"))
    assert isinstance(gw, IspcrmGateway)
    assert gw.settings.type_id == 1 and gw.list_priorities() == list(Classic.PRIORITIES)
    gw.close()


def test_missing_section_variables_are_each_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        build_gateway(_settings(monkeypatch, section=False))
    assert [line.split()[0] for line in caught.value.problems] == [
        "TICKET_API_TOKEN",
        "ISPCRM_TYPE_ID",
        "ISPCRM_STATUS_ID",
        "ISPCRM_GROUP_ID",
        "ISPCRM_PRIORITY_IDS",
    ]
    assert caught.value.problems[-1] == (
        "ISPCRM_PRIORITY_IDS is required: each priority's ISPCRM priority_id, "
        "e.g. low=1,medium=2,high=3"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ISPCRM_PRIORITY_IDS", "low=1,urgentish=2"),
        ("ISPCRM_PRIORITY_IDS", "low=one"),
        ("ISPCRM_PRIORITY_IDS", "low=1,low=2"),
        ("ISPCRM_PRIORITY_IDS", ""),
        ("ISPCRM_TYPE_ID", "support"),
        ("ISPCRM_GROUP_ID", "0"),
    ],
)
def test_a_malformed_section_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    settings = _settings(monkeypatch, TICKET_API_TOKEN="t")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        build_gateway(settings)
    (line,) = caught.value.problems
    assert line.startswith(f"{name} is malformed: ")


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"TICKET_API_URL": "", "TICKET_API_TOKEN": "t"}, ["TICKET_API_URL"]),
        ({"TICKET_API_USERNAME": "u"}, ["TICKET_API_PASSWORD"]),
        ({"TICKET_API_PASSWORD": "p"}, ["TICKET_API_USERNAME"]),
    ],
)
def test_missing_credentials_are_named(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, Any], missing: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_gateway(_settings(monkeypatch, **values))
    assert [line.split()[0] for line in caught.value.problems] == missing


def test_no_api_key_is_needed(monkeypatch: pytest.MonkeyPatch, fake: FakeIspcrm) -> None:
    settings = _settings(
        monkeypatch,
        TICKET_API_URL=fake.base_url,
        TICKET_API_USERNAME=fake.username,
        TICKET_API_PASSWORD=fake.password,
    )
    gw = build_gateway(settings)
    assert len(gw.list_categories()) == 3
    gw.close()


def test_section_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(monkeypatch)
    monkeypatch.setenv("ISPCRM_PRIORITY_IDS", " High = 30 , low=10 ")
    settings = load_section(IspcrmSettings)
    assert settings.priority_map() == {Classic.LOW: 10, Classic.HIGH: 30}


def test_priority_mapping_parser() -> None:
    assert parse_priority_ids("low=1,medium=2,high=3") == {
        Classic.LOW: 1,
        Classic.MEDIUM: 2,
        Classic.HIGH: 3,
    }
    assert parse_priority_ids("normal=5,urgent=9,") == {Classic.MEDIUM: 5, Classic.HIGH: 9}
    for bad in ("low", "low=", "=1", "low=1,normal=2,medium=3", ",,"):
        with pytest.raises(ValueError):
            parse_priority_ids(bad)


def test_compose_message_puts_the_subject_first() -> None:
    text = compose_message(new_ticket(requester=Requester(name="Bo"), reference=None))
    assert text.splitlines() == [
        "No internet since yesterday",
        "",
        "The router's light is red.",
        "",
        "--",
        "Requested by Bo via Slack",
    ]
