"""Who may see and act (bot/desk/access.py), through the real path: signed requests into the
Bolt app, the fake Slack, the fake Epixel helpdesk and a real Redis.

U1 (Ada) creates the tickets, so she is their requester; U2 (Grace) is a stranger unless a
test makes her an agent (by user id, or through the user group S1) or a channel member."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.flows import (
    card_button,
    create,
    make_poller,
    open_form,
    submit,
    texts,
    wait_for_view,
)
from tests.support.harness import TEST_OUTBOX, Harness, running_bot
from tests.support.outbound import wait_until


@pytest.fixture()
def agents_u2(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    with running_bot(redis_url, redis_prefix, TICKET_AGENTS="U2") as harness:
        yield harness


@pytest.fixture()
def agents_s1(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    with running_bot(redis_url, redis_prefix, TICKET_AGENTS="UNOBODY,S1") as harness:
        harness.slack.usergroups["S1"] = ["U7", "U2"]
        yield harness


def click(live: Harness, card: Any, label: str, user_id: str = "U1", **extra: Any) -> None:
    button = {**card_button(card, label), **extra}
    live.client.block_action(button, user_id=user_id, message=card.response["message"])


def status_changes(live: Harness) -> int:
    return len(live.helpdesk.requests_to("ticket/status"))


def answers(live: Harness, count: int) -> list[dict[str, Any]]:
    return [c.args for c in live.slack.wait_for("response_url", count=count)]


def ask(live: Harness, text: str, user_id: str = "U1") -> dict[str, Any]:
    """`/ticket <text>` from `user_id`, and the answer it got through its response_url."""
    before = len(live.slack.calls_to("response_url"))
    live.client.command(text, user_id=user_id)
    return dict(live.slack.wait_for("response_url", count=before + 1)[before].args)


# --- card buttons: the requester and agents only --------------------------------------------


def test_a_strangers_close_is_refused_privately_and_nothing_changes(live: Harness) -> None:
    card = create(live)
    ticket_id = next(iter(live.helpdesk.tickets))

    click(live, card, "Close", user_id="U2")

    (told,) = answers(live, 1)
    assert told["response_type"] == "ephemeral" and told["replace_original"] is False
    assert "Only the requester or an agent can close this ticket." in texts(told)
    assert status_changes(live) == 0 and live.helpdesk.tickets[ticket_id]["status"] != "3"
    assert live.slack.calls_to("chat.update") == []
    assert len(live.slack.calls_to("chat.postMessage")) == 1  # the card only, no thread note


def test_an_agent_by_user_id_may_close(agents_u2: Harness) -> None:
    live = agents_u2
    card = create(live)
    ticket_id = next(iter(live.helpdesk.tickets))

    click(live, card, "Close", user_id="U2")

    updated = live.slack.wait_for("chat.update")[0]
    assert "Closed" in texts(updated.args["blocks"])
    assert live.helpdesk.tickets[ticket_id]["status"] == "3"
    note = live.slack.wait_for("chat.postMessage", count=2)[1]
    assert "Grace Hopper closed the ticket" in texts(note.args)


def test_an_agent_through_a_user_group_may_act_and_the_group_is_read_once(
    agents_s1: Harness,
) -> None:
    live = agents_s1
    card = create(live)

    click(live, card, "Close", user_id="U2")
    updated = live.slack.wait_for("chat.update")[0]
    click(live, updated, "Reopen", user_id="U2")
    live.slack.wait_for("chat.update", count=2)

    assert status_changes(live) == 2
    (listed,) = live.slack.calls_to("usergroups.users.list")  # cached after the first
    assert listed.args["usergroup"] == "S1"


def test_a_group_slack_will_not_list_makes_nobody_an_agent(agents_s1: Harness) -> None:
    live = agents_s1
    del live.slack.usergroups["S1"]  # deleted in Slack: no_such_subteam
    card = create(live)

    click(live, card, "Close", user_id="U2")

    assert "Only the requester or an agent" in texts(answers(live, 1)[0])
    assert status_changes(live) == 0


def test_a_forged_button_value_acts_on_the_cards_own_ticket(live: Harness) -> None:
    other = str(live.helpdesk.add_ticket("Someone else's ticket"))
    card = create(live)
    mine = next(t for t in live.helpdesk.tickets if str(t) != other)

    click(live, card, "Close", value=other, block_id=f"card:{other}")

    live.slack.wait_for("chat.update")
    assert live.helpdesk.tickets[mine]["status"] == "3"
    assert live.helpdesk.tickets[int(other)]["status"] != "3"
    assert status_changes(live) == 1


# --- /ticket show: requester, agents, members of the card's channel ---------------------------


def test_show_to_a_stranger_is_exactly_the_unknown_id_answer(live: Harness) -> None:
    create(live)
    ticket_id = str(next(iter(live.helpdesk.tickets)))
    unknown_id = "999"
    details_before = len(live.helpdesk.requests_to("ticket/"))

    hidden = ask(live, f"show {ticket_id}", user_id="U2")
    unknown = ask(live, f"show {unknown_id}", user_id="U2")

    assert texts(hidden).replace(f"#{ticket_id}", "#ID") == texts(unknown).replace(
        f"#{unknown_id}", "#ID"
    )
    assert "does not know that ticket" in texts(hidden) and "Printer jam" not in texts(hidden)
    assert len(live.helpdesk.requests_to("ticket/")) == details_before  # nothing read


def test_show_to_a_member_of_the_cards_channel_reads_every_page_of_members(
    live: Harness,
) -> None:
    create(live)
    ticket_id = str(next(iter(live.helpdesk.tickets)))
    live.slack.channel_members["C1"] = [f"U{n:04d}" for n in range(450)] + ["U2"]

    first = ask(live, f"show {ticket_id}", user_id="U2")
    second = ask(live, f"show {ticket_id}", user_id="U2")

    assert "Printer jam" in texts(first) and "Printer jam" in texts(second)
    pages = live.slack.calls_to("conversations.members")
    assert len(pages) == 3  # 451 members, 200 a page; the second show used the cache
    assert [p.args["channel"] for p in pages] == ["C1"] * 3


def test_show_to_the_requester_and_to_an_agent(agents_u2: Harness) -> None:
    live = agents_u2
    create(live)
    ticket_id = str(next(iter(live.helpdesk.tickets)))

    assert "Printer jam" in texts(ask(live, f"show {ticket_id}", user_id="U1"))
    assert "Printer jam" in texts(ask(live, f"show {ticket_id}", user_id="U2"))
    assert live.slack.calls_to("conversations.members") == []  # never needed


# --- /ticket list: one's own; `all` for agents -----------------------------------------------


def test_list_shows_only_the_callers_own_tickets(live: Harness) -> None:
    live.helpdesk.add_ticket("Not Ada's")
    create(live, subject="Ada's printer")

    own = ask(live, "list")
    none = ask(live, "list", user_id="U2")

    assert "Ada's printer" in texts(own) and "Not Ada's" not in texts(own)
    assert "Your tickets" in texts(own)
    assert "Ada's printer" not in texts(none) and "No tickets" in texts(none)


def test_list_all_is_for_agents_only(agents_u2: Harness) -> None:
    live = agents_u2
    live.helpdesk.add_ticket("Not Ada's")
    create(live, subject="Ada's printer")

    refused = ask(live, "list all", user_id="U1")
    every = ask(live, "list all", user_id="U2")

    assert "Only agents can list every ticket" in texts(refused)
    assert "Ada's printer" not in texts(refused)
    assert "Ada's printer" in texts(every) and "Not Ada's" in texts(every)


def test_a_forged_list_all_page_button_is_refused(live: Harness) -> None:
    live.helpdesk.add_ticket("Not Ada's")
    forged = {
        "type": "button",
        "action_id": "ticket_list_page_next",
        "block_id": "b",
        "value": '{"status": null, "all": true, "offset": 0}',
    }
    live.client.block_action(forged, user_id="U1")
    (told,) = answers(live, 1)
    assert "Only agents" in texts(told) and "Not Ada's" not in texts(told)


# --- item 6: cards not stale, clicks deduped by the interaction ------------------------------


def test_a_deliberate_close_reopen_close_all_happen(live: Harness) -> None:
    card = create(live)
    ticket_id = next(iter(live.helpdesk.tickets))

    click(live, card, "Close")
    closed = live.slack.wait_for("chat.update")[0]
    click(live, closed, "Reopen")
    reopened = live.slack.wait_for("chat.update", count=2)[1]
    click(live, reopened, "Close")
    live.slack.wait_for("chat.update", count=3)

    assert status_changes(live) == 3
    assert live.helpdesk.tickets[ticket_id]["status"] == "3"
    assert live.slack.calls_to("response_url") == []


def test_the_same_interaction_delivered_twice_is_handled_once(live: Harness) -> None:
    card = create(live)
    click(live, card, "Close", action_ts="1700000000.123456")
    closed = live.slack.wait_for("chat.update")[0]
    click(live, card, "Close", action_ts="1700000000.123456")
    click(live, closed, "Reopen", action_ts="1700000001.000001")  # a new click goes ahead
    live.slack.wait_for("chat.update", count=2)
    assert status_changes(live) == 2


def test_a_failed_card_update_is_told_and_repaired_by_the_poller(live: Harness) -> None:
    card = create(live)
    ticket_id = str(next(iter(live.helpdesk.tickets)))
    live.slack.fail_next("chat.update", "internal_error")

    click(live, card, "Close")

    (told,) = answers(live, 1)
    assert "did not update the card" in texts(told)
    assert live.store.poll_states([ticket_id])[0]["status"] == "open"  # not recorded
    make_poller(live).poll_once()
    repaired = live.slack.wait_for("chat.update", count=2)[1]
    assert "Closed" in texts(repaired.args["blocks"])
    assert live.store.poll_states([ticket_id])[0]["status"] == "closed"


def test_a_refused_click_leaves_no_claim_and_may_be_tried_again(live: Harness) -> None:
    card = create(live)
    ticket_id = next(iter(live.helpdesk.tickets))
    live.helpdesk.set_status(ticket_id, 3)  # closed in the helpdesk meanwhile
    click(live, card, "Close", action_ts="1700000000.000001")
    assert "already closed" in texts(answers(live, 1)[0])

    live.helpdesk.set_status(ticket_id, 2)
    click(live, card, "Close", action_ts="1700000000.000001")  # Slack's retry of that click
    live.slack.wait_for("chat.update")
    assert live.helpdesk.tickets[ticket_id]["status"] == "3"


def test_a_refused_click_may_be_tried_again_as_soon_as_the_person_is_told(
    live: Harness,
) -> None:
    """The refusal goes out once the click's claim is gone: a retry arriving while the
    answer is on its way is a new try, not this very click again."""
    card = create(live)
    ticket_id = next(iter(live.helpdesk.tickets))
    live.helpdesk.set_status(ticket_id, 3)
    live.slack.hold("response_url")
    click(live, card, "Close", action_ts="1700000000.000002")
    wait_until(lambda: live.slack.held("response_url") == 1, what="the refusal on its way")

    live.helpdesk.set_status(ticket_id, 2)
    click(live, card, "Close", action_ts="1700000000.000002")
    live.slack.wait_for("chat.update")
    live.slack.release("response_url")
    assert "already closed" in texts(answers(live, 1)[0])
    assert live.helpdesk.tickets[ticket_id]["status"] == "3"


# --- item 5: the card's post is a durable step of the create job ------------------------------


@pytest.mark.parametrize("failure", ["server_error", "dropped_connection"])
@pytest.mark.parametrize("failures", [1, 3])
def test_the_card_arrives_once_and_linked_after_slack_fails_its_post(
    live: Harness, failure: str, failures: int
) -> None:
    """One failure: the Web API client's own retry; three outlast its two retries, and
    the outbox retries the job, which posts the card of the ticket it created."""
    if failure == "server_error":
        live.slack.server_error_next("chat.postMessage", 500, count=failures)
    else:
        live.slack.drop_next("chat.postMessage", count=failures)
    view = open_form(live, "Printer jam")
    submit(live, view, description_input="d", category_input="1")

    done = wait_for_view(live, "ticket_new_result", "was created")
    assert "posted in <#C1>" in texts(done["blocks"])
    posts = live.slack.calls_to("chat.postMessage")
    failed = 500 if failure == "server_error" else 0
    assert [p.status for p in posts] == [failed] * failures + [200]
    assert len(live.slack.messages["C1"]) == 1
    assert len(live.helpdesk.tickets) == 1
    ticket_id = str(next(iter(live.helpdesk.tickets)))
    thread = live.store.thread_for_ticket(ticket_id)
    assert thread is not None and thread.ts == posts[-1].response["ts"]


def test_a_card_slack_never_takes_is_given_up_saying_the_ticket_exists(
    redis_url: str, redis_prefix: str
) -> None:
    quick = TEST_OUTBOX.model_copy(update={"max_attempts": 2})
    with running_bot(redis_url, redis_prefix, outbox=quick) as live:
        live.slack.server_error_next("chat.postMessage", 500, count=6)  # 2 attempts, 3 tries each
        view = open_form(live, "Printer jam")
        submit(live, view, description_input="d", category_input="1")

        result = wait_for_view(live, "ticket_new_result", "its card was not posted")
        ticket_id = str(next(iter(live.helpdesk.tickets)))
        assert f"#{ticket_id}" in texts(result) and "not created" not in texts(result)
        told = texts(live.slack.wait_for("response_url")[0].args)
        assert "its card was not posted" in told and "500" in told
        assert len(live.helpdesk.tickets) == 1 and live.slack.messages["C1"] == []
