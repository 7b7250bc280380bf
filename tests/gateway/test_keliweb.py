"""Contract tests: KeliwebGateway against the fake Keliweb API v2 over real HTTP,
plus the PHP-serialize and base64 encodings against known values."""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from bot.gateway import (
    Classic,
    FileUpload,
    GatewayError,
    InvalidState,
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
from bot.gateway.keliweb import (
    MAX_ATTACHMENT_BYTES,
    KeliwebGateway,
    KeliwebSettings,
    _detail,
    _whmcs_error,
    api_base,
    site_root,
)
from bot.gateway.php import encode_attachments, encode_custom_fields, serialize
from bot.runtime.backends import build_gateway
from bot.runtime.settings import ConfigError, load_settings
from tests.support.fakes.keliweb import FakeKeliweb, unserialize

FAST_TIMEOUTS = Timeouts(connect=0.5, read=0.5, write=0.5, pool=0.5)
FAST_RETRY = RetryPolicy(attempts=3, base=0.001, cap=0.005)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeKeliweb]:
    with FakeKeliweb() as server:
        yield server


def section(
    departments: Mapping[int, str],
    custom_fields: Mapping[int, str] | None = None,
    requester_field: int | None = None,
) -> KeliwebSettings:
    """The KELIWEB_* settings as the environment would give them."""

    def pairs(values: Mapping[int, str]) -> str:
        return ",".join(f"{key}={value}" for key, value in values.items())

    return KeliwebSettings(
        _env_file=None,  # type: ignore[call-arg]
        departments=pairs(departments),
        custom_fields=pairs(custom_fields or {}),
        requester_field=requester_field,
    )


def make_gateway(fake: FakeKeliweb, **overrides: Any) -> KeliwebGateway:
    chosen = {
        name: overrides.pop(name)
        for name in ("custom_fields", "requester_field")
        if name in overrides
    }
    options: dict[str, Any] = {
        "settings": section(dict(fake.departments), **chosen),
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "username": fake.username,
        "password": fake.password,
        "timeouts": FAST_TIMEOUTS,
        "retry": FAST_RETRY,
    }
    options.update(overrides)
    url = options.pop("api_url", fake.base_url)
    return KeliwebGateway(url, **options)


@pytest.fixture
def gateway(fake: FakeKeliweb) -> Iterator[KeliwebGateway]:
    gw = make_gateway(fake)
    yield gw
    gw.close()


def new_ticket(**overrides: Any) -> NewTicket:
    values: dict[str, Any] = {
        "subject": "Sito non raggiungibile",
        "description": "The site answers 502 since this morning.",
        "category_id": "1",
        "priority": Classic.HIGH,
        "requester": Requester(name="Ada Lovelace", email="ada@example.com"),
        "reference": "slack-V123",
    }
    values.update(overrides)
    return NewTicket(**values)


def form(request: Any) -> dict[str, str]:
    return {name: values[-1] for name, values in request.form.items()}


# -- PHP serialize and base64 --------------------------------------------------------


def test_serialize_matches_php() -> None:
    assert serialize({1: "Google"}) == 'a:1:{i:1;s:6:"Google";}'
    assert serialize({}) == "a:0:{}"
    assert serialize({1: "Google", 2: 42}) == 'a:2:{i:1;s:6:"Google";i:2;i:42;}'
    assert serialize({"name": "x", "2": "y", "02": "z"}) == (
        'a:3:{s:4:"name";s:1:"x";i:2;s:1:"y";s:2:"02";s:1:"z";}'
    )
    assert serialize(True) == "b:1;"


def test_serialize_counts_utf8_bytes() -> None:
    assert serialize({1: "Café"}) == 'a:1:{i:1;s:5:"Café";}'
    assert serialize({3: "日本"}) == 'a:1:{i:3;s:6:"日本";}'
    assert serialize({1: 'a";b'}) == 'a:1:{i:1;s:4:"a";b";}'
    assert unserialize(serialize({1: 'Café";x', "k": 5}).encode()) == {1: 'Café";x', "k": 5}


def test_custom_fields_are_base64_of_the_serialized_array() -> None:
    assert encode_custom_fields({1: "Google"}) == "YToxOntpOjE7czo2OiJHb29nbGUiO30="
    assert base64.b64decode(encode_custom_fields({1: "Google"})) == b'a:1:{i:1;s:6:"Google";}'


def test_attachments_are_base64_json_of_base64_files_as_php_writes_them() -> None:
    # The document's example: base64_encode(json_encode([['name' => …, 'data' => …]]))
    encoded = encode_attachments([("sample_text_file.txt", b"This is a sample text file contents")])
    assert base64.b64decode(encoded) == (
        b'[{"name":"sample_text_file.txt",'
        b'"data":"VGhpcyBpcyBhIHNhbXBsZSB0ZXh0IGZpbGUgY29udGVudHM="}]'
    )
    slashed = json.loads(base64.b64decode(encode_attachments([("a/b", b"\xff\xfe?>")])))
    assert slashed == [{"name": "a/b", "data": "//4/Pg=="}]


# -- configuration ---------------------------------------------------------------------


def test_token_url_and_method_base_derive_from_ticket_api_url() -> None:
    assert site_root("https://apiv2.keliweb.it/api/v2/") == "https://apiv2.keliweb.it/"
    assert site_root("https://h.example/sub/api/v2/") == "https://h.example/sub/"
    assert site_root("https://h.example/whatever/") == "https://h.example/"
    assert (
        api_base("https://apiv2.keliweb.it/api/v2/keliweb/") == "https://apiv2.keliweb.it/api/v2/"
    )
    assert api_base("https://apiv2.keliweb.it/api/v2") == "https://apiv2.keliweb.it/api/v2/"


def keliweb_settings(**extra: str) -> Any:
    values = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "TICKET_BACKEND": "keliweb",
        "TICKET_API_URL": "https://apiv2.keliweb.it/api/v2/",
        "TICKET_API_CLIENT_ID": "7",
        "TICKET_API_CLIENT_SECRET": "client-secret-value",
        "TICKET_API_USERNAME": "bot@example.com",
        "TICKET_API_PASSWORD": "s3cret-pass",
    }
    values.update(extra)
    return load_settings(**{k: v for k, v in values.items() if v})


def test_missing_credentials_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KELIWEB_DEPARTMENTS", "1=Support")
    with pytest.raises(ConfigError) as caught:
        build_gateway(keliweb_settings(TICKET_API_CLIENT_SECRET="", TICKET_API_PASSWORD=""))
    assert [p.split(" ")[0] for p in caught.value.problems] == [
        "TICKET_API_CLIENT_SECRET",
        "TICKET_API_PASSWORD",
    ]


def test_missing_departments_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("KELIWEB_DEPARTMENTS", raising=False)
    with pytest.raises(ConfigError) as caught:
        build_gateway(keliweb_settings())
    assert caught.value.problems == [
        "KELIWEB_DEPARTMENTS is required: the category dropdown as Keliweb department "
        "id=name pairs, e.g. 1=Support,2=Billing"
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KELIWEB_DEPARTMENTS", "Support,Billing"),
        ("KELIWEB_DEPARTMENTS", "1=Support,1=Billing"),
        ("KELIWEB_DEPARTMENTS", " , "),
        ("KELIWEB_CUSTOM_FIELDS", "x=1"),
        ("KELIWEB_REQUESTER_FIELD", "slack"),
    ],
)
def test_malformed_section_values_are_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, variable: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KELIWEB_DEPARTMENTS", "1=Support")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        build_gateway(keliweb_settings())
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(f"{variable} is malformed: ")


def test_build_gateway_reads_the_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KELIWEB_DEPARTMENTS", "1=Supporto tecnico, 4=Amministrazione")
    monkeypatch.setenv("KELIWEB_CUSTOM_FIELDS", "5=Slack")
    monkeypatch.setenv("KELIWEB_REQUESTER_FIELD", "6")
    gateway = build_gateway(keliweb_settings())
    assert isinstance(gateway, KeliwebGateway) and isinstance(gateway, TicketGateway)
    assert [(c.id, c.name) for c in gateway.list_categories()] == [
        ("1", "Supporto tecnico"),
        ("4", "Amministrazione"),
    ]
    assert gateway.custom_fields == {5: "Slack"} and gateway.requester_field == 6
    gateway.close()


def test_capabilities_tell_the_truth(gateway: KeliwebGateway) -> None:
    caps = gateway.capabilities
    assert caps.categories and caps.priorities and caps.ticket_detail
    assert caps.conversations_out and caps.conversations_in and caps.attachments
    assert caps.max_attachment_bytes == MAX_ATTACHMENT_BYTES
    assert not (caps.status_change or caps.ticket_list or caps.tags or caps.priority_change)
    assert gateway.list_priorities() == [Classic.LOW, Classic.MEDIUM, Classic.HIGH]


def test_undocumented_operations_are_unsupported_without_a_request(
    fake: FakeKeliweb, gateway: KeliwebGateway
) -> None:
    for call in (
        lambda: gateway.set_status("1", Classic.CLOSED),
        lambda: gateway.list_tickets(),
        lambda: gateway.update_ticket("1", priority=Classic.LOW),
        lambda: gateway.download_attachment("1:2:0"),
        lambda: gateway.list_tags(),
    ):
        with pytest.raises(Unsupported):
            call()
    gateway.update_ticket("1")  # nothing to change: no error
    assert fake.requests == []


# -- tokens ----------------------------------------------------------------------------


def test_password_grant_then_the_token_is_reused(
    fake: FakeKeliweb, gateway: KeliwebGateway
) -> None:
    ticket_id = fake.add_ticket("One")
    gateway.get_ticket(str(ticket_id))
    gateway.get_ticket(str(ticket_id))
    [grant] = fake.requests_to("/oauth/token")
    assert form(grant) == {
        "grant_type": "password",
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "username": fake.username,
        "password": fake.password,
    }
    assert grant.headers["x-requested-with"] == "XMLHttpRequest"
    calls = fake.requests_to("/api/v2/keliweb/get-ticket")
    assert len(calls) == 2
    token = calls[0].headers["authorization"]
    assert token.startswith("Bearer ") and calls[1].headers["authorization"] == token


def test_every_request_asks_for_json(fake: FakeKeliweb, gateway: KeliwebGateway) -> None:
    ticket_id = gateway.create_ticket(new_ticket()).id
    gateway.add_conversation(ticket_id, "hello")
    gateway.get_ticket(ticket_id)
    assert len(fake.requests) == 4
    for request in fake.requests:
        assert request.headers["accept"] == "application/json", request.path
        assert request.headers["x-requested-with"] == "XMLHttpRequest", request.path


def test_token_is_refreshed_before_it_expires(fake: FakeKeliweb) -> None:
    clock = Clock()
    gateway = make_gateway(fake, clock=clock)
    ticket_id = str(fake.add_ticket("One"))
    gateway.get_ticket(ticket_id)
    clock.now += 3500  # 100 s left: not yet inside the margin
    gateway.get_ticket(ticket_id)
    assert fake.grants == ["password"]
    clock.now += 50  # 50 s left: renewed before use
    gateway.get_ticket(ticket_id)
    assert fake.grants == ["password", "refresh_token"]
    refresh = fake.requests_to("/oauth/token")[1]
    assert form(refresh)["grant_type"] == "refresh_token"
    assert form(refresh)["client_secret"] == fake.client_secret
    assert all(r.headers["authorization"] for r in fake.requests_to("get-ticket"))
    gateway.close()


def test_a_refused_refresh_token_falls_back_to_the_password_grant(fake: FakeKeliweb) -> None:
    clock = Clock()
    gateway = make_gateway(fake, clock=clock)
    ticket_id = str(fake.add_ticket("One"))
    gateway.get_ticket(ticket_id)
    fake.revoke_refresh_tokens()
    clock.now += 3590
    gateway.get_ticket(ticket_id)
    assert fake.grants == ["password", "password"]
    assert [form(r)["grant_type"] for r in fake.requests_to("/oauth/token")] == [
        "password",
        "refresh_token",
        "password",
    ]
    gateway.close()


def test_a_token_refused_early_is_renewed_once_and_the_call_repeated(
    fake: FakeKeliweb, gateway: KeliwebGateway
) -> None:
    ticket_id = str(fake.add_ticket("One"))
    gateway.get_ticket(ticket_id)
    fake.expire_tokens()
    gateway.add_conversation(ticket_id, "after expiry")
    assert [r["message"] for r in fake.replies(int(ticket_id))] == ["after expiry"]
    assert fake.grants == ["password", "refresh_token"]
    assert len(fake.requests_to("add-ticket-reply")) == 2


def test_concurrent_calls_share_one_grant(fake: FakeKeliweb, gateway: KeliwebGateway) -> None:
    ticket_id = str(fake.add_ticket("One"))
    fake.delay = 0.05
    threads = [threading.Thread(target=gateway.get_ticket, args=(ticket_id,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake.grants == ["password"]


def test_refused_credentials_are_unauthorized(fake: FakeKeliweb) -> None:
    gateway = make_gateway(fake, password="wrong-password-value")
    with pytest.raises(Unauthorized) as caught:
        gateway.get_ticket("1")
    assert "invalid_grant" in caught.value.message
    assert fake.requests_to("get-ticket") == []
    bad_client = make_gateway(fake, client_secret="wrong-client-secret")
    with pytest.raises(Unauthorized) as caught:
        bad_client.get_ticket("1")
    assert "invalid_client" in caught.value.message


def test_the_fake_redirects_a_request_that_does_not_ask_for_json(fake: FakeKeliweb) -> None:
    browser = httpx.post(fake.base_url + "keliweb/get-ticket", data={"ticketid": "1"})
    assert browser.status_code == 302
    assert browser.headers["location"] == fake.root_url + "login"
    ajax = httpx.post(
        fake.base_url + "keliweb/get-ticket",
        data={"ticketid": "1"},
        headers={"X-Requested-With": "XMLHttpRequest", "Accept": "application/json"},
    )
    assert ajax.status_code == 401 and ajax.json() == {"message": "Unauthenticated."}


def test_a_login_redirect_becomes_unauthorized_never_data() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "a", "expires_in": 3600})
        return httpx.Response(
            302, headers={"Location": "https://h.example/login"}, text="<html>login</html>"
        )

    gateway = KeliwebGateway(
        "https://h.example/api/v2/",
        client_id="7",
        client_secret="client-secret-value",
        username="u",
        password="p",
        settings=section({1: "Support"}),
        transport=httpx.MockTransport(handler),
        retry=FAST_RETRY,
    )
    with pytest.raises(Unauthorized) as caught:
        gateway.get_ticket("1")
    assert "redirected to a login page" in caught.value.message
    with pytest.raises(Unauthorized):
        gateway.add_conversation("1", "hello")
    api_calls = [r for r in seen if r.url.path != "/oauth/token"]
    assert len(api_calls) == 4  # each call: once, then once more with a renewed token
    assert all(str(r.url).startswith("https://h.example/api/v2/keliweb/") for r in api_calls)


# -- open-ticket ---------------------------------------------------------------------


def test_create_sends_the_documented_fields(fake: FakeKeliweb) -> None:
    gateway = make_gateway(fake, custom_fields={5: "Slack"}, requester_field=6)
    ticket = gateway.create_ticket(
        new_ticket(attachment=FileUpload(filename="log.txt", content=b"line 1\n"))
    )
    [request] = fake.requests_to("open-ticket")
    sent = form(request)
    assert sent["deptid"] == "1" and sent["priority"] == "High" and sent["markdown"] == "1"
    assert sent["subject"] == "Sito non raggiungibile"
    assert sent["name"] == "Ada Lovelace" and sent["email"] == "ada@example.com"
    assert sent["message"].startswith("The site answers 502 since this morning.")
    assert "Requested by Ada Lovelace <ada@example.com> via Slack" in sent["message"]
    assert "Reference: slack-V123" in sent["message"]
    assert unserialize(base64.b64decode(sent["customfields"])) == {
        5: "Slack",
        6: "Ada Lovelace <ada@example.com>",
    }
    [file] = json.loads(base64.b64decode(sent["attachments"]))
    assert file["name"] == "log.txt" and base64.b64decode(file["data"]) == b"line 1\n"
    assert ticket.id == "1" and ticket.status == Classic.OPEN
    assert ticket.category_id == "1" and ticket.category_name == "Support"
    assert ticket.priority == Classic.HIGH and ticket.author == "Ada Lovelace"
    stored = fake.tickets[1]
    assert stored["attachments"] == ["log.txt"] and stored["customfields"][5] == "Slack"
    gateway.close()


def test_create_without_optional_values_sends_none_of_them(
    fake: FakeKeliweb, gateway: KeliwebGateway
) -> None:
    gateway.create_ticket(new_ticket(priority=None, requester=None, reference=None))
    sent = form(fake.requests_to("open-ticket")[0])
    assert set(sent) == {"deptid", "subject", "message", "markdown"}
    assert sent["message"] == "The site answers 502 since this morning."


def test_create_checks_before_sending(fake: FakeKeliweb, gateway: KeliwebGateway) -> None:
    with pytest.raises(ValidationFailed) as caught:
        gateway.create_ticket(new_ticket(subject=" ", description="", category_id="9"))
    assert set(caught.value.fields) == {"subject", "description", "category"}
    big = FileUpload(filename="big.bin", content=b"x" * (MAX_ATTACHMENT_BYTES + 1))
    with pytest.raises(ValidationFailed) as caught:
        gateway.create_ticket(new_ticket(attachment=big))
    assert "2 MiB" in caught.value.fields["attachment"][0]
    assert fake.requests == []


def test_whmcs_errors_on_create_are_mapped(fake: FakeKeliweb, gateway: KeliwebGateway) -> None:
    del fake.departments[2]  # configured in the bot, gone in the helpdesk
    with pytest.raises(ValidationFailed) as caught:
        gateway.create_ticket(new_ticket(category_id="2"))
    assert caught.value.fields == {"category": ["Department ID not found"]}
    assert fake.tickets == {}


def test_a_create_without_answer_is_never_resent(
    fake: FakeKeliweb, gateway: KeliwebGateway
) -> None:
    fake.fail_next(1, 502, path_contains="open-ticket")
    with pytest.raises(OutcomeUnknown) as caught:
        gateway.create_ticket(new_ticket())
    assert "slack-V123" in caught.value.message
    assert len(fake.requests_to("open-ticket")) == 1


def test_an_unreachable_helpdesk_is_unavailable(fake: FakeKeliweb) -> None:
    gateway = make_gateway(fake, api_url="http://127.0.0.1:9/api/v2/")
    with pytest.raises(Unavailable):
        gateway.get_ticket("1")


# -- get-ticket --------------------------------------------------------------------------


def test_get_ticket_reads_the_whmcs_shape(fake: FakeKeliweb, gateway: KeliwebGateway) -> None:
    ticket_id = gateway.create_ticket(new_ticket()).id
    fake.add_agent_reply(int(ticket_id), "Restarted the **server**.", admin="Mario Rossi")
    detail = gateway.get_ticket(ticket_id)
    sent = form(fake.requests_to("get-ticket")[0])
    assert sent == {"ticketid": ticket_id, "repliessort": "ASC"}
    ticket = detail.ticket
    assert ticket.id == ticket_id and ticket.subject == "Sito non raggiungibile"
    assert ticket.status == Classic.PROCESSING  # "Answered"
    assert ticket.priority == Classic.HIGH and ticket.category_name == "Support"
    assert ticket.description.startswith("The site answers 502")
    [reply] = detail.conversations
    assert reply.text == "Restarted the **server**." and reply.author == "Mario Rossi"
    assert reply.ticket_id == ticket_id and reply.id.isdigit()


@pytest.mark.parametrize(
    ("whmcs", "status"),
    [
        ("Open", Classic.OPEN),
        ("Answered", Classic.PROCESSING),
        ("Customer-Reply", Classic.PROCESSING),
        ("In Progress", Classic.PROCESSING),
        ("On Hold", Classic.PROCESSING),
        ("Closed", Classic.CLOSED),
        ("Waiting for parts", Classic.PROCESSING),
    ],
)
def test_whmcs_statuses_read_back(
    fake: FakeKeliweb, gateway: KeliwebGateway, whmcs: str, status: TicketStatus
) -> None:
    ticket_id = fake.add_ticket("One", status=whmcs)
    assert gateway.get_ticket(str(ticket_id)).ticket.status == status


def test_the_bots_own_reply_reads_back_exactly_as_sent(
    fake: FakeKeliweb, gateway: KeliwebGateway
) -> None:
    """The poller recognises its own replies by their text: WHMCS's HTML escaping is undone."""
    ticket_id = str(fake.add_ticket("One"))
    sent = 'Ada Lovelace: if a < b && c > d, it\'s "fine" — perché?\nline 2'
    gateway.add_conversation(ticket_id, sent)
    assert "&lt;" in fake.replies(int(ticket_id))[0]["message"]  # stored escaped
    [conversation] = gateway.get_ticket(ticket_id).conversations
    assert conversation.text == sent
    assert conversation.author == "Ada Lovelace"


def test_reply_lists_in_every_shape(fake: FakeKeliweb, gateway: KeliwebGateway) -> None:
    ticket_id = fake.add_ticket("One", "the opening message")
    fake.reply_shape = "single"  # only the opening message, not in a list
    detail = gateway.get_ticket(str(ticket_id))
    assert detail.conversations == [] and detail.ticket.description == "the opening message"
    fake.reply_shape = "empty"
    detail = gateway.get_ticket(str(ticket_id))
    assert detail.conversations == [] and detail.ticket.description == ""
    fake.reply_shape = "list"
    fake.add_agent_reply(ticket_id, "one")
    assert [c.text for c in gateway.get_ticket(str(ticket_id)).conversations] == ["one"]


@pytest.mark.parametrize(
    "replies",
    [
        {"reply": {"replyid": "7", "message": "alone", "admin": "Bob"}},
        {"reply": [{"replyid": "7", "message": "alone", "admin": "Bob"}]},
        [{"replyid": 7, "message": "alone", "admin": "Bob"}],
        {"replyid": "7", "message": "alone", "admin": "Bob"},
    ],
)
def test_a_single_reply_in_any_wrapping(replies: Any) -> None:
    detail = _detail({"ticketid": 3, "subject": "s", "replies": replies}, {})
    assert [(c.id, c.text, c.author) for c in detail.conversations] == [("7", "alone", "Bob")]
    assert detail.ticket.id == "3"


@pytest.mark.parametrize("replies", ["", None, {}, [], {"reply": ""}, {"reply": []}])
def test_no_replies_in_any_shape(replies: Any) -> None:
    assert _detail({"ticketid": "3", "replies": replies}, {}).conversations == []


def test_agent_attachments_are_named_but_cannot_be_downloaded(
    fake: FakeKeliweb, gateway: KeliwebGateway
) -> None:
    ticket_id = fake.add_ticket("One")
    fake.add_agent_reply(ticket_id, "see files", attachments=[("a.png", b"1"), ("b.pdf", b"2")])
    [reply] = gateway.get_ticket(str(ticket_id)).conversations
    assert [a.filename for a in reply.attachments] == ["a.png", "b.pdf"]
    assert len({a.id for a in reply.attachments}) == 2
    with pytest.raises(Unsupported):
        gateway.download_attachment(reply.attachments[0].id)


def test_missing_and_foreign_tickets_are_not_found(
    fake: FakeKeliweb, gateway: KeliwebGateway
) -> None:
    foreign = fake.add_foreign_ticket()
    for ticket_id in ("99", str(foreign)):
        with pytest.raises(NotFound) as caught:
            gateway.get_ticket(ticket_id)
        assert "Ticket ID Not Found" in caught.value.message
        with pytest.raises(NotFound):
            gateway.add_conversation(ticket_id, "hello")
    before = len(fake.requests)
    with pytest.raises(NotFound):
        gateway.get_ticket("12; drop")
    assert len(fake.requests) == before


def test_reads_are_retried_on_5xx(fake: FakeKeliweb, gateway: KeliwebGateway) -> None:
    ticket_id = fake.add_ticket("One")
    fake.fail_next(2, 503, path_contains="get-ticket")
    assert gateway.get_ticket(str(ticket_id)).ticket.subject == "One"
    assert len(fake.requests_to("get-ticket")) == 3


# -- add-ticket-reply --------------------------------------------------------------------


def test_add_conversation_sends_the_documented_fields(
    fake: FakeKeliweb, gateway: KeliwebGateway
) -> None:
    ticket_id = fake.add_ticket("One")
    upload = FileUpload(filename="shot.png", content=b"\x89PNG")
    gateway.add_conversation(str(ticket_id), "  Ada: see the screenshot  ", upload)
    sent = form(fake.requests_to("add-ticket-reply")[0])
    assert sent["ticketid"] == str(ticket_id) and sent["markdown"] == "1"
    assert sent["message"] == "Ada: see the screenshot"
    [file] = json.loads(base64.b64decode(sent["attachments"]))
    assert file == {"name": "shot.png", "data": base64.b64encode(b"\x89PNG").decode()}
    assert fake.tickets[ticket_id]["status"] == "Customer-Reply"


def test_add_conversation_checks_and_refusals(fake: FakeKeliweb, gateway: KeliwebGateway) -> None:
    ticket_id = str(fake.add_ticket("One"))
    with pytest.raises(ValidationFailed) as caught:
        gateway.add_conversation(ticket_id, "  ")
    assert set(caught.value.fields) == {"text"}
    big = FileUpload(filename="big", content=b"x" * (MAX_ATTACHMENT_BYTES + 1))
    with pytest.raises(ValidationFailed):
        gateway.add_conversation(ticket_id, "x", big)
    assert fake.requests == []
    fake.hang_next(1, 2.0, path_contains="add-ticket-reply")
    with pytest.raises(OutcomeUnknown):
        gateway.add_conversation(ticket_id, "slow")
    assert len(fake.requests_to("add-ticket-reply")) == 1


@pytest.mark.parametrize(
    ("message", "error", "field"),
    [
        ("Ticket ID Not Found", NotFound, None),
        ("Department ID not found", ValidationFailed, "category"),
        ("Subject is required", ValidationFailed, "subject"),
        ("Message is required", ValidationFailed, "description"),
        ("Invalid Priority. Valid priorities are: Low, Medium, High", ValidationFailed, "priority"),
        ("Attachment x exceeds the maximum upload size", ValidationFailed, "attachment"),
        ("Invalid custom fields", ValidationFailed, "customfields"),
        ("Ticket is closed", InvalidState, None),
        ("Authentication Failed", Unauthorized, None),
        ("Something odd", GatewayError, None),
    ],
)
def test_whmcs_error_messages_map_to_typed_errors(
    message: str, error: type[GatewayError], field: str | None
) -> None:
    mapped = _whmcs_error(
        "POST keliweb/open-ticket", message, {"deptid": "category", "message": "description"}
    )
    assert type(mapped) is error
    assert message in mapped.message
    if field is not None:
        assert isinstance(mapped, ValidationFailed) and field in mapped.fields


def test_laravel_validation_and_other_http_errors_are_typed() -> None:
    answers = {
        "get-ticket": httpx.Response(
            422, json={"message": "invalid", "errors": {"ticketid": ["must be an integer"]}}
        ),
        "open-ticket": httpx.Response(429, json={"message": "Too Many Attempts."}),
        "add-ticket-reply": httpx.Response(200, text="<html>maintenance</html>"),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "a", "expires_in": "3600"})
        return answers[request.url.path.rsplit("/", 1)[-1]]

    gateway = KeliwebGateway(
        "https://h.example/api/v2/",
        client_id="7",
        client_secret="s",
        username="u",
        password="p",
        settings=section({1: "Support"}),
        transport=httpx.MockTransport(handler),
        retry=FAST_RETRY,
    )
    with pytest.raises(ValidationFailed) as caught:
        gateway.get_ticket("1")
    assert caught.value.fields == {"ticketid": ["must be an integer"]}
    with pytest.raises(Unavailable):
        gateway.create_ticket(new_ticket())
    with pytest.raises(GatewayError, match="not JSON"):
        gateway.add_conversation("1", "x")


# -- check -------------------------------------------------------------------------------


def test_configuration_problems(fake: FakeKeliweb, gateway: KeliwebGateway) -> None:
    assert gateway.configuration_problems() == []
    assert fake.grants == ["password"]
    wrong_url = make_gateway(fake, api_url=fake.root_url + "api/v1/")
    [line] = wrong_url.configuration_problems()
    assert "TICKET_API_URL" in line and "/api/v2/" in line
    with pytest.raises(Unauthorized):
        make_gateway(fake, password="nope").configuration_problems()


# -- secrets ----------------------------------------------------------------------------


def test_no_secret_in_logs_or_errors(fake: FakeKeliweb, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    raised: list[str] = []
    clock = Clock()
    gateway = make_gateway(fake, clock=clock)
    ticket_id = gateway.create_ticket(new_ticket()).id
    clock.now += 3590
    gateway.add_conversation(ticket_id, "refreshed")
    fake.expire_tokens()
    fake.revoke_refresh_tokens()
    gateway.get_ticket(ticket_id)
    for bad in (
        make_gateway(fake, password="wrong-password-value"),
        make_gateway(fake, client_secret="wrong-client-secret"),
    ):
        try:
            bad.get_ticket("1")
        except GatewayError as exc:
            raised.append(str(exc))
    fake.fail_next(3, 503)
    try:
        gateway.get_ticket(ticket_id)
    except GatewayError as exc:
        raised.append(str(exc))
    assert len(raised) == 3
    secrets = [
        fake.client_secret,
        fake.password,
        "wrong-password-value",
        "wrong-client-secret",
        *fake.access_tokens,
        *fake.issued_refresh_tokens,
    ]
    for text in [caplog.text, *raised]:
        for secret in secrets:
            assert secret not in text
