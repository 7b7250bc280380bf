"""django-helpdesk's webhooks into the bot: `POST /hooks/django-helpdesk/<secret>` queues a
sync job, the worker reads the ticket through the API and posts what is new.

The bot runs with TICKET_SYNC_INTERVAL=60 and no poll loop, so a reply that reaches the
thread came through the webhook; the tests wait for it, they do not time it."""

from __future__ import annotations

import json

import httpx

from bot.store import Store
from bot.sync.webhooks import WebhookReceiver
from tests.support.flows import make_poller, replies, shown
from tests.support.harness import Harness
from tests.support.outbound import wait_until
from tests.support.server_django_helpdesk import WEBHOOK_SECRET, create_through_slack


def hook(live: Harness, path: str = f"django-helpdesk/{WEBHOOK_SECRET}") -> str:
    return f"{live.url}/hooks/{path}"


def posted_texts(live: Harness, ticket_id: str) -> list[str]:
    return [shown(m) for m in replies(live, ticket_id)]


def test_an_agent_reply_reaches_the_thread_through_the_webhook(
    django_helpdesk_bot: Harness,
) -> None:
    live = django_helpdesk_bot
    _, ticket_id, _ = create_through_slack(live, "VPN is down")
    agent = live.helpdesk.agent
    agent.followup(ticket_id, "Checking the VPN concentrator", public=False)
    agent.followup(ticket_id, "Please retry now", public=True)
    wait_until(
        lambda: any("Please retry now" in text for text in posted_texts(live, ticket_id)),
        what="the agent's reply in the thread",
    )
    assert not any("concentrator" in text for text in posted_texts(live, ticket_id))
    # the poll, the safety net, finds nothing more to post: no double post
    report = make_poller(live).poll_once()
    assert (report.posted, report.changes) == (0, 0)
    assert sum("Please retry now" in text for text in posted_texts(live, ticket_id)) == 1


def test_an_internal_note_alone_posts_nothing(django_helpdesk_bot: Harness) -> None:
    live = django_helpdesk_bot
    _, ticket_id, _ = create_through_slack(live, "Printer jam")
    before = len(live.slack.calls_to("chat.postMessage"))
    note = live.helpdesk.agent.followup(ticket_id, "Internal: toner ordered", public=False)
    # the hook fired for the note too: its sync job moves the cursor past it
    wait_until(
        lambda: live.store.poll_position(ticket_id)[1] == str(note["id"]), what="the sync job"
    )
    assert len(live.slack.calls_to("chat.postMessage")) == before
    assert not any("toner" in text for text in posted_texts(live, ticket_id))


def test_wrong_paths_and_payloads_are_refused(django_helpdesk_bot: Harness) -> None:
    live = django_helpdesk_bot
    payload = {"ticket": {"id": 1}, "queue_slug": "it"}
    with httpx.Client() as http:
        wrong_secret = hook(live, "django-helpdesk/wrong-secret-0123456789")
        assert http.post(wrong_secret, json=payload).status_code == 404
        assert http.post(hook(live, f"rt/{WEBHOOK_SECRET}"), json=payload).status_code == 404
        assert http.get(hook(live)).status_code == 405
        assert http.post(hook(live), content=b"not json").status_code == 400
        assert http.post(hook(live), json={"ticket": {"id": "1; drop"}}).status_code == 400
        big = http.post(hook(live), content=b"x" * (9 * 1024 * 1024))
        assert big.status_code == 413
        unlinked = http.post(hook(live), json={"ticket": {"id": 987654321}})
        assert unlinked.status_code == 200
    assert live.store.outbox_pending() == 0


def test_without_a_secret_the_endpoint_is_not_there(django_helpdesk_bot: Harness) -> None:
    live = django_helpdesk_bot
    receiver = WebhookReceiver("django-helpdesk", None, live.gateway, live.store)
    body = json.dumps({"ticket": {"id": 1}}).encode()
    assert receiver.receive("POST", "/hooks/django-helpdesk/", body).status.startswith("404")
    short = WebhookReceiver("django-helpdesk", "short", live.gateway, live.store)
    assert short.receive("POST", "/hooks/django-helpdesk/short", body).status.startswith("404")


def test_a_webhook_takes_over_a_resting_lease_but_not_an_active_one(store: Store) -> None:
    assert store.take_poll_lease("7", "poller-a", 60_000)
    assert not store.take_poll_lease("7", "poller-b", 60_000, over_rest=True)  # polling now
    assert store.rest_poll_lease("7", "poller-a", 60_000)
    assert not store.take_poll_lease("7", "poller-b", 60_000)  # the poll leaves it resting
    assert store.take_poll_lease("7", "poller-a", 60_000)  # its holder polls it again
    assert store.rest_poll_lease("7", "poller-a", 60_000)
    assert store.take_poll_lease("7", "poller-b", 60_000, over_rest=True)  # a push
    assert not store.advance_poll_cursor("7", "poller-a", "9")  # a's lease is gone
    assert store.advance_poll_cursor("7", "poller-b", "9")
