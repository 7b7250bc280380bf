"""/ticket new|list|show|help end to end: signed requests in, fake Slack and helpdesk out."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from bot.slack import ids
from bot.slack.forms import ModalContext
from bot.slack.render import render
from tests.support.flows import texts
from tests.support.harness import Harness
from tests.support.logs import json_logs_written, lines
from tests.support.slack_requests import SignedClient


def block_ids(view: dict[str, Any]) -> list[str]:
    return [b.get("block_id", "") for b in view["blocks"]]


def new_from_someone_else(live: Harness, _: int) -> int:
    """`/ticket new` on a connection of its own, as from another person; the HTTP status."""
    client = live.client
    with SignedClient(
        client.base_url, client.signing_secret, response_url=client.response_url
    ) as own:
        return own.command("new").status_code


def test_help_answers_in_the_ack(live: Harness) -> None:
    response = live.client.command("help")
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "/ticket new" in texts(body["blocks"])
    assert "/ticket list" in texts(body["blocks"])
    assert "/ticket list all" in texts(body["blocks"])  # agents list every ticket
    assert live.helpdesk.requests == []


def test_unknown_subcommand_answers_with_help(live: Harness) -> None:
    body = live.client.command("frobnicate <!channel>").json()
    shown = texts(body["blocks"])
    assert "frobnicate &lt;!channel&gt;" in shown
    assert "<!channel>" not in shown
    assert "/ticket new" in shown


def test_cold_new_opens_a_loading_view_then_fills_it(live: Harness) -> None:
    response = live.client.command("new Printer jam")
    assert response.status_code == 200
    opened = live.slack.wait_for("views.open")[0]
    assert opened.args["view"]["callback_id"] == "ticket_new_loading"
    updated = live.slack.wait_for("views.update")[0]
    view = updated.args["view"]
    assert view["callback_id"] == "ticket_new"
    subject = next(b for b in view["blocks"] if b.get("block_id") == "subject")
    assert subject["element"]["initial_value"] == "Printer jam"
    category = next(b for b in view["blocks"] if b.get("block_id") == "category")
    assert [o["text"]["text"] for o in category["element"]["options"]][:2] == [
        "Hardware",
        "Software",
    ]
    assert "attachment" in block_ids(view)


def test_each_cold_loading_view_carries_its_own_command(live: Harness) -> None:
    """The loading view is rendered once and filled per command: the metadata (where the
    form was asked for) must be each command's own, and the rest what the template makes."""
    live.helpdesk.delay = 1.0  # both commands find the cache empty
    live.client.command("new", channel_id="C7")
    live.client.command("new", channel_id="C8")
    opened = [c.args["view"] for c in live.slack.wait_for("views.open", count=2)]
    channels = {ModalContext.load(view["private_metadata"]).channel for view in opened}
    assert channels == {"C7", "C8"}
    context = ModalContext.load(opened[0]["private_metadata"])
    assert opened[0] == render("loading_modal.json.j2", metadata=context.dump())


def test_warm_new_opens_the_form_directly(live: Harness) -> None:
    live.client.command("new")
    live.slack.wait_for("views.update")
    live.client.command("new Second")
    opened = live.slack.wait_for("views.open", count=2)[1]
    assert opened.args["view"]["callback_id"] == "ticket_new"
    assert len(live.slack.calls_to("views.update")) == 1
    assert len(live.helpdesk.requests_to("category-list")) == 1


def test_modals_open_over_the_connection_slack_kept_open(live: Harness) -> None:
    """No TCP (and, against slack.com, TLS) handshake before each form: the bot's Web API
    client keeps its connection (bot/slack/transport.py)."""
    live.client.command("new")
    live.slack.wait_for("views.update")
    for n in range(3):
        live.client.command(f"new Warm {n}")
        live.slack.wait_for("views.open", count=2 + n)

    opened = live.slack.calls_to("views.open")
    assert len({call.peer_port for call in opened[1:]}) == 1


def subject_of(view: dict[str, Any]) -> Any:
    block = next(b for b in view["blocks"] if b.get("block_id") == ids.SUBJECT_BLOCK)
    return block["element"].get("initial_value")


def test_a_warm_form_is_the_cold_form_of_the_same_command(live: Harness) -> None:
    """The warm form is rendered once for the cached lists, then each command's subject and
    channel are put in: it must be what a loading view is filled with for that command."""
    live.client.command("new Printer jam", channel_id="C7")
    filled = live.slack.wait_for("views.update")[0].args["view"]
    live.client.command("new Printer jam", channel_id="C7")
    live.client.command("new", channel_id="C8")
    live.client.command('new "quoted" \\ \u00e9 & <b>', channel_id="C9")
    opened = [c.args["view"] for c in live.slack.wait_for("views.open", count=4)[1:]]
    # modal threads open them side by side: which arrives first is not the test's business
    by_channel = {ModalContext.load(view["private_metadata"]).channel: view for view in opened}
    first, plain, odd = by_channel["C7"], by_channel["C8"], by_channel["C9"]
    assert first == filled
    assert subject_of(plain) is None
    assert ModalContext.load(plain["private_metadata"]).channel == "C8"
    assert subject_of(odd) == '"quoted" \\ \u00e9 & <b>'
    assert ModalContext.load(odd["private_metadata"]).channel == "C9"


def test_a_warm_form_shows_the_lists_the_cache_holds_now(live: Harness) -> None:
    live.client.command("new")
    live.slack.wait_for("views.update")
    live.client.command("new")
    live.slack.wait_for("views.open", count=2)
    live.helpdesk.categories.append({"id": 4, "category": "Facilities", "description": ""})
    live.store.redis.delete(live.store.keys.cache("categories"))  # as when it expires
    live.client.command("new")  # cold again: loads the new list
    live.slack.wait_for("views.update", count=2)
    live.client.command("new")
    warm = live.slack.wait_for("views.open", count=4)[3].args["view"]
    assert warm["callback_id"] == ids.NEW_TICKET_VIEW
    assert "Facilities" in texts(warm)


def test_a_line_logged_for_a_command_names_its_trigger(live: Harness) -> None:
    with json_logs_written() as written:
        live.slack.fail_next("views.open", "expired_trigger_id")
        live.client.command("new", trigger_id="trig.named")
        deadline = time.monotonic() + 5
        while "views.open failed" not in written.getvalue():  # logged on the modal thread
            assert time.monotonic() < deadline, "nothing logged"
            time.sleep(0.02)
    [failed] = [line for line in lines(written) if "views.open failed" in str(line["message"])]
    assert failed.get("slack_request_id") == "trig.named", failed


def test_the_ack_does_not_wait_for_slack_to_open_the_modal(live: Harness) -> None:
    """Ordering, not timing: the ack goes out once a modal thread has started the modal,
    not once Slack (2 s slow) has answered views.open."""
    live.client.command("new warm the cache")
    live.slack.wait_for("views.update")
    live.slack.delay("views.open", 2.0)
    response = live.client.command("new Second")
    assert response.status_code == 200
    assert len(live.slack.calls_to("views.open")) == 1  # the second one is not answered yet
    opened = live.slack.wait_for("views.open", count=2)[1]
    assert opened.response["ok"]
    assert opened.args["view"]["callback_id"] == ids.NEW_TICKET_VIEW


def test_cold_lookup_failure_shows_retry_then_works(live: Harness) -> None:
    live.helpdesk.fail_next(20, status=503, path_contains="category-list")
    live.client.command("new")
    failed = live.slack.wait_for("views.update", timeout=10)[0].args["view"]
    assert "did not answer" in texts(failed["blocks"]) or "not answering" in texts(failed["blocks"])
    retry = next(e for b in failed["blocks"] if b["type"] == "actions" for e in b["elements"])
    live.helpdesk.fail_next(0, path_contains="category-list")
    live.helpdesk.reset()
    view = {**failed, "id": live.slack.calls_to("views.open")[0].response["view"]["id"]}
    live.client.block_action(retry, view=view)
    form = live.slack.wait_for("views.update", count=3)[2].args["view"]
    assert form["callback_id"] == "ticket_new"


def test_helpdesk_slower_than_3s_does_not_delay_the_ack(live: Harness) -> None:
    """Ordering, not timing: the ack and the loading view both come before the helpdesk
    (4 s slow) has answered; the form replaces the loading view only after that."""
    live.helpdesk.delay = 4.0
    response = live.client.command("new Slow desk")
    assert response.status_code == 200
    assert live.slack.calls_to("views.update") == []  # the helpdesk has not answered yet
    opened = live.slack.wait_for("views.open")[0]
    assert opened.args["view"]["callback_id"] == ids.LOADING_VIEW
    assert live.slack.calls_to("views.update") == []
    filled = live.slack.wait_for("views.update", timeout=10)[0]
    assert filled.args["view"]["callback_id"] == ids.NEW_TICKET_VIEW


def test_list_shows_tickets_with_paging(live: Harness) -> None:
    for n in range(12):
        ticket_id = live.helpdesk.add_ticket(subject=f"Ticket {n}")
        live.store.remember_requester(str(ticket_id), "Ada Lovelace", "U1")
    ack = live.client.command("list open")
    assert "Looking up" in texts(ack.json())
    listed = live.slack.wait_for("response_url")[0].args
    assert listed["replace_original"] is True
    shown = texts(listed["blocks"])
    assert "Ticket 11" in shown and "Ticket 2" in shown and "Ticket 1 " not in shown
    nxt = next(
        e
        for b in listed["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["text"]["text"] == "Next"
    )
    live.client.block_action(nxt, message={"blocks": listed["blocks"]})
    page2 = live.slack.wait_for("response_url", count=2)[1].args
    assert "Ticket 0" in texts(page2["blocks"]) and "Ticket 11" not in texts(page2["blocks"])


def test_list_with_a_bad_status_says_what_is_wrong(live: Harness) -> None:
    body = live.client.command("list pending").json()
    assert "`pending` is not a status" in texts(body)
    assert live.helpdesk.requests == []


def test_show_gives_details_and_latest_conversations(live: Harness) -> None:
    ticket_id = live.helpdesk.add_ticket(subject="VPN down <!here>")
    live.helpdesk.add_agent_conversation(ticket_id, "Have you tried <@U2>?")
    live.store.remember_requester(str(ticket_id), "Ada Lovelace", "U1")
    live.client.command(f"show {ticket_id}")
    shown = texts(live.slack.wait_for("response_url")[0].args["blocks"])
    assert "VPN down &lt;!here&gt;" in shown
    assert "Have you tried &lt;@U2&gt;?" in shown
    assert "<!here>" not in shown and "<@U2>" not in shown


def test_show_unknown_ticket_says_so(live: Harness) -> None:
    live.client.command("show 999")
    shown = texts(live.slack.wait_for("response_url")[0].args)
    assert "#999" in shown and "does not know" in shown


def test_show_without_id_asks_for_one(live: Harness) -> None:
    assert "/ticket show &lt;id&gt;" in texts(live.client.command("show").json())  # escaped


def test_many_cold_modals_with_a_slow_helpdesk_all_open_before_their_trigger_expires(
    live: Harness,
) -> None:
    live.helpdesk.delay = 4.0

    with ThreadPoolExecutor(30) as pool:
        assert list(pool.map(partial(new_from_someone_else, live), range(80))) == [200] * 80
    opened = live.slack.wait_for("views.open", count=80, timeout=15)
    assert [c.response["error"] for c in opened if not c.response["ok"]] == []
    live.slack.wait_for("views.update", count=80, timeout=30)
    assert len(live.helpdesk.requests_to("category-list")) == 1


def test_many_modals_with_slack_slow_to_answer_all_open_before_their_trigger_expires(
    live: Harness,
) -> None:
    """The urgent pool runs two threads; threads waiting on a slow Slack get stand-ins.
    With two threads only, the last of 16 calls would start 6 s after its command."""
    live.client.command("new warm the cache")
    # The form is filled (views.update) only once the lookups are cached; the loading
    # view (views.open) comes before them, so waiting for it left the cache cold.
    live.slack.wait_for("views.update")
    live.slack.delay("views.open", 0.8)

    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(partial(new_from_someone_else, live), range(16))) == [200] * 16
    opened = live.slack.wait_for("views.open", count=17, timeout=15)[1:]
    assert [c.response["error"] for c in opened if not c.response["ok"]] == []
    assert {c.args["view"]["callback_id"] for c in opened} == {"ticket_new"}
