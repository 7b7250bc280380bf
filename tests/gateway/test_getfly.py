"""Contract tests: GetflyGateway against the fake Getfly API over real HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from bot.gateway import (
    Classic,
    FileUpload,
    GatewayError,
    NewTicket,
    NotFound,
    NotOwner,
    OutcomeUnknown,
    Requester,
    TicketGateway,
    TicketStatus,
    Unauthorized,
    Unavailable,
    Unsupported,
    ValidationFailed,
)
from bot.gateway.common import html_to_text
from bot.gateway.getfly import (
    MAX_SUBJECT_CHARS,
    GetflyGateway,
    GetflySettings,
    ticket_html,
)
from bot.gateway.http import RetryPolicy, Timeouts
from bot.runtime.backends import build_gateway
from bot.runtime.settings import ConfigError, Settings
from tests.support.fakes.getfly import FakeGetfly

FAST_TIMEOUTS = Timeouts(connect=0.5, read=0.25, write=0.5, pool=0.5)
FAST_RETRY = RetryPolicy(attempts=3, base=0.001, cap=0.005)


def section(**overrides: Any) -> GetflySettings:
    values: dict[str, Any] = {
        "status_open": "New",
        "status_closed": "Closed",
        "status_processing": "In progress",
        "_env_file": None,
    }
    values.update(overrides)
    return GetflySettings(**values)


@pytest.fixture
def fake() -> Iterator[FakeGetfly]:
    with FakeGetfly() as server:
        yield server


def make_gateway(fake: FakeGetfly, **overrides: Any) -> GetflyGateway:
    api_key = overrides.pop("api_key", fake.api_key)
    chosen = overrides.pop("settings", None) or section()
    options: dict[str, Any] = {"timeouts": FAST_TIMEOUTS, "retry": FAST_RETRY}
    options.update(overrides)
    return GetflyGateway(fake.base_url, api_key, settings=chosen, **options)


@pytest.fixture
def gateway(fake: FakeGetfly) -> Iterator[GetflyGateway]:
    gw = make_gateway(fake)
    yield gw
    gw.close()


def new_ticket(**overrides: Any) -> NewTicket:
    values: dict[str, Any] = {
        "subject": "Printer on 3rd floor jams",
        "description": "It jams on every second page.",
        "category_id": "2",
        "requester": Requester(name="Ada Lovelace", email="ada@example.com"),
        "reference": "slack-V1234",
    }
    values.update(overrides)
    return NewTicket(**values)


def test_is_a_ticket_gateway_with_truthful_capabilities(gateway: GetflyGateway) -> None:
    assert isinstance(gateway, TicketGateway)
    caps = gateway.capabilities
    assert caps.categories and caps.status_change and caps.ticket_list and caps.ticket_detail
    assert not caps.priorities and not caps.priority_change and not caps.tags
    assert not caps.conversations_out and not caps.conversations_in and not caps.attachments
    assert caps.status_in is False  # the documented read fields carry no status
    assert caps.max_subject_chars == MAX_SUBJECT_CHARS
    assert gateway.list_priorities() == [] and gateway.list_tags() == []


def test_categories(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    categories = gateway.list_categories()
    assert [(c.id, c.name) for c in categories][:2] == [
        ("1", "System Error"),
        ("2", "Feature Explanation"),
    ]
    request = fake.requests_to("GET", "ticket/categories")[0]
    assert request.headers["X-API-KEY"] == fake.api_key
    assert "cookie" not in request.headers


def test_create_sends_the_documented_body(fake: FakeGetfly) -> None:
    gw = make_gateway(
        fake,
        settings=section(expected_days=3, custom_fields={"source": "Slack"}),
        today=lambda: date(2025, 1, 30),
    )
    ticket = gw.create_ticket(new_ticket(description="Line one\nLine two\n\nSecond <b>para</b>"))
    body = fake.json_of(fake.requests_to("POST", "ticket")[0])
    assert body["ticket_title"] == "Printer on 3rd floor jams"
    assert body["cate_name"] == "Feature Explanation"
    assert body["account_email"] == "ada@example.com"
    assert body["contact_name"] == "Ada Lovelace"
    assert body["status_name"] == "New"
    assert body["expected_at"] == "2025-02-02"
    assert body["custom_fields"] == {"source": "Slack"}
    assert "<p>Line one<br>Line two</p>" in body["ticket_content"]
    assert "<p>Second &lt;b&gt;para&lt;/b&gt;</p>" in body["ticket_content"]
    assert "Reference: slack-V1234" in body["ticket_content"]
    assert ticket.id.startswith("TICKET-") and ticket.id in fake.tickets
    assert ticket.category_id == "2" and ticket.category_name == "Feature Explanation"
    assert fake.tickets[ticket.id]["cate_id"] == 2
    gw.close()


def test_create_without_expected_days_or_custom_fields_omits_them(
    gateway: GetflyGateway, fake: FakeGetfly
) -> None:
    gateway.create_ticket(new_ticket(requester=Requester(name="Bob"), category_id=None))
    body = fake.json_of(fake.requests_to("POST", "ticket")[0])
    assert set(body) == {"ticket_title", "ticket_content", "status_name", "contact_name"}


def test_html_content_is_escaped_by_the_template() -> None:
    hostile = '<script>alert("x")</script> & <img src=x onerror=y>'
    content = ticket_html(
        NewTicket(
            subject="s",
            description=hostile,
            requester=Requester(name="<b>Eve</b>", email="e@x.org"),
            reference="slack-V1",
        )
    )
    assert "<script>" not in content and "<img" not in content and "<b>" not in content
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img" in content
    assert "Requested by &lt;b&gt;Eve&lt;/b&gt; &lt;e@x.org&gt; via Slack" in content
    assert html_to_text(content).startswith(hostile)


def test_html_to_text_keeps_line_breaks() -> None:
    assert html_to_text("<p>One<br>two</p><p>Three &amp; four</p>") == "One\ntwo\n\nThree & four"
    assert html_to_text("plain &lt;text&gt;") == "plain <text>"


def test_create_validation_before_sending(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    with pytest.raises(ValidationFailed) as caught:
        gateway.create_ticket(new_ticket(subject=" ", description=""))
    assert set(caught.value.fields) == {"subject", "description"}
    with pytest.raises(ValidationFailed) as too_long:
        gateway.create_ticket(new_ticket(subject="x" * (MAX_SUBJECT_CHARS + 1)))
    assert "subject" in too_long.value.fields
    with pytest.raises(ValidationFailed) as attached:
        gateway.create_ticket(new_ticket(attachment=FileUpload(filename="a", content=b"x")))
    assert "attachment" in attached.value.fields
    assert fake.requests_to("POST", "ticket") == []


def test_unknown_category_is_a_field_error(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    with pytest.raises(ValidationFailed) as caught:
        gateway.create_ticket(new_ticket(category_id="9"))
    assert "category" in caught.value.fields
    assert fake.requests_to("POST", "ticket") == []


def test_helpdesk_field_errors_map_to_domain_fields(
    gateway: GetflyGateway, fake: FakeGetfly
) -> None:
    gateway.list_categories()  # cached: the category is renamed in Getfly afterwards
    fake.categories[1]["cate_name"] = "Renamed"
    with pytest.raises(ValidationFailed) as caught:
        gateway.create_ticket(new_ticket())
    assert caught.value.fields == {"category": ["cate_name does not match any category"]}
    fake.statuses.remove("New")
    gateway.list_categories()
    with pytest.raises(ValidationFailed) as status:
        gateway.create_ticket(new_ticket(category_id="1"))
    assert status.value.fields == {"status_name": ["status_name does not match any status"]}


def test_get_ticket_by_code_asks_for_status_name(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    code = fake.add_ticket("Screen flickers", "<p>Since <b>Monday</b></p>", cate_id=3)
    detail = gateway.get_ticket(code)
    assert detail.ticket.id == code
    assert detail.ticket.subject == "Screen flickers"
    assert detail.ticket.description == "Since Monday"
    assert detail.ticket.category_id == "3"
    assert detail.ticket.status == Classic.OPEN  # no status_name in the answer: a placeholder
    assert detail.conversations == []
    query = fake.requests_to("GET", "ticket")[0].query
    assert query["ticket_code"] == code
    assert "status_name" in query["fields"].split(",")


@pytest.mark.parametrize(
    ("stored", "expected"),
    [("New", Classic.OPEN), ("Closed", Classic.CLOSED), ("In progress", Classic.PROCESSING)],
)
def test_status_read_back_when_getfly_returns_it(stored: str, expected: TicketStatus) -> None:
    with FakeGetfly(returns_status_name=True) as fake:
        gw = make_gateway(fake, settings=section(read_status=True))
        assert gw.capabilities.status_in is True
        code = fake.add_ticket("t", status_name=stored)
        assert gw.get_ticket(code).ticket.status is expected
        gw.close()


def test_missing_ticket_and_bad_codes_are_not_found(
    gateway: GetflyGateway, fake: FakeGetfly
) -> None:
    with pytest.raises(NotFound):
        gateway.get_ticket("TICKET-99999")
    before = len(fake.requests)
    for bad in ("", "a b", "x/../y", "<script>"):
        with pytest.raises(NotFound):
            gateway.get_ticket(bad)
        with pytest.raises(NotFound):
            gateway.set_status(bad, Classic.CLOSED)
    assert len(fake.requests) == before


def test_list_tickets_pages_newest_first(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    codes = [fake.add_ticket(f"Ticket {n}", cate_id=1 + n % 2) for n in range(5)]
    first = gateway.list_tickets(limit=2)
    assert [t.id for t in first.tickets] == [codes[4], codes[3]]
    assert first.has_more and first.offset == 0
    assert first.tickets[0].category_name == "System Error"
    last = gateway.list_tickets(offset=4, limit=2)
    assert [t.id for t in last.tickets] == [codes[0]] and not last.has_more
    query = fake.requests_to("GET", "tickets")[0].query
    assert query["offset"] == "0" and query["limit"] == "3"
    assert {"ticket_code", "status_name"} <= set(query["fields"].split(","))


def test_list_filters_by_subject_and_category(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    fake.add_ticket("VPN down", cate_id=2)
    fake.add_ticket("Printer", cate_id=2)
    wanted = fake.add_ticket("VPN slow", cate_id=2)
    page = gateway.list_tickets(subject="vpn", category_id="2", limit=1)
    assert [t.id for t in page.tickets] == [wanted] and page.has_more


def test_list_by_status_needs_status_read_back(gateway: GetflyGateway) -> None:
    with pytest.raises(Unsupported):
        gateway.list_tickets(status=Classic.OPEN)


def test_list_by_status_when_getfly_returns_it() -> None:
    with FakeGetfly(returns_status_name=True) as fake:
        gw = make_gateway(fake, settings=section(read_status=True))
        fake.add_ticket("open one")
        closed = fake.add_ticket("closed one", status_name="Closed")
        page = gw.list_tickets(status=Classic.CLOSED)
        assert [t.id for t in page.tickets] == [closed]
        gw.close()


def test_status_change_sends_only_the_code_and_status_name(
    gateway: GetflyGateway, fake: FakeGetfly
) -> None:
    code = fake.add_ticket(
        "Agent edited", "<p>Agent's notes</p>", custom_fields={"sla": "gold"}, cate_id=3
    )
    gateway.set_status(code, Classic.CLOSED)
    body = fake.json_of(fake.requests_to("PUT", "ticket")[0])
    assert body == {"ticket_code": code, "status_name": "Closed"}
    stored = fake.tickets[code]
    assert stored["status_name"] == "Closed"
    assert stored["ticket_content"] == "<p>Agent's notes</p>"
    assert stored["custom_fields"] == {"sla": "gold"} and stored["cate_id"] == 3
    gateway.set_status(code, Classic.OPEN)
    assert fake.json_of(fake.requests_to("PUT", "ticket")[1]) == {
        "ticket_code": code,
        "status_name": "New",
    }
    assert fake.tickets[code]["status_name"] == "New"


def test_status_change_errors(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    with pytest.raises(NotFound):
        gateway.set_status("TICKET-404", Classic.CLOSED)
    code = fake.add_ticket("not mine")
    fake.read_only.add(code)
    with pytest.raises(NotOwner):
        gateway.set_status(code, Classic.CLOSED)
    fake.read_only.clear()
    fake.statuses.remove("Closed")
    with pytest.raises(ValidationFailed) as caught:
        gateway.set_status(code, Classic.CLOSED)
    assert "status_name" in caught.value.fields


def test_status_change_is_retried_on_5xx(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    code = fake.add_ticket("flaky")
    fake.fail_next(1, 503, path_contains="/ticket")
    gateway.set_status(code, Classic.CLOSED)
    assert fake.tickets[code]["status_name"] == "Closed"
    assert len(fake.requests_to("PUT", "ticket")) == 2


def test_unsupported_methods(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    gateway.update_ticket("TICKET-1")  # nothing asked: nothing sent
    with pytest.raises(Unsupported):
        gateway.update_ticket("TICKET-1", priority=Classic.HIGH)
    with pytest.raises(Unsupported):
        gateway.update_ticket("TICKET-1", tag_ids=["1"])
    with pytest.raises(Unsupported):
        gateway.add_conversation("TICKET-1", "hello")
    with pytest.raises(Unsupported):
        gateway.download_attachment("1")
    assert fake.requests == []


def test_wrong_api_key_is_unauthorized(fake: FakeGetfly) -> None:
    gw = make_gateway(fake, api_key="wrong-key")
    for call in (
        gw.list_categories,
        lambda: gw.get_ticket("TICKET-1"),
        lambda: gw.list_tickets(),
        lambda: gw.create_ticket(new_ticket(category_id=None)),
        lambda: gw.set_status("TICKET-1", Classic.CLOSED),
    ):
        with pytest.raises(Unauthorized):
            call()
    gw.close()


def test_403_on_reads_is_unauthorized(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    fake.fail_next(1, 403, path_contains="categories")
    with pytest.raises(Unauthorized):
        gateway.list_categories()


def test_reads_retry_5xx_then_give_up(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    fake.fail_next(2, 500, path_contains="categories")
    assert gateway.list_categories()
    fake.fail_next(3, 500, path_contains="categories")
    with pytest.raises(Unavailable):
        gateway.list_categories()


def test_read_timeout_is_unavailable(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    fake.hang_next(3, 1.0, path_contains="tickets")
    with pytest.raises(Unavailable):
        gateway.list_tickets()


def test_create_500_is_resolved_by_the_reference(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    gateway.list_categories()
    # Getfly stores the ticket, then the answer is lost: the 5xx comes after the write.
    fake.lose_answer_next(1, path_contains="/ticket")
    ticket = gateway.create_ticket(new_ticket(reference="slack-Vlost"))
    assert ticket.id in fake.tickets
    assert len(fake.requests_to("POST", "ticket")) == 1  # never sent twice


def test_create_500_without_a_trace_is_outcome_unknown(
    gateway: GetflyGateway, fake: FakeGetfly
) -> None:
    gateway.list_categories()
    fake.fail_next(1, 500, path_contains="/ticket")
    with pytest.raises(OutcomeUnknown) as caught:
        gateway.create_ticket(new_ticket(reference="slack-Vnever"))
    assert "slack-Vnever" in str(caught.value)
    assert len(fake.requests_to("POST", "ticket")) == 1
    assert fake.tickets == {}


def test_create_answer_without_a_code_is_an_error(gateway: GetflyGateway, fake: FakeGetfly) -> None:
    fake.fail_next(1, 200, path_contains="/ticket")  # a 200 whose body has no data
    with pytest.raises(GatewayError, match="no code"):
        gateway.create_ticket(new_ticket(category_id=None))


# -- configuration_problems ------------------------------------------------------------


def test_configuration_problems_none_when_all_is_well(gateway: GetflyGateway) -> None:
    assert gateway.configuration_problems() == []


def test_configuration_problems_without_categories(
    gateway: GetflyGateway, fake: FakeGetfly
) -> None:
    fake.categories.clear()
    [line] = gateway.configuration_problems()
    assert "no ticket categories" in line


def test_configuration_problems_when_status_is_not_returned(fake: FakeGetfly) -> None:
    fake.add_ticket("one")
    gw = make_gateway(fake, settings=section(read_status=True))
    [line] = gw.configuration_problems()
    assert "GETFLY_READ_STATUS" in line and "status_name" in line
    gw.close()
    with FakeGetfly(returns_status_name=True) as returning:
        returning.add_ticket("one")
        ok = make_gateway(returning, settings=section(read_status=True))
        assert ok.configuration_problems() == []
        ok.close()


# -- secrets ---------------------------------------------------------------------------


def test_no_secret_in_logs_or_errors(fake: FakeGetfly, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    raised: list[str] = []
    gw = make_gateway(fake)
    gw.create_ticket(new_ticket())
    bad = make_gateway(fake, api_key="bad-" + fake.api_key)

    def lost_create() -> None:
        fake.fail_next(1, 500, path_contains="/ticket")
        gw.create_ticket(new_ticket(reference="slack-Vgone"))

    for action in (
        lambda: gw.get_ticket("TICKET-404"),
        lambda: gw.create_ticket(new_ticket(category_id="9")),
        lost_create,
        bad.list_categories,
        lambda: bad.set_status("TICKET-1", Classic.CLOSED),
    ):
        with pytest.raises(GatewayError) as caught:
            action()
        raised.append(str(caught.value))
    gw.close()
    bad.close()
    for text in [caplog.text, *raised]:
        assert fake.api_key not in text
        assert "bad-" not in text


# -- settings ------------------------------------------------------------------------------


def _settings(monkeypatch: pytest.MonkeyPatch, **values: Any) -> Settings:
    monkeypatch.delenv("TICKET_API_KEY", raising=False)
    for name in ("STATUS_OPEN", "STATUS_CLOSED", "STATUS_PROCESSING", "READ_STATUS"):
        monkeypatch.delenv(f"GETFLY_{name}", raising=False)
    base = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "TICKET_BACKEND": "getfly",
        "TICKET_API_URL": "http://127.0.0.1:9/api/v6.1",
    }
    return Settings(_env_file=None, **{**base, **values})  # type: ignore[call-arg]


def test_build_gateway_for_getfly(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, TICKET_API_KEY="k")
    monkeypatch.setenv("GETFLY_STATUS_OPEN", "Mới")
    monkeypatch.setenv("GETFLY_STATUS_CLOSED", "Đã đóng")
    monkeypatch.setenv("GETFLY_CUSTOM_FIELDS", '{"source": "Slack", "level": 2}')
    monkeypatch.setenv("GETFLY_EXPECTED_DAYS", "2")
    gw = build_gateway(settings)
    assert isinstance(gw, GetflyGateway)
    assert gw.settings.status_closed == "Đã đóng"
    assert gw.settings.custom_fields == {"source": "Slack", "level": 2}
    assert gw.settings.expected_days == 2 and gw.settings.read_status is False
    gw.close()


def test_missing_configuration_names_each_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch)
    with pytest.raises(ConfigError) as caught:
        build_gateway(settings)
    problems = caught.value.problems
    assert problems[0] == "TICKET_API_KEY is required: the helpdesk API key"
    assert any(p.startswith("GETFLY_STATUS_OPEN is required: ") for p in problems)
    assert any(p.startswith("GETFLY_STATUS_CLOSED is required: ") for p in problems)
    assert len(problems) == 3
    without_url = _settings(monkeypatch, TICKET_API_KEY="k", TICKET_API_URL="")
    with pytest.raises(ConfigError) as no_url:
        build_gateway(without_url)
    assert no_url.value.problems[0].startswith("TICKET_API_URL is required: ")


def test_malformed_configuration_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, TICKET_API_KEY="k")
    monkeypatch.setenv("GETFLY_STATUS_OPEN", "New")
    monkeypatch.setenv("GETFLY_STATUS_CLOSED", "Closed")
    monkeypatch.setenv("GETFLY_EXPECTED_DAYS", "soon")
    monkeypatch.setenv("GETFLY_CUSTOM_FIELDS", "not json")
    with pytest.raises(ConfigError) as caught:
        build_gateway(settings)
    assert any(p.startswith("GETFLY_EXPECTED_DAYS is malformed") for p in caught.value.problems)
    assert any(p.startswith("GETFLY_CUSTOM_FIELDS is malformed") for p in caught.value.problems)
