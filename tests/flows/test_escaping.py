"""Escaping by default on the paths that used to let text through raw: tag names in the
tags note, a file's name and the helpdesk's own error text in thread notes and in what
`explain()` says. Through the real path: signed requests, the fake Slack, a fake
helpdesk, the outbox worker in this process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.store import ThreadRef
from tests.support.fakes.epixel import ApiError, FakeEpixel, RecordedRequest
from tests.support.fakes.serving import Reply
from tests.support.flows import create, notes_in, open_form, submit, wait_for_view
from tests.support.harness import Harness, running_bot
from tests.support.outbound import delivered_reactions, linked_thread, reply, wait_until

HOSTILE = "<!channel> <@U1> <#C1> <http://evil|x> &"
ESCAPED = "&lt;!channel&gt; &lt;@U1&gt; &lt;#C1&gt; &lt;http://evil|x&gt; &amp;"
TWO_MIB = 2 * 1024 * 1024


def mrkdwn_of(call: Any) -> str:
    """What Slack reads as mrkdwn in a chat call: its mrkdwn text objects and its text
    (plain_text, such as a select's options, is shown as typed and never parsed)."""
    return " ".join([*mrkdwn_in(call.args.get("blocks", [])), str(call.args.get("text", ""))])


def mrkdwn_in(blob: Any) -> list[str]:
    if isinstance(blob, list):
        return [t for item in blob for t in mrkdwn_in(item)]
    if not isinstance(blob, dict):
        return []
    own = [blob["text"]] if blob.get("type") == "mrkdwn" else []
    return own + [t for value in blob.values() for t in mrkdwn_in(value)]


def assert_no_ping(text: str) -> None:
    for token in ("<!channel>", "<@U1>", "<#C1>", "<http://evil"):
        assert token not in text, f"{token} reached Slack raw: {text}"


class RefusingEpixel(FakeEpixel):
    """Epixel that refuses new conversations and tickets with its own (hostile) words."""

    def _add_conversation(self, request: RecordedRequest, user: str) -> Reply:
        raise ApiError(400, {"non_field_errors": [HOSTILE]})

    def _create_ticket(self, request: RecordedRequest, user: str) -> Reply:
        raise ApiError(400, {"non_field_errors": [HOSTILE]})


@pytest.fixture()
def refusing(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    with running_bot(redis_url, redis_prefix, helpdesk=RefusingEpixel()) as harness:
        yield harness


def test_tag_names_in_the_tags_note_ping_nobody(live: Harness) -> None:
    live.helpdesk.tags.append({"id": 9, "tag": f"{HOSTILE} vip", "keyword": "vip"})
    card = create(live)
    row = next(b for b in card.args["blocks"] if b["type"] == "actions")
    tags = next(e for e in row["elements"] if e["type"] == "multi_static_select")
    chosen = [o for o in tags["options"] if o["value"] == "9"]
    live.client.block_action(
        {**tags, "block_id": row["block_id"], "selected_options": chosen},
        message=card.response["message"],
    )
    updated = live.slack.wait_for("chat.update")[0]
    note = wait_until(
        lambda: [n for n in notes_in(live, thread_of_card(card)) if "set the tags to" in n]
    )[0]
    assert f"set the tags to {ESCAPED} vip" in note
    assert_no_ping(note)
    assert ESCAPED in mrkdwn_of(updated)
    assert_no_ping(mrkdwn_of(updated))


def thread_of_card(card: Any) -> ThreadRef:
    return ThreadRef(card.args["channel"], card.response["ts"])


def test_a_file_name_in_the_too_large_note_pings_nobody(live: Harness) -> None:
    thread = linked_thread(live)
    big = live.slack.add_file("FBIG", f"{HOSTILE}.bin", b"x" * (TWO_MIB + 1))
    event = reply(live.client, live.slack, thread, "dump", subtype="file_share", files=[big])
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack))
    notes = notes_in(live, thread)
    assert any(f"{ESCAPED}.bin" in n for n in notes)
    for note in notes:
        assert_no_ping(note)


def test_the_helpdesks_error_text_in_the_give_up_note_pings_nobody(refusing: Harness) -> None:
    live = refusing
    thread = linked_thread(live)
    event = reply(live.client, live.slack, thread, "Any news?")
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack, "x"), what="the ❌")
    note = wait_until(lambda: [n for n in notes_in(live, thread) if "could not reach" in n])[0]
    assert ESCAPED in note
    assert_no_ping(note)


def test_the_helpdesks_error_text_in_the_modal_and_the_response_pings_nobody(
    refusing: Harness,
) -> None:
    live = refusing
    view = open_form(live)
    submit(live, view, subject_input="Jam", description_input="It jams", category_input="1")
    shown = wait_for_view(live, "ticket_new_result", "not created")
    assert ESCAPED in " ".join(mrkdwn_in(shown["blocks"]))
    assert_no_ping(" ".join(mrkdwn_in(shown["blocks"])))
    told = live.slack.wait_for("response_url")[-1]
    assert ESCAPED in mrkdwn_of(told)
    assert_no_ping(mrkdwn_of(told))
