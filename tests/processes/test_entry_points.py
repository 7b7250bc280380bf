"""`ticket-bot socket`, `ticket-bot serve` and bare `ticket-bot` as real processes.

Each test starts `python -m bot …` in an empty directory (no `.env`), pointed at the fakes:
FakeSlack (Web API), FakeSocketMode (the WebSocket link), FakeEpixel and the real Redis.
Start-up waits are generous (a slow 2-core CI machine); every process is killed in `finally`.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.fakes.epixel import FakeEpixel
from tests.support.fakes.slack import FakeSlack
from tests.support.fakes.socket_mode import (
    ACK_DEADLINE_SECONDS,
    FakeSocketMode,
    block_actions_payload,
)
from tests.support.flows import texts
from tests.support.harness import BOT_TOKEN
from tests.support.processes import (
    STARTUP_SECONDS,
    BotProcess,
    bot_env,
    free_port,
    wait_until_healthy,
)
from tests.support.slack_requests import FORM, SignedClient

APP_TOKEN = "xapp-1-A1-1-entrypoints"
SIGNING_SECRET = "entry-points-signing-secret"

JsonDict = dict[str, Any]


@dataclass
class Fakes:
    slack: FakeSlack
    socket_mode: FakeSocketMode
    helpdesk: FakeEpixel


@pytest.fixture()
def fakes() -> Iterator[Fakes]:
    with (
        FakeSlack(bot_token=BOT_TOKEN) as slack,
        FakeSocketMode(app_token=APP_TOKEN) as socket_mode,
        FakeEpixel() as helpdesk,
    ):
        slack.socket_mode = socket_mode
        yield Fakes(slack, socket_mode, helpdesk)


@contextmanager
def running(args: list[str], env: dict[str, str], workdir: Path) -> Iterator[BotProcess]:
    bot = BotProcess(args, env, workdir)
    try:
        yield bot
    finally:
        bot.kill()


def wait_connected(fakes: Fakes, bot: BotProcess) -> None:
    try:
        fakes.socket_mode.wait_connected(timeout=STARTUP_SECONDS)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{bot.output()}") from None


def new_ticket_form(slack: FakeSlack) -> JsonDict:
    """The new-ticket form: opened directly (warm lookups) or after a loading view (cold)."""
    opened = slack.wait_for("views.open", timeout=10)[0]
    assert opened.response is not None and opened.response["ok"], opened.response
    view: JsonDict = opened.args["view"]
    if view["callback_id"] == "ticket_new_loading":
        view = slack.wait_for("views.update", timeout=10)[0].args["view"]
    assert view["callback_id"] == "ticket_new"
    return view


# ---------------------------------------------------------------------- socket


def test_socket_mode_serves_commands_actions_and_events(
    fakes: Fakes, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    # U1 is an agent: the page button below lists every ticket
    env = bot_env(
        fakes.slack,
        fakes.helpdesk,
        redis_url,
        redis_prefix,
        SLACK_APP_TOKEN=APP_TOKEN,
        TICKET_AGENTS="U1",
    )
    with running(["socket"], env, tmp_path) as bot:
        wait_connected(fakes, bot)
        opened = fakes.slack.calls_to("apps.connections.open")
        assert opened[0].headers["authorization"] == f"Bearer {APP_TOKEN}"

        help_ack = fakes.socket_mode.slash_command("help")
        assert help_ack.latency < ACK_DEADLINE_SECONDS
        assert help_ack.payload is not None
        assert "/ticket new" in texts(help_ack.payload["blocks"])

        new_ack = fakes.socket_mode.slash_command("new Printer")
        assert new_ack.latency < ACK_DEADLINE_SECONDS
        subject = next(
            b for b in new_ticket_form(fakes.slack)["blocks"] if b["block_id"] == "subject"
        )
        assert subject["element"]["initial_value"] == "Printer"

        _check_block_action_and_event(fakes)
        bot.assert_running()
        assert bot.stop(signal.SIGTERM) == 0, bot.output()


def _check_block_action_and_event(fakes: Fakes) -> None:
    fakes.helpdesk.add_ticket(subject="Paged ticket")
    page = {
        "type": "button",
        "block_id": "list_pages",
        "action_id": "ticket_list_page_next",
        "value": json.dumps({"status": None, "all": True, "offset": 0}),
        "text": {"type": "plain_text", "text": "Next"},
    }
    response_url = fakes.slack.new_response_url()
    click = fakes.socket_mode.interactive(block_actions_payload(page, response_url))
    assert click.latency < ACK_DEADLINE_SECONDS
    assert "Paged ticket" in texts(fakes.slack.wait_for("response_url", timeout=10)[0].args)

    home = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}
    event = fakes.socket_mode.event(home)
    assert event.latency < ACK_DEADLINE_SECONDS
    assert fakes.slack.wait_for("views.publish", timeout=10)[0].args["user_id"] == "U1"


@pytest.mark.parametrize(
    ("sig", "exit_code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_socket_mode_stops_promptly_on_a_signal(
    sig: signal.Signals,
    exit_code: int,
    fakes: Fakes,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    """Also right after the link opened, while slack_sdk's connect() is still running."""
    env = bot_env(fakes.slack, fakes.helpdesk, redis_url, redis_prefix, SLACK_APP_TOKEN=APP_TOKEN)
    with running(["socket"], env, tmp_path) as bot:
        wait_connected(fakes, bot)
        assert bot.stop(sig) == exit_code, bot.output()
        assert bot.stopped_after is not None and bot.stopped_after < 5, bot.output()
        try:
            fakes.socket_mode.wait_closed(timeout=5)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{bot.output()}") from None
        assert len(fakes.slack.calls_to("apps.connections.open")) == 1, "it reconnected"


# ---------------------------------------------------------------------- serve


def test_serve_runs_gunicorn_with_health_and_signed_requests(
    fakes: Fakes, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    env = bot_env(
        fakes.slack, fakes.helpdesk, redis_url, redis_prefix, SLACK_SIGNING_SECRET=SIGNING_SECRET
    )
    with running(["serve", "--port", str(port)], env, tmp_path) as bot:
        base = f"http://127.0.0.1:{port}"
        assert wait_until_healthy(bot, base + "/healthz").text.strip() == "ok"
        with SignedClient(
            base + "/slack/events", SIGNING_SECRET, response_url=fakes.slack.response_url
        ) as client:
            help_response = client.command("help")
            assert help_response.status_code == 200
            assert "/ticket new" in texts(help_response.json()["blocks"])
            forged = client.post("command=%2Fticket&text=help", FORM, secret="not-the-secret")
            assert forged.status_code == 401
        assert bot.stop(signal.SIGTERM, timeout=STARTUP_SECONDS) == 0, bot.output()


def test_serve_with_the_embedded_sandbox_runs_one_server_process(
    fakes: Fakes, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """Two gunicorn workers would each start a sandbox: two web pages on one database."""
    port = free_port()
    env = bot_env(
        fakes.slack, fakes.helpdesk, redis_url, redis_prefix, SLACK_SIGNING_SECRET=SIGNING_SECRET
    )
    del env["TICKET_API_URL"]
    with running(["serve", "--port", str(port)], env, tmp_path) as bot:
        wait_until_healthy(bot, f"http://127.0.0.1:{port}/healthz")
        assert bot.stop(signal.SIGTERM, timeout=STARTUP_SECONDS) == 0, bot.output()
    assert bot.output().count("Booting worker") == 1, bot.output()


def test_serve_finishes_acked_work_when_stopped(
    fakes: Fakes, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """SIGTERM while a cold modal waits on a slow helpdesk: the form still replaces the
    loading view before the process exits (work after an ack is not dropped)."""
    port = free_port()
    env = bot_env(
        fakes.slack, fakes.helpdesk, redis_url, redis_prefix, SLACK_SIGNING_SECRET=SIGNING_SECRET
    )
    with running(["serve", "--port", str(port)], env, tmp_path) as bot:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(bot, base + "/healthz")
        fakes.helpdesk.delay = 2.0
        with SignedClient(
            base + "/slack/events", SIGNING_SECRET, response_url=fakes.slack.response_url
        ) as client:
            assert client.command("new Stopping soon").status_code == 200
        loading = fakes.slack.wait_for("views.open", timeout=10)[0].args["view"]
        assert loading["callback_id"] == "ticket_new_loading"
        assert bot.stop(signal.SIGTERM, timeout=STARTUP_SECONDS) == 0, bot.output()
        updates = fakes.slack.calls_to("views.update")
        assert [u.args["view"]["callback_id"] for u in updates] == ["ticket_new"], bot.output()


# ---------------------------------------------------------------------- no argument


def test_no_argument_with_an_app_token_runs_socket_mode(
    fakes: Fakes, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = bot_env(
        fakes.slack,
        fakes.helpdesk,
        redis_url,
        redis_prefix,
        SLACK_APP_TOKEN=APP_TOKEN,
        PORT=str(free_port()),
    )
    with running([], env, tmp_path) as bot:
        wait_connected(fakes, bot)
        assert len(fakes.slack.calls_to("apps.connections.open")) == 1


def test_no_argument_without_an_app_token_serves_http(
    fakes: Fakes, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    env = bot_env(
        fakes.slack,
        fakes.helpdesk,
        redis_url,
        redis_prefix,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        PORT=str(port),
    )
    with running([], env, tmp_path) as bot:
        wait_until_healthy(bot, f"http://127.0.0.1:{port}/healthz")
        assert fakes.slack.calls_to("apps.connections.open") == []
