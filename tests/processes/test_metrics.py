"""GET /metrics after real flows, in `serve` under gunicorn with two workers and in
`ticket-bot worker --metrics-port`; and SIGTERM handing an unfinished job to the next worker.

Every process is `python -m bot …` pointed at FakeSlack, FakeEpixel and the real Redis.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.store import ThreadRef
from tests.support.fakes.epixel import FakeEpixel
from tests.support.fakes.slack import FakeSlack
from tests.support.harness import SIGNING_SECRET, Harness, running_bot
from tests.support.outbound import (
    conversations,
    delivered_reactions,
    linked_thread,
    reply,
    serving_env,
    ticket_of,
    wait_until,
)
from tests.support.processes import BotProcess, free_port, wait_until_healthy
from tests.support.slack_requests import FORM, SignedClient, state_values

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
STARTUP_SECONDS = 30.0


def scrape(url: str) -> Samples:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture()
def idle(redis_url: str, redis_prefix: str) -> Iterator[Harness]:
    """The Slack side in this process, no outbox worker: a worker process delivers."""
    with running_bot(redis_url, redis_prefix, outbox=None) as harness:
        yield harness


def new_ticket_form(slack: FakeSlack) -> dict[str, Any]:
    opened = slack.wait_for("views.open", timeout=10)[0]
    view: dict[str, Any] = opened.response["view"]
    if view["callback_id"] == "ticket_new_loading":
        view = slack.wait_for("views.update", timeout=10)[0].response["view"]
    assert view["callback_id"] == "ticket_new"
    return view


# ---------------------------------------------------------------------- serve


def test_serve_metrics_count_a_flow_once_across_two_gunicorn_workers(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FakeSlack() as slack, FakeEpixel() as helpdesk:
        env = serving_env(slack, helpdesk, redis_url, redis_prefix, TICKET_SYNC_INTERVAL="1")
        bot = BotProcess(["serve", "--port", str(port)], env, tmp_path, "serve")
        try:
            wait_until_healthy(bot, base + "/metrics")
            with SignedClient(base + "/slack/events", SIGNING_SECRET) as client:
                thread = _ticket_flow(client, slack)
                event = reply(client, slack, thread, "It still jams")
                wait_until(lambda: event["ts"] in delivered_reactions(slack), timeout=20)
                forged = client.post("command=%2Fticket&text=help", FORM, secret="wrong")
                assert forged.status_code == 401
            wait_until(
                lambda: value(scrape(base + "/metrics"), "ticket_bot_poll_helpdesk_requests_total"),
                timeout=20,
                what="a poll cycle that read the new ticket",
            )
            scrapes = [scrape(base + "/metrics") for _ in range(4)]  # both workers answer
            assert bot.stop(signal.SIGTERM, timeout=STARTUP_SECONDS) == 0, bot.output()
        finally:
            bot.kill()
    assert bot.output().count("Booting worker") == 2, bot.output()
    for samples in scrapes:
        _assert_flow_counted(samples)


def _ticket_flow(client: SignedClient, slack: FakeSlack) -> ThreadRef:
    """/ticket help, /ticket new, the form submitted (a 429 on the card's post): the card."""
    assert client.command("help").status_code == 200
    assert client.command("new Printer jam").status_code == 200
    view = new_ticket_form(slack)
    slack.rate_limit_next("chat.postMessage", retry_after=1)
    answers = {"description_input": "It jams on page 2", "category_input": "1"}
    filled = {**view, "state": {"values": state_values(view, answers)}}
    assert client.view_submission(filled).status_code == 200
    card = wait_until(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.response.get("ok")],
        timeout=20,
        what="the card",
    )[0]
    return ThreadRef(card.response["channel"], card.response["ts"])


def _assert_flow_counted(samples: Samples) -> None:
    requests = "ticket_bot_slack_requests_total"
    assert value(samples, requests, surface="command", kind="/ticket", outcome="ok") == 2
    assert value(samples, requests, surface="interactivity", kind="view_submission", outcome="ok")
    assert value(samples, requests, surface="events", kind="message", outcome="ok") == 1
    assert value(samples, requests, surface="unverified", kind="", outcome="rejected") == 1
    assert value(samples, "ticket_bot_slack_ack_seconds_count", surface="command") == 2
    assert value(samples, "ticket_bot_modal_open_seconds_count", surface="command") == 1
    api = "ticket_bot_slack_api_calls_total"
    assert value(samples, api, method="views.open", error="none") == 1
    assert (
        value(samples, "ticket_bot_slack_rate_limit_wait_seconds_count", method="chat.postMessage")
        == 1
    )
    deliveries = "ticket_bot_outbox_deliveries_total"
    assert value(samples, deliveries, kind="create", outcome="delivered") == 1
    assert value(samples, deliveries, kind="reply", outcome="delivered") == 1
    helpdesk = "ticket_bot_helpdesk_requests_total"
    assert value(samples, helpdesk, backend="epixel", operation="create_ticket", error="none") == 1
    assert (
        value(samples, helpdesk, backend="epixel", operation="add_conversation", error="none") == 1
    )
    assert value(samples, "ticket_bot_poll_cycle_seconds_count") >= 1
    assert value(samples, "ticket_bot_poll_helpdesk_requests_total") >= 1
    assert value(samples, "ticket_bot_outbox_depth") == 0
    assert value(samples, "ticket_bot_redis_up") == 1


# ---------------------------------------------------------------------- worker


def test_worker_metrics_port_counts_a_retried_reply_and_a_poll(
    idle: Harness, redis_url: str, tmp_path: Path
) -> None:
    thread = linked_thread(idle)
    metrics_port = free_port()
    gunicorns_dir = tmp_path / "multiproc"  # set for a container: the worker ignores it
    gunicorns_dir.mkdir()
    env = serving_env(
        idle.slack,
        idle.helpdesk,
        redis_url,
        idle.store.prefix,
        PROMETHEUS_MULTIPROC_DIR=str(gunicorns_dir),
    )
    worker = BotProcess(["worker", "--metrics-port", str(metrics_port)], env, tmp_path, "worker")
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait_until_healthy(worker, url)
        idle.helpdesk.fail_next(1, status=503, path_contains="ticket/conversation")
        event = reply(idle.client, idle.slack, thread, "From the worker")
        wait_until(lambda: event["ts"] in delivered_reactions(idle.slack), timeout=20)
        deliveries = "ticket_bot_outbox_deliveries_total"
        samples = wait_until(
            lambda: (
                (s := scrape(url))
                and value(s, deliveries, kind="reply", outcome="delivered") == 1
                and value(s, "ticket_bot_poll_cycle_seconds_count") >= 1
                and s
            ),
            timeout=20,
            what=f"the worker's figures\n{worker.output()}",
        )
        assert worker.terminate() == 0, worker.output()
    finally:
        worker.kill()
    helpdesk = "ticket_bot_helpdesk_requests_total"
    assert value(samples, helpdesk, backend="epixel", operation="add_conversation", error="none")
    refused = {"backend": "epixel", "operation": "add_conversation", "error": "OutcomeUnknown"}
    assert value(samples, helpdesk, **refused) == 1  # a write answered 503
    assert value(samples, deliveries, kind="reply", outcome="retry") == 1
    assert value(samples, "ticket_bot_slack_api_calls_total", method="reactions.add", error="none")
    assert value(samples, "ticket_bot_outbox_pending") == 0
    assert list(gunicorns_dir.iterdir()) == []


# ---------------------------------------------------------------------- shutdown


def test_a_job_waiting_at_sigterm_is_delivered_once_by_the_next_worker_at_once(
    idle: Harness, redis_url: str, tmp_path: Path
) -> None:
    """`serve` reads a reply, the helpdesk answers 503 and the entry waits for its retry;
    SIGTERM: the entry is handed back, and a worker started after delivers it though
    entries left by a silent worker are taken over only after ten minutes."""
    thread = linked_thread(idle)
    ticket_id = ticket_of(idle, thread)
    timings = {"OUTBOX_CLAIM_IDLE_MS": "600000", "OUTBOX_BACKOFF_BASE": "60"}
    env = serving_env(idle.slack, idle.helpdesk, redis_url, idle.store.prefix, **timings)
    port = free_port()
    idle.helpdesk.fail_next(1, status=503, path_contains="ticket/conversation")
    serve = BotProcess(["serve", "--port", str(port)], env, tmp_path, "serve")
    try:
        wait_until_healthy(serve, f"http://127.0.0.1:{port}/metrics")
        event = reply(idle.client, idle.slack, thread, "Held at shutdown")
        wait_until(
            lambda: idle.helpdesk.requests_to("ticket/conversation"),
            timeout=20,
            what=f"the first attempt\n{serve.output()}",
        )
        assert serve.stop(signal.SIGTERM, timeout=STARTUP_SECONDS) == 0, serve.output()
    finally:
        serve.kill()
    assert "handed 1 unfinished entries back" in serve.output(), serve.output()
    assert conversations(idle.helpdesk, ticket_id) == []
    worker = BotProcess(["worker"], env, tmp_path, "worker")
    try:
        wait_until(
            lambda: event["ts"] in delivered_reactions(idle.slack),
            timeout=20,  # far less than OUTBOX_CLAIM_IDLE_MS
            what=f"delivery by the next worker\n{worker.output()}",
        )
        assert worker.terminate() == 0, worker.output()
    finally:
        worker.kill()
    assert conversations(idle.helpdesk, ticket_id) == ["Ada Lovelace: Held at shutdown"]
    assert idle.store.outbox_pending() == 0


def test_a_delivery_under_way_at_sigterm_finishes_before_serve_exits(
    idle: Harness, redis_url: str, tmp_path: Path
) -> None:
    """The helpdesk takes 2 s over a reply when SIGTERM comes: the stopping process still
    delivers it, once, and hands nothing back."""
    thread = linked_thread(idle)
    ticket_id = ticket_of(idle, thread)
    env = serving_env(idle.slack, idle.helpdesk, redis_url, idle.store.prefix)
    port = free_port()
    idle.helpdesk.hang_next(1, 2.0, path_contains="ticket/conversation")
    serve = BotProcess(["serve", "--port", str(port)], env, tmp_path, "serve")
    try:
        wait_until_healthy(serve, f"http://127.0.0.1:{port}/metrics")
        event = reply(idle.client, idle.slack, thread, "Under way")
        wait_until(
            lambda: idle.helpdesk.requests_to("ticket/conversation"),
            timeout=20,
            what=f"the attempt\n{serve.output()}",
        )
        assert serve.stop(signal.SIGTERM, timeout=STARTUP_SECONDS) == 0, serve.output()
    finally:
        serve.kill()
    assert "handed" not in serve.output(), serve.output()
    assert conversations(idle.helpdesk, ticket_id) == ["Ada Lovelace: Under way"]
    assert event["ts"] in delivered_reactions(idle.slack)
    assert idle.store.outbox_pending() == 0
