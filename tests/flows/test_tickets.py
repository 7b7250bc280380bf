"""Creating tickets from the modal, the card and its buttons, end to end."""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.support.flows import (
    HOSTILE,
    card_button,
    create,
    open_form,
    submit,
    texts,
    wait_for_view,
)
from tests.support.harness import Harness


def test_submission_creates_the_ticket_and_posts_a_card(live: Harness) -> None:
    view = open_form(live, "Printer jam", channel="C7")
    response = submit(
        live, view, description_input="It jams on page 2", category_input="2", priority_input="high"
    )
    assert response.json()["response_action"] == "update"
    card = live.slack.wait_for("chat.postMessage")[0]
    assert card.args["channel"] == "C7"
    ticket = next(iter(live.helpdesk.tickets.values()))
    assert ticket["subject"] == "Printer jam"
    assert ticket["category"] == 2 and ticket["priority"] == "3"
    assert "Ada Lovelace" in ticket["comment"] and "ada@example.com" in ticket["comment"]
    shown = texts(card.args["blocks"])
    assert f"Ticket #{ticket['id']}" in shown
    assert "Software" in shown and "High" in shown and "Open" in shown and "Ada Lovelace" in shown
    card_button(card, "Close")
    done = wait_for_view(live, "ticket_new_result", "was created")
    assert "posted in <#C7>" in texts(done["blocks"])
    thread = live.store.thread_for_ticket(str(ticket["id"]))
    assert thread is not None and thread.channel == "C7" and thread.ts == card.response["ts"]


def test_validation_errors_come_back_in_the_ack(live: Harness) -> None:
    view = open_form(live)
    body = submit(live, view, subject_input="x" * 501, description_input="").json()
    assert body["response_action"] == "errors"
    assert "500" in body["errors"]["subject"]
    assert "describe" in body["errors"]["description"]
    assert live.helpdesk.requests_to("create") == []


def test_helpdesk_refusal_keeps_the_fields_filled(live: Harness) -> None:
    view = open_form(live, "Printer jam")
    live.helpdesk.categories[:] = [c for c in live.helpdesk.categories if c["id"] != 3]
    submit(live, view, description_input="Line one\nLine two", category_input="3")
    form = wait_for_view(live, "ticket_new", "refused")
    blocks = {b.get("block_id"): b for b in form["blocks"]}
    assert blocks["subject"]["element"]["initial_value"] == "Printer jam"
    assert blocks["description"]["element"]["initial_value"] == "Line one\nLine two"
    assert 'Invalid pk "3" - object does not exist.' in texts(form["blocks"])
    assert live.helpdesk.tickets == {}


def test_limit_reached_keeps_what_was_typed_in_a_message(live: Harness) -> None:
    live.helpdesk.open_ticket_limit = 0
    view = open_form(live, "Printer jam")
    submit(live, view, description_input="Please help", category_input="1")
    told = live.slack.wait_for("response_url")[0].args
    assert "no more open tickets" in texts(told)
    assert "Printer jam" in texts(told) and "Please help" in texts(told)
    result = wait_for_view(live, "ticket_new_result", "not created")
    restore = next(e for b in result["blocks"] if b["type"] == "actions" for e in b["elements"])
    live.helpdesk.open_ticket_limit = 100
    live.client.block_action(restore, view={**result, "id": view["id"]})
    again = wait_for_view(live, "ticket_new", "Please help")
    assert "Printer jam" in texts(again) and "Please help" in texts(again)


def test_slow_helpdesk_does_not_hold_the_submission_ack(live: Harness) -> None:
    view = open_form(live, "Slow")
    live.helpdesk.delay = 3.5
    started = time.monotonic()
    response = submit(live, view, description_input="d", category_input="1")
    assert response.status_code == 200
    assert time.monotonic() - started < 1.0
    live.slack.wait_for("chat.postMessage", timeout=20)


def test_not_in_channel_says_how_to_fix_it(live: Harness) -> None:
    live.slack.channels_without_bot.add("C9")
    view = open_form(live, "Where", channel="C9")
    submit(live, view, description_input="d", category_input="1")
    told = live.slack.wait_for("response_url")[0].args
    assert "/invite @ticket-bot" in texts(told)
    result = wait_for_view(live, "ticket_new_result", "could not post")
    assert "/invite @ticket-bot" in texts(result)
    assert len(live.helpdesk.tickets) == 1


def test_hostile_subject_reaches_slack_escaped_in_every_call(live: Harness) -> None:
    card = create(live, subject=HOSTILE)
    ticket_id = next(iter(live.helpdesk.tickets))
    live.client.block_action(card_button(card, "Close"), message=card.response["message"])
    live.slack.wait_for("chat.update")
    live.client.command(f"show {ticket_id}")
    live.slack.wait_for("response_url")
    live.client.command("list")
    live.slack.wait_for("response_url", count=2)
    assert '&lt;!channel&gt; &lt;@U1&gt; &amp; "x"' in texts(card.args["blocks"])
    for call in live.slack.calls:
        if call.method.startswith("chat.") or call.method == "response_url":
            shown = texts(call.args)
            assert "<!channel>" not in shown and "<@U1>" not in shown, call.method


def test_close_and_reopen_update_the_card_and_note_the_thread(live: Harness) -> None:
    card = create(live)
    ticket_id = next(iter(live.helpdesk.tickets))
    live.client.block_action(card_button(card, "Close"), message=card.response["message"])
    updated = live.slack.wait_for("chat.update")[0]
    assert live.helpdesk.tickets[ticket_id]["status"] == "3"
    assert updated.args["ts"] == card.response["ts"]
    assert "Closed" in texts(updated.args["blocks"])
    note = live.slack.wait_for("chat.postMessage", count=2)[1]
    assert note.args["thread_ts"] == card.response["ts"]
    assert "Ada Lovelace closed the ticket" in texts(note.args)
    live.client.block_action(card_button(updated, "Reopen"), message=card.response["message"])
    reopened = live.slack.wait_for("chat.update", count=2)[1]
    assert live.helpdesk.tickets[ticket_id]["status"] == "2"
    card_button(reopened, "Close")


def test_double_click_changes_once(live: Harness) -> None:
    card = create(live)
    button = card_button(card, "Close")
    threads = [
        threading.Thread(
            target=live.client.block_action,
            args=(button,),
            kwargs={"message": card.response["message"]},
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    live.slack.wait_for("chat.update")
    time.sleep(0.3)
    assert len(live.helpdesk.requests_to("ticket/status")) == 1
    assert live.slack.calls_to("response_url") == []


def test_refusal_reaches_the_clicker_privately(live: Harness) -> None:
    card = create(live)
    ticket_id = next(iter(live.helpdesk.tickets))
    live.helpdesk.set_status(ticket_id, 3)
    live.client.block_action(card_button(card, "Close"), message=card.response["message"])
    told = live.slack.wait_for("response_url")[0].args
    assert told["response_type"] == "ephemeral" and told["replace_original"] is False
    assert "already closed" in texts(told)


def card_select(card_call: Any, kind: str) -> tuple[dict[str, Any], str]:
    row = next(b for b in card_call.args["blocks"] if b["type"] == "actions")
    return next(e for e in row["elements"] if e["type"] == kind), row["block_id"]


def test_tags_then_priority_selects_update_the_ticket(live: Harness) -> None:
    card = create(live)
    ticket_id = next(iter(live.helpdesk.tickets))
    tags, block_id = card_select(card, "multi_static_select")
    chosen = [o for o in tags["options"] if o["value"] in ("1", "3")]
    live.client.block_action(
        {**tags, "block_id": block_id, "selected_options": chosen}, message=card.response["message"]
    )
    live.slack.wait_for("chat.update")
    assert live.helpdesk.tickets[ticket_id]["tags"] == [1, 3]
    select, block_id = card_select(card, "static_select")
    low = next(o for o in select["options"] if o["value"] == "low")
    live.client.block_action(
        {**select, "block_id": block_id, "selected_option": low}, message=card.response["message"]
    )
    updated = live.slack.wait_for("chat.update", count=2)[1]
    assert live.helpdesk.tickets[ticket_id]["priority"] == "1"
    assert live.helpdesk.tickets[ticket_id]["tags"] == [1, 3]
    assert "Low" in texts(updated.args["blocks"])
    notes = [texts(c.args) for c in live.slack.wait_for("chat.postMessage", count=3)[1:]]
    assert any("set the priority to Low" in n for n in notes)


def test_priority_of_an_untagged_ticket_explains_what_the_helpdesk_needs(live: Harness) -> None:
    card = create(live)
    select, block_id = card_select(card, "static_select")
    low = next(o for o in select["options"] if o["value"] == "low")
    live.client.block_action(
        {**select, "block_id": block_id, "selected_option": low}, message=card.response["message"]
    )
    told = texts(live.slack.wait_for("response_url")[0].args)
    assert "tag" in told
    assert live.slack.calls_to("chat.update") == []


def test_rate_limited_post_is_retried_once_allowed(live: Harness) -> None:
    live.slack.rate_limit_next("chat.postMessage", retry_after=1)
    card = create(live)
    assert card.status == 429
    posted = live.slack.wait_for("chat.postMessage", count=2, timeout=10)
    assert posted[1].status == 200
    assert len(live.helpdesk.tickets) == 1


def test_bad_signature_is_refused_and_nothing_happens(live: Harness) -> None:
    body = "command=%2Fticket&text=new&user_id=U1&channel_id=C1&trigger_id=t"
    response = live.client.post(body, "application/x-www-form-urlencoded", secret="wrong")
    assert response.status_code == 401
    unsigned = live.client.post(body, "application/x-www-form-urlencoded", sign=False)
    assert unsigned.status_code == 401
    stale = live.client.post(
        body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - 600
    )
    assert stale.status_code == 401
    time.sleep(0.2)
    assert live.slack.calls == [] and live.helpdesk.requests == []


def test_app_home_and_url_verification(live: Harness) -> None:
    assert live.client.url_verification("abc").json()["challenge"] == "abc"
    response = live.client.event({"type": "app_home_opened", "user": "U1", "tab": "home"})
    assert response.status_code == 200
    published = live.slack.wait_for("views.publish")[0]
    assert published.args["user_id"] == "U1"
