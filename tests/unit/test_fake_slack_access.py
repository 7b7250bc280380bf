"""FakeSlack's usergroups.users.list and conversations.members answer slack_sdk as Slack does
(pagination, errors, scopes), and its 5xx and dropped-connection steering reaches slack_sdk
the way a failing Slack does. Also: TICKET_AGENTS is validated, bad ids named in one line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.runtime.settings import ConfigError, load_settings
from bot.slack.client import build_client
from tests.support.fakes.slack import FakeSlack

TOKEN = "xoxb-test-token"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(base_url=fake.api_url, token=TOKEN, retry_handlers=[])


def error_of(call: object) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()  # type: ignore[operator]
    return str(caught.value.response["error"])


def test_conversations_members_pages_with_cursors(fake: FakeSlack, client: WebClient) -> None:
    fake.channel_members["C1"] = [f"U{n}" for n in range(5)]
    first = client.conversations_members(channel="C1", limit=2)
    assert first["members"] == ["U0", "U1"]
    cursor = first["response_metadata"]["next_cursor"]
    second = client.conversations_members(channel="C1", limit=2, cursor=cursor)
    third = client.conversations_members(
        channel="C1", limit=2, cursor=second["response_metadata"]["next_cursor"]
    )
    assert second["members"] == ["U2", "U3"] and third["members"] == ["U4"]
    assert third["response_metadata"]["next_cursor"] == ""
    assert client.conversations_members(channel="C1")["members"] == fake.channel_members["C1"]


def test_conversations_members_errors(fake: FakeSlack, client: WebClient) -> None:
    fake.channel_members["G1"] = ["U1"]
    assert error_of(lambda: client.conversations_members(channel="C404")) == "channel_not_found"
    assert error_of(lambda: client.conversations_members(channel="C1", cursor="x")) in {
        "invalid_cursor",
        "channel_not_found",
    }
    fake.channel_members["C1"] = ["U1"]
    assert error_of(lambda: client.conversations_members(channel="C1", cursor="bm9wZQ==")) == (
        "invalid_cursor"
    )
    assert error_of(lambda: client.conversations_members(channel="C1", limit=0)) == (
        "invalid_limit"
    )
    fake.channels_without_bot.add("G1")
    assert error_of(lambda: client.conversations_members(channel="G1")) == "channel_not_found"


def test_usergroups_users_list_and_its_errors(fake: FakeSlack, client: WebClient) -> None:
    fake.usergroups["S1"] = ["U1", "W2"]
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "W2"]
    assert error_of(lambda: client.usergroups_users_list(usergroup="S9")) == "no_such_subteam"


def test_missing_scopes_are_refused_with_what_is_needed() -> None:
    with FakeSlack(scopes=("commands", "chat:write")) as fake:
        fake.usergroups["S1"] = ["U1"]
        fake.channel_members["G1"] = ["U1"]
        client = WebClient(base_url=fake.api_url, token=TOKEN)
        with pytest.raises(SlackApiError) as caught:
            client.usergroups_users_list(usergroup="S1")
        assert caught.value.response["error"] == "missing_scope"
        assert caught.value.response["needed"] == "usergroups:read"
        with pytest.raises(SlackApiError) as caught:
            client.conversations_members(channel="G1")
        assert caught.value.response["needed"] == "groups:read"


def test_server_errors_and_drops_reach_slack_sdk_like_slacks_own(
    fake: FakeSlack, client: WebClient
) -> None:
    fake.server_error_next("chat.postMessage", 503)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C1", text="hi")
    assert caught.value.response.status_code == 503
    fake.drop_next("chat.postMessage")
    with pytest.raises(OSError):  # RemoteDisconnected, or URLError wrapping it
        client.chat_postMessage(channel="C1", text="hi")
    assert fake.messages["C1"] == []
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [503, 0]


def test_the_bots_client_retries_5xx_and_dropped_connections(fake: FakeSlack) -> None:
    client = build_client(TOKEN, fake.api_url)
    fake.server_error_next("chat.postMessage", 500)
    fake.drop_next("chat.postMessage")
    assert client.chat_postMessage(channel="C1", text="hi")["ok"] is True
    assert sorted(c.status for c in fake.calls_to("chat.postMessage")) == [0, 200, 500]
    assert len(fake.messages["C1"]) == 1


def test_ticket_agents_are_validated_bad_ids_named_in_one_line() -> None:
    settings = load_settings(SLACK_BOT_TOKEN=TOKEN, TICKET_AGENTS=" U1, S2 ,W3,")
    assert settings.agent_ids == ["U1", "S2", "W3"]
    with pytest.raises(ConfigError) as caught:
        load_settings(SLACK_BOT_TOKEN=TOKEN, TICKET_AGENTS="U1,@bob,C12")
    (line,) = caught.value.problems
    assert line.startswith("TICKET_AGENTS is malformed") and "@bob, C12" in line
