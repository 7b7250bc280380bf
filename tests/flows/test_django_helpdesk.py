"""The whole bot on a real django-helpdesk, through the real Slack path (signed requests
into the Bolt app, the fake Slack): `/ticket new` with a file → card; thread replies →
public followups; agent replies and status changes made in the helpdesk → the thread
(through its webhooks: no poll loop runs); internal notes never; Close and Reopen as the
helpdesk's own statuses; files both ways; `/ticket list` and `/ticket show`."""

from __future__ import annotations

from typing import Any

from tests.support.flows import card_button, replies, shown, texts
from tests.support.harness import Harness
from tests.support.outbound import delivered_reactions, reply, wait_until
from tests.support.server_django_helpdesk import create_through_slack


def thread_texts(live: Harness, ticket_id: str) -> list[str]:
    return [shown(m) for m in replies(live, ticket_id)]


def wait_in_thread(live: Harness, ticket_id: str, text: str) -> None:
    wait_until(
        lambda: any(text in t for t in thread_texts(live, ticket_id)), what=f"{text!r} in thread"
    )


def followups(live: Harness, ticket_id: str) -> list[dict[str, Any]]:
    return list(live.helpdesk.agent.ticket(ticket_id)["followup_set"])


def test_a_ticket_from_slack_with_its_file_and_the_conversation_both_ways(
    django_helpdesk_bot: Harness,
) -> None:
    live = django_helpdesk_bot
    agent = live.helpdesk.agent
    log = live.slack.add_file("F1", "vpn-error.txt", b"error line 1\n", "text/plain")
    card, ticket_id, thread = create_through_slack(
        live, "VPN is down & <b>", attachment_input=[log]
    )

    stored = agent.ticket(ticket_id)
    assert (stored["title"], stored["queue"], stored["priority"]) == ("VPN is down & <b>", 2, 2)
    assert stored["submitter_email"] == "ada@example.com"
    (opening,) = stored["followup_set"]
    assert [a["filename"] for a in opening["followupattachment_set"]] == ["vpn-error.txt"]
    shown_card = texts(card.args["blocks"])
    assert f"Ticket #{ticket_id}" in shown_card and "VPN is down &amp; &lt;b&gt;" in shown_card
    assert "Open" in shown_card and "Facilities" in shown_card and "High" in shown_card

    # a thread reply, with a file, becomes a public followup with its attachment
    shot = live.slack.add_file("F2", "shot.png", b"\x89PNG fake", "image/png")
    event = reply(
        live.client, live.slack, thread, "Still failing", subtype="file_share", files=[shot]
    )
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack), what="the reply delivered")
    sent = followups(live, ticket_id)[-1]
    assert (sent["comment"], sent["public"]) == ("Ada Lovelace: Still failing", True)
    assert [a["filename"] for a in sent["followupattachment_set"]] == ["shot.png"]
    assert agent.ticket(ticket_id)["title"] == "VPN is down & <b>"  # not renamed

    # an internal note stays in the helpdesk; an agent's reply, with its file, comes back
    agent.followup(ticket_id, "Internal: the concentrator is flapping", public=False)
    agent.followup_with_file(ticket_id, "Try this profile", "profile.txt", b"remote vpn\n")
    wait_in_thread(live, ticket_id, "Try this profile")
    upload = wait_until(
        lambda: next((u for u in live.slack.uploads if u["filename"] == "profile.txt"), None),
        what="the agent's file in the thread",
    )
    assert (upload["thread_ts"], upload["content"]) == (thread.ts, b"remote vpn\n")
    posted = thread_texts(live, ticket_id)
    assert not any("concentrator" in t for t in posted)
    mirrored = [t for t in posted if "replied in the helpdesk" in t]
    assert not any("Still failing" in t for t in mirrored)  # the bot's own: not echoed

    # /ticket show leaves the internal note out too
    live.client.command(f"show {ticket_id}")
    answer = texts(live.slack.wait_for("response_url")[0].args)
    assert "Try this profile" in answer and "concentrator" not in answer


def test_close_reopen_and_a_status_set_in_the_helpdesk(django_helpdesk_bot: Harness) -> None:
    live = django_helpdesk_bot
    card, ticket_id, thread = create_through_slack(live, "Broken chair")

    live.client.block_action(card_button(card, "Close"), message=card.response["message"])
    closed = live.slack.wait_for("chat.update")[0]
    assert live.helpdesk.agent.ticket(ticket_id)["status"] == 4
    assert "Closed" in texts(closed.args["blocks"])
    wait_in_thread(live, ticket_id, "Ada Lovelace closed the ticket")

    live.client.block_action(card_button(closed, "Reopen"), message=card.response["message"])
    reopened = live.slack.wait_for("chat.update", count=2)[1]
    assert live.helpdesk.agent.ticket(ticket_id)["status"] == 2
    assert "Reopened" in texts(reopened.args["blocks"])
    assert [f["new_status"] for f in followups(live, ticket_id)[1:]] == [4, 2]

    # an agent resolves it in the helpdesk: the comment, the status line, the card
    live.helpdesk.agent.followup(ticket_id, "Replaced the chair.", public=True, new_status=3)
    wait_in_thread(live, ticket_id, "Resolved in the helpdesk.")
    resolved = live.slack.wait_for("chat.update", count=3)[2]
    assert resolved.args["ts"] == thread.ts and "Resolved" in texts(resolved.args["blocks"])
    assert card_button(resolved, "Reopen")
    posted = thread_texts(live, ticket_id)
    assert sum("Replaced the chair." in t for t in posted) == 1
    # the bot's own Close/Reopen were announced once, by the desk, not again by the sync
    assert not any("Closed in the helpdesk" in t or "Reopened in the helpdesk" in t for t in posted)

    # /ticket list takes the helpdesk's own status names and the kinds
    live.client.command("list resolved")
    listed = texts(live.slack.wait_for("response_url")[0].args["blocks"])
    assert f"#{ticket_id}" in listed and "Resolved" in listed
    live.client.command("list open")
    still_open = texts(live.slack.wait_for("response_url", count=2)[1].args["blocks"])
    assert f"#{ticket_id}*" not in still_open
    refused = texts(live.client.command("list stalled").json())
    assert "`stalled` is not a status" in refused and "resolved" in refused.lower()
