"""The Slack fakes behave like Slack: FakeSlack answers slack_sdk like the Web API does, and
SignedClient's requests are accepted (or rejected) by a real Bolt app the way Slack's are."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.support.fakes.slack import FakeSlack
from tests.support.slack_requests import SignedClient, new_trigger_id, slack_signature, state_values

TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(base_url=fake.api_url, token=TOKEN)


def modal(blocks: list[dict[str, Any]], title: str = "New ticket") -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "new_ticket",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Create"},
        "blocks": blocks,
    }


PRIORITY_OPTIONS = [
    {"text": {"type": "plain_text", "text": name}, "value": name.lower()}
    for name in ("Low", "High")
]
TICKET_BLOCKS: list[dict[str, Any]] = [
    {
        "type": "input",
        "block_id": "subject",
        "label": {"type": "plain_text", "text": "Subject"},
        "element": {"type": "plain_text_input", "action_id": "subject_input"},
    },
    {
        "type": "input",
        "label": {"type": "plain_text", "text": "Priority"},
        "element": {"type": "static_select", "options": PRIORITY_OPTIONS},
    },
    {
        "type": "input",
        "block_id": "tags",
        "optional": True,
        "label": {"type": "plain_text", "text": "Tags"},
        "element": {
            "type": "multi_static_select",
            "action_id": "tags_input",
            "options": PRIORITY_OPTIONS,
        },
    },
]


# ---------------------------------------------------------------------- Web API


def test_calls_are_recorded_with_decoded_args(fake: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]

    posted = client.chat_postMessage(channel="C1", text="hi", blocks=blocks)

    assert posted["ok"] and posted["channel"] == "C1"
    call = fake.wait_for("chat.postMessage")[0]
    assert call.args["channel"] == "C1"
    assert call.args["blocks"] == blocks
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert posted["message"]["blocks"][0]["block_id"]


def test_form_encoded_json_fields_are_decoded(fake: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "divider"}]
    client.api_call("chat.postMessage", data={"channel": "C1", "blocks": json.dumps(blocks)})

    assert fake.calls_to("chat.postMessage")[0].args["blocks"] == blocks


def test_message_ts_is_unique_and_increasing(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel="C1", text=str(i))["ts"] for i in range(3)]

    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    assert stamps[0] == "1700000000.000100"


def test_auth_test_reports_identity_and_scopes(fake: FakeSlack, client: WebClient) -> None:
    result = client.auth_test()

    assert (result["team_id"], result["user_id"]) == ("T1", "UBOT")
    assert result["bot_id"]
    assert "users:read.email" in result.headers["x-oauth-scopes"].split(",")


def test_wrong_token_is_invalid_auth(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as error:
        WebClient(base_url=fake.api_url, token="xoxb-wrong").chat_postMessage(
            channel="C1", text="x"
        )

    assert error.value.response["error"] == "invalid_auth"


def test_unknown_method(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as error:
        client.api_call("chat.teleport")

    assert error.value.response["error"] == "unknown_method"


def test_not_in_channel(fake: FakeSlack, client: WebClient) -> None:
    fake.channels_without_bot.add("C9")

    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="C9", text="hello")

    assert error.value.response["error"] == "not_in_channel"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "no_text"),
        ({"text": "x" * 40_001}, "msg_too_long"),
        ({"blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        (
            {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]},
            "invalid_blocks",
        ),
        (
            {"blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "x" * 3001}]}]},
            "invalid_blocks",
        ),
    ],
)
def test_post_message_validation(client: WebClient, kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="C1", **kwargs)

    assert error.value.response["error"] == expected


def test_channel_must_be_a_string(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as error:
        client.api_call("chat.postMessage", json={"channel": 1, "text": "x"})

    assert error.value.response["error"] == "invalid_arguments"


def test_fail_next_then_recovers(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("users.info", "fatal_error")

    with pytest.raises(SlackApiError):
        client.users_info(user="U1")
    user = client.users_info(user="U1")["user"]

    assert user["real_name"] == "Ada Lovelace"
    assert user["profile"]["email"] == "ada@example.com"


def test_unknown_user(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as error:
        client.users_info(user="U404")

    assert error.value.response["error"] == "user_not_found"


def test_rate_limit_is_retried_after_retry_after(fake: FakeSlack) -> None:
    client = WebClient(base_url=fake.api_url, token=TOKEN)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    fake.rate_limit_next("chat.postMessage", retry_after=1)

    assert client.chat_postMessage(channel="C1", text="hi")["ok"]

    first, second = fake.calls_to("chat.postMessage")
    assert first.status == 429
    assert second.time - first.time >= 1.0


def test_rate_limit_without_retry_handler_surfaces_429(fake: FakeSlack, client: WebClient) -> None:
    fake.rate_limit_next("chat.postMessage", retry_after=7)

    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="C1", text="hi")

    assert error.value.response.status_code == 429
    assert error.value.response.headers["retry-after"] == "7"


def test_delay(fake: FakeSlack, client: WebClient) -> None:
    fake.delay("auth.test", 0.3)
    started = time.monotonic()

    client.auth_test()

    assert time.monotonic() - started >= 0.3


def test_reactions_already_reacted(client: WebClient) -> None:
    client.reactions_add(channel="C1", timestamp="1.000100", name="eyes")

    with pytest.raises(SlackApiError) as error:
        client.reactions_add(channel="C1", timestamp="1.000100", name="eyes")

    assert error.value.response["error"] == "already_reacted"
    assert client.reactions_remove(channel="C1", timestamp="1.000100", name="eyes")["ok"]


def test_conversations_replies_and_permalink(fake: FakeSlack, client: WebClient) -> None:
    parent = fake.add_message("C1", "printer on fire", user="U1")
    reply = client.chat_postMessage(channel="C1", thread_ts=parent["ts"], text="ticket #1")

    messages = client.conversations_replies(channel="C1", ts=parent["ts"])["messages"]
    link = client.chat_getPermalink(channel="C1", message_ts=reply["ts"])["permalink"]

    assert [m["text"] for m in messages] == ["printer on fire", "ticket #1"]
    assert f"thread_ts={parent['ts']}" in link
    assert client.conversations_info(channel="C1")["channel"]["is_member"]


def test_conversations_replies_pages_with_cursors_and_bounds(
    fake: FakeSlack, client: WebClient
) -> None:
    parent = fake.add_message("C1", "root")
    for n in range(5):
        fake.add_message("C1", f"reply {n}", thread_ts=parent["ts"])

    pages, cursor = [], None
    while True:
        page = client.conversations_replies(channel="C1", ts=parent["ts"], limit=2, cursor=cursor)
        pages.append([m["text"] for m in page["messages"]])
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] == bool(cursor)
        if not cursor:
            break
    reply_2 = fake.messages["C1"][3]["ts"]
    bounded = client.conversations_replies(
        channel="C1", ts=parent["ts"], oldest=reply_2, inclusive=True
    )
    with pytest.raises(SlackApiError) as error:
        client.conversations_replies(channel="C1", ts=parent["ts"], cursor="bm90OmFjdXJzb3I=")

    assert pages == [["root", "reply 0"], ["reply 1", "reply 2"], ["reply 3", "reply 4"]]
    assert [m["text"] for m in bounded["messages"]] == ["reply 2", "reply 3", "reply 4"]
    assert error.value.response["error"] == "invalid_cursor"


def test_chat_update_and_ephemeral(client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C1", text="open")

    updated = client.chat_update(channel="C1", ts=posted["ts"], text="closed")
    ephemeral = client.chat_postEphemeral(channel="C1", user="U1", text="only you")

    assert updated["message"]["text"] == "closed"
    assert ephemeral["message_ts"]


def test_views_open_update_and_limits(fake: FakeSlack, client: WebClient) -> None:
    opened = client.views_open(trigger_id=new_trigger_id(), view=modal(TICKET_BLOCKS))["view"]
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal([]))

    assert opened["id"].startswith("V") and opened["hash"]
    assert updated["view"]["id"] == opened["id"]
    assert fake.views[opened["id"]]["blocks"] == []
    for view in (modal([{"type": "divider"}] * 101), modal([], title="x" * 25)):
        with pytest.raises(SlackApiError) as error:
            client.views_open(trigger_id=new_trigger_id(), view=view)
        assert error.value.response["error"] == "invalid_arguments"


def test_expired_trigger_id(client: WebClient) -> None:
    stale = f"trig.{time.monotonic() - 3.5}"

    with pytest.raises(SlackApiError) as error:
        client.views_open(trigger_id=stale, view=modal([]))

    assert error.value.response["error"] == "expired_trigger_id"
    assert client.views_open(trigger_id="12345.98765.abcd", view=modal([]))["ok"]


def test_views_publish_home(client: WebClient) -> None:
    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
    }

    first = client.views_publish(user_id="U1", view=home)["view"]
    second = client.views_publish(user_id="U1", view=home)["view"]

    assert first["id"] == second["id"]


def test_files_upload_v2_round_trip(fake: FakeSlack, client: WebClient) -> None:
    result = client.files_upload_v2(
        channel="C1",
        content=b"log line\n",
        filename="log.txt",
        initial_comment="logs",
        thread_ts="1.1",
    )

    upload = fake.uploads[0]
    assert (upload["filename"], upload["content"], upload["channel_id"]) == (
        "log.txt",
        b"log line\n",
        "C1",
    )
    assert (upload["thread_ts"], upload["initial_comment"]) == ("1.1", "logs")
    assert client.files_info(file=result["file"]["id"])["file"]["name"] == "log.txt"


def test_private_file_download_needs_the_bot_token(fake: FakeSlack, client: WebClient) -> None:
    file_object = fake.add_file("F1", "shot.png", b"\x89PNG", "image/png")
    url = client.files_info(file="F1")["file"]["url_private_download"]

    authorised = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    anonymous = httpx.get(url)

    assert file_object["id"] == "F1"
    assert authorised.content == b"\x89PNG"
    assert anonymous.headers["content-type"].startswith("text/html")


def test_response_urls_are_recorded(fake: FakeSlack) -> None:
    other = fake.new_response_url()

    httpx.post(fake.response_url, json={"text": "one"})
    httpx.post(other, json={"text": "two"})

    assert other != fake.response_url
    assert [c.args["text"] for c in fake.wait_for("response_url", 2)] == ["one", "two"]


def test_wait_for_lists_what_arrived(fake: FakeSlack, client: WebClient) -> None:
    client.auth_test()

    with pytest.raises(AssertionError, match=r"auth\.test"):
        fake.wait_for("views.open", timeout=0.1)


# ---------------------------------------------------------------------- state_values


def test_state_values_follow_slack_shape(client: WebClient) -> None:
    view = client.views_open(trigger_id=new_trigger_id(), view=modal(TICKET_BLOCKS))["view"]
    priority_block = view["blocks"][1]
    priority_action = priority_block["element"]["action_id"]

    values = state_values(view, {"subject_input": "Printer", priority_action: "high"})

    assert values["subject"]["subject_input"] == {"type": "plain_text_input", "value": "Printer"}
    assert values[priority_block["block_id"]][priority_action] == {
        "type": "static_select",
        "selected_option": PRIORITY_OPTIONS[1],
    }
    assert values["tags"]["tags_input"] == {"type": "multi_static_select", "selected_options": []}
    with pytest.raises(ValueError):
        state_values(view, {priority_action: "urgent"})


# ---------------------------------------------------------------------- a real Bolt app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def bolt_url(fake: FakeSlack) -> Iterator[str]:
    app = App(
        client=WebClient(base_url=fake.api_url, token=TOKEN),
        signing_secret=SECRET,
    )
    register_listeners(app)
    server = make_server("127.0.0.1", 0, SlackRequestHandler(app), WSGIServer, _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/slack/events"
    server.shutdown()
    server.server_close()


def register_listeners(app: App) -> None:
    @app.command("/ticket")
    def open_ticket(ack: Ack, respond: Respond, command: dict[str, Any]) -> None:
        ack()
        respond(text=f"got {command['text']}")

    @app.view("new_ticket")
    def submit(ack: Ack, view: dict[str, Any]) -> None:
        subject = view["state"]["values"]["subject"]["subject_input"]["value"]
        ack(response_action="errors", errors={"subject": f"{subject} taken"})

    @app.event("app_mention")
    def mentioned(event: dict[str, Any], say: Any) -> None:
        say(text="hello", thread_ts=event["ts"])


def test_signed_command_is_acked(fake: FakeSlack, bolt_url: str) -> None:
    with SignedClient(bolt_url, SECRET) as slack:
        response = slack.command("printer broken", response_url=fake.response_url)

    assert response.status_code == 200
    assert fake.wait_for("response_url")[0].args["text"] == "got printer broken"


def test_bad_signature_is_rejected(fake: FakeSlack, bolt_url: str) -> None:
    with SignedClient(bolt_url, SECRET, response_url=fake.response_url) as slack:
        good = slack.command("x")
        old = slack.post(
            "text=x", "application/x-www-form-urlencoded", timestamp=int(time.time()) - 600
        )
        unsigned = slack.post("text=x", "application/x-www-form-urlencoded", sign=False)
    with SignedClient(bolt_url, "not-the-secret") as forger:
        forged = forger.command("x")

    assert good.status_code == 200
    assert (old.status_code, unsigned.status_code, forged.status_code) == (401, 401, 401)


def test_view_submission_and_event(fake: FakeSlack, bolt_url: str) -> None:
    client = WebClient(base_url=fake.api_url, token=TOKEN)
    view = client.views_open(trigger_id=new_trigger_id(), view=modal(TICKET_BLOCKS))["view"]
    submitted = {**view, "state": {"values": state_values(view, {"subject_input": "VPN"})}}

    with SignedClient(bolt_url, SECRET) as slack:
        answer = slack.view_submission(submitted)
        event = slack.event(
            {
                "type": "app_mention",
                "user": "U1",
                "text": "<@UBOT> hi",
                "ts": "1.2",
                "channel": "C1",
            }
        )
        challenge = slack.url_verification("abc")

    assert answer.json() == {"response_action": "errors", "errors": {"subject": "VPN taken"}}
    assert event.status_code == 200
    assert fake.wait_for("chat.postMessage")[0].args["thread_ts"] == "1.2"
    assert challenge.json() == {"challenge": "abc"}


def test_signature_matches_slack_documented_example() -> None:
    # Example from Slack's "Verifying requests from Slack" guide.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmi"
        b"bIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )

    signature = slack_signature("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, body)

    assert signature == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
