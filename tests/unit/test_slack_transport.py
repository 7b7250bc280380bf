"""The Web API client keeps its connections to Slack open between calls
(bot/slack/transport.py), and otherwise answers as slack_sdk's own client does.

Against the fake Slack on loopback, which records the client port of each call: calls
with the same port came over the same connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.slack.client import build_client
from bot.slack.transport import KeptAliveWebClient
from tests.support.fakes.file_host import FileHost
from tests.support.fakes.slack import FakeSlack

TOKEN = "xoxb-test-token"


@pytest.fixture()
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=TOKEN) as fake:
        yield fake


@pytest.fixture()
def client(slack: FakeSlack) -> Iterator[KeptAliveWebClient]:
    web = build_client(TOKEN, slack.api_url)
    yield web
    web.close()


def ports(slack: FakeSlack, method: str) -> list[int | None]:
    return [call.peer_port for call in slack.calls_to(method)]


def test_calls_one_after_another_share_one_connection(
    slack: FakeSlack, client: KeptAliveWebClient
) -> None:
    for n in range(5):
        client.chat_postMessage(channel="C1", text=f"line {n}")

    used = ports(slack, "chat.postMessage")
    assert len(used) == 5 and len(set(used)) == 1


def test_a_connection_slack_closed_while_idle_is_not_used_again(
    slack: FakeSlack, client: KeptAliveWebClient
) -> None:
    client.chat_postMessage(channel="C1", text="before")
    slack.close_idle_connections()

    client.chat_postMessage(channel="C1", text="after")

    calls = slack.calls_to("chat.postMessage")
    assert [c.args["text"] for c in calls] == ["before", "after"]  # no failed try between
    assert calls[0].peer_port != calls[1].peer_port


def test_calls_at_once_each_get_a_connection_and_all_arrive(
    slack: FakeSlack, client: KeptAliveWebClient
) -> None:
    errors: list[BaseException] = []

    def post(n: int) -> None:
        try:
            for k in range(5):
                client.chat_postMessage(channel="C1", text=f"{n}-{k}")
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    texts = sorted(c.args["text"] for c in slack.calls_to("chat.postMessage"))
    assert texts == sorted(f"{n}-{k}" for n in range(8) for k in range(5))
    assert len(set(ports(slack, "chat.postMessage"))) <= 8  # reused, never one per call


def test_slacks_errors_and_rate_limits_read_as_with_slack_sdk(
    slack: FakeSlack, client: KeptAliveWebClient
) -> None:
    slack.fail_next("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError) as failed:
        client.chat_postMessage(channel="C1", text="x")
    assert failed.value.response["error"] == "channel_not_found"

    slack.rate_limit_next("chat.postMessage", retry_after=0)
    slack.server_error_next("chat.postMessage", 503)
    assert client.chat_postMessage(channel="C1", text="third try")["ok"]
    statuses = [c.status for c in slack.calls_to("chat.postMessage")]
    assert statuses[1:] == [503, 429, 200]  # retried, waited, retried: one connection
    assert len(set(ports(slack, "chat.postMessage"))) == 1


def test_an_answer_dropped_without_a_word_is_tried_again(
    slack: FakeSlack, client: KeptAliveWebClient
) -> None:
    client.chat_postMessage(channel="C1", text="first")
    slack.drop_next("chat.postMessage")

    assert client.chat_postMessage(channel="C1", text="second")["ok"]
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [200, 0, 200]


def test_a_redirect_is_not_followed_so_the_token_goes_nowhere_else(
    slack: FakeSlack, client: KeptAliveWebClient
) -> None:
    with FileHost(b"{}") as elsewhere:
        slack.redirect_next("chat.postMessage", elsewhere.url("/api/chat.postMessage"))
        with pytest.raises(SlackApiError) as failed:
            client.chat_postMessage(channel="C1", text="x")

        assert failed.value.response.status_code == 302
        assert elsewhere.requests == []


def test_an_answer_past_the_limit_is_refused_and_its_connection_dropped(
    slack: FakeSlack,
) -> None:
    client = build_client(TOKEN, slack.api_url)
    small = KeptAliveWebClient(
        token=TOKEN, base_url=slack.api_url, max_answer_bytes=2048, retry_handlers=[]
    )
    client.chat_postMessage(channel="C1", text="a long line " * 400)  # ~5 KiB echoed back
    small.conversations_history(channel="C9")  # an empty channel: a short answer

    with pytest.raises(SlackRequestError, match="larger than 2048 bytes"):
        small.conversations_history(channel="C1")
    small.conversations_history(channel="C9")

    used = ports(slack, "conversations.history")
    assert used[0] != used[2]  # the connection of the refused answer was not reused
    client.close()
    small.close()


def test_through_a_proxy_the_calls_go_as_slack_sdk_sends_them(slack: FakeSlack) -> None:
    """HTTPS_PROXY (or `proxy=`) is slack_sdk's to honour: the kept connections are only
    for calls that go straight to Slack. The fake answers an absolute-URI request as a
    forward proxy would pass it on."""
    proxied = build_client(TOKEN, slack.api_url)
    proxied.proxy = slack.base_url
    try:
        for n in range(2):
            assert proxied.chat_postMessage(channel="C1", text=f"via proxy {n}")["ok"]
    finally:
        proxied.close()

    used = ports(slack, "chat.postMessage")
    assert len(used) == 2 and used[0] != used[1]  # urllib's connection per call
