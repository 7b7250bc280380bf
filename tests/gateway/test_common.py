"""What the backends share (bot/gateway/common.py): the footer and the connection checks."""

from __future__ import annotations

import pytest

from bot.gateway import NewTicket, Requester
from bot.gateway.common import Connection, Problem, SettingsProblems, with_footer


def new_ticket(requester: Requester | None, reference: str | None) -> NewTicket:
    return NewTicket(subject="s", description="d", requester=requester, reference=reference)


def test_the_footer_names_the_requester_and_the_reference() -> None:
    new = new_ticket(Requester(name="Ann", email="ann@example.com"), "ref-1")
    assert with_footer("Body", new) == (
        "Body\n\n--\nRequested by Ann <ann@example.com> via Slack\nReference: ref-1"
    )
    assert with_footer("Body", new_ticket(Requester(name="Bo"), None)) == (
        "Body\n\n--\nRequested by Bo via Slack"
    )


def test_no_footer_without_requester_or_reference() -> None:
    assert with_footer("Body", new_ticket(None, None)) == "Body"


@pytest.mark.parametrize(
    ("connection", "variables"),
    [
        (Connection("u", token="t"), []),
        (Connection("u", username="a", password="p"), []),
        (Connection("u", username="a"), ["TICKET_API_PASSWORD"]),
        (Connection("u", password="p"), ["TICKET_API_USERNAME"]),
        (Connection("u"), ["TICKET_API_TOKEN"]),
    ],
)
def test_a_token_or_a_login(connection: Connection, variables: list[str]) -> None:
    assert [p.variable for p in connection.token_or_login()] == variables


def test_missing_names_each_unset_variable() -> None:
    connection = Connection("", api_key="k", client_id="")
    assert connection.missing("base_url", "api_key", "client_id") == [
        Problem("TICKET_API_URL"),
        Problem("TICKET_API_CLIENT_ID"),
    ]
    with pytest.raises(SettingsProblems) as caught:
        connection.check(connection.missing("base_url"))
    assert caught.value.problems == [Problem("TICKET_API_URL")]
