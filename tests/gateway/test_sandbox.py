"""The sandbox helpdesk: its web page, its SQLite file, `ticket-bot sandbox`, and the
embedded sandbox a bot starts when TICKET_API_URL is unset. (Its API passes the Epixel
contract tests: tests/test_gateway_epixel.py runs them against it.)"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.gateway import Classic, FileUpload, NewTicket
from bot.gateway.epixel import EpixelGateway
from bot.runtime.backends import build_gateway
from bot.runtime.settings import load_settings
from bot.sandbox import Sandbox
from tests.conftest import free_port
from tests.support.processes import BotProcess

STARTUP_SECONDS = 20.0
#: the caller's variables that would point the bot elsewhere
OWN_ENV_PREFIXES = ("SLACK_", "TICKET_", "REDIS_", "LOG_LEVEL", "PORT")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture
def gateway(sandbox: Sandbox) -> Iterator[EpixelGateway]:
    gw = EpixelGateway(
        sandbox.base_url, sandbox.api_key, username=sandbox.username, password=sandbox.password
    )
    yield gw
    gw.close()


def new_ticket(subject: str = "Printer jam", **overrides: object) -> NewTicket:
    values: dict[str, object] = {
        "subject": subject,
        "description": "It jams.",
        "category_id": "1",
        "priority": Classic.HIGH,
    }
    return NewTicket(**{**values, **overrides})  # type: ignore[arg-type]


def bot_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_ENV_PREFIXES)}
    return {**env, "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", **extra}


def wait_for(bot: BotProcess, pattern: str) -> re.Match[str]:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        found = re.search(pattern, bot.output())
        if found:
            return found
        bot.assert_running()
        time.sleep(0.05)
    raise AssertionError(f"no {pattern!r} in:\n{bot.output()}")


# -- the Python API the console and the tests use -----------------------------------


def test_seeds_and_agent_side_api(sandbox: Sandbox, gateway: EpixelGateway) -> None:
    names = [c.name for c in gateway.list_categories()]
    assert names == ["Hardware", "Software", "Network", "Access"]
    assert [t.name for t in gateway.list_tags()][:3] == ["urgent", "printer", "vpn"]
    ticket = gateway.create_ticket(new_ticket())
    [row] = sandbox.tickets()
    assert (row["id"], row["author"], row["status"]) == (int(ticket.id), sandbox.username, "1")
    reply = sandbox.add_agent_reply(int(ticket.id), "On my way", attachment=("log.txt", b"log"))
    [conversation] = gateway.get_ticket(ticket.id).conversations
    assert (conversation.id, conversation.author) == (str(reply), "agent@sandbox.local")
    download = gateway.download_attachment(conversation.attachments[0].id)
    assert (download.filename, download.content, download.content_type) == (
        "log.txt",
        b"log",
        "text/plain",
    )
    sandbox.set_status(int(ticket.id), 3)
    assert gateway.get_ticket(ticket.id).ticket.status == Classic.CLOSED
    with pytest.raises(KeyError):
        sandbox.add_agent_reply(999, "nobody")
    with pytest.raises(ValueError):
        sandbox.set_status(int(ticket.id), 7)


def test_the_sqlite_file_keeps_tickets_and_tokens(tmp_path: Path) -> None:
    path = str(tmp_path / "desk.sqlite3")
    with Sandbox(path) as first:
        gw = EpixelGateway(
            first.base_url, first.api_key, username=first.username, password=first.password
        )
        ticket = gw.create_ticket(
            new_ticket(attachment=FileUpload(filename="a.bin", content=b"\x00\x01"))
        )
        token = gw._auth.token.current()
        gw.close()
    with Sandbox(path) as second:
        assert [t["subject"] for t in second.tickets()] == ["Printer jam"]
        gw = EpixelGateway(second.base_url, second.api_key, token=token)
        [attachment] = gw.get_ticket(ticket.id).attachments
        assert gw.download_attachment(attachment.id).content == b"\x00\x01"
        gw.close()


# -- the web page -----------------------------------------------------------------


def test_web_page_lists_and_shows_tickets_escaped(sandbox: Sandbox, gateway: EpixelGateway) -> None:
    ticket = gateway.create_ticket(new_ticket("<script>alert(1)</script>"))
    gateway.add_conversation(ticket.id, "Any news? <b>soon</b>")
    index = httpx.get(sandbox.web_url)
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index.text
    assert "<script>" not in index.text
    assert f"TICKET_API_URL={sandbox.base_url}" in index.text
    page = httpx.get(f"{sandbox.web_url}tickets/{ticket.id}/")
    assert page.status_code == 200
    assert "Any news? &lt;b&gt;soon&lt;/b&gt;" in page.text
    assert "<script>" not in page.text
    assert httpx.get(f"{sandbox.web_url}tickets/999/").status_code == 404
    assert httpx.get(f"{sandbox.web_url}?status=3").text.count("/tickets/") == 0


def test_web_reply_with_a_file_and_status_changes(sandbox: Sandbox, gateway: EpixelGateway) -> None:
    ticket = gateway.create_ticket(new_ticket())
    url = f"{sandbox.web_url}tickets/{ticket.id}/"
    reply = httpx.post(
        url + "reply",
        data={"text": "Fixed, see photo", "author": "ann@helpdesk.example"},
        files={"attachment": ("fix.png", b"\x89PNG", "image/png")},
    )
    assert (reply.status_code, reply.headers["location"]) == (303, f"/tickets/{ticket.id}/")
    no_file = httpx.post(url + "reply", data={"text": "No file"}, files={"attachment": ("", b"")})
    assert no_file.status_code == 303
    blank = httpx.post(url + "reply", data={"text": "  "})
    assert blank.status_code == 400 and "Write a reply first." in blank.text
    first, second = gateway.get_ticket(ticket.id).conversations
    assert (first.text, first.author) == ("Fixed, see photo", "ann@helpdesk.example")
    assert (second.author, second.attachments) == ("agent@sandbox.local", [])
    download = gateway.download_attachment(first.attachments[0].id)
    assert (download.filename, download.content) == ("fix.png", b"\x89PNG")
    file = httpx.get(f"{sandbox.web_url}attachments/{first.attachments[0].id}/")
    assert file.content == b"\x89PNG" and file.headers["x-content-type-options"] == "nosniff"
    assert httpx.post(url + "status", data={"status": "3"}).status_code == 303
    assert gateway.get_ticket(ticket.id).ticket.status == Classic.CLOSED
    assert "Reopen as Open" in httpx.get(url).text
    assert httpx.post(url + "status", data={"status": "1"}).status_code == 303
    assert gateway.get_ticket(ticket.id).ticket.status == Classic.OPEN
    assert httpx.post(url + "status", data={"status": "9"}).status_code == 400


# -- embedded: TICKET_API_URL unset ---------------------------------------------------


def test_unset_api_url_builds_a_gateway_on_an_embedded_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(OWN_ENV_PREFIXES)]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    caplog.set_level(logging.INFO)
    settings = load_settings(_env_file=None, SLACK_BOT_TOKEN="xoxb-test")
    assert settings.TICKET_API_URL == ""
    gateway = build_gateway(settings)
    try:
        found = re.search(r"embedded sandbox helpdesk at (\S+) \(web page (\S+),", caplog.text)
        assert found, caplog.text
        ticket = gateway.create_ticket(new_ticket())
        assert gateway.get_ticket(ticket.id).ticket.subject == "Printer jam"
        assert httpx.get(found.group(2)).status_code == 200
    finally:
        gateway.close()
    assert (tmp_path / "data" / "ticket-bot" / "sandbox.sqlite3").exists()
    assert list(tmp_path.glob("*.sqlite3")) == []  # nothing in the working directory
    with pytest.raises(httpx.TransportError):  # closing the gateway stopped the sandbox
        httpx.get(found.group(2), timeout=2)


def test_serve_without_api_url_runs_on_the_embedded_sandbox(tmp_path: Path) -> None:
    port = free_port()
    env = bot_env(SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET="signing-secret")
    bot = BotProcess(["serve", "--port", str(port), "--no-worker"], env, tmp_path)
    try:
        found = wait_for(bot, r"embedded sandbox helpdesk at \S+ \(web page (\S+),")
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:  # /healthz answers 200 only when the helpdesk answers
            bot.assert_running()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, bot.output()
            time.sleep(0.1)
        web_urls = re.findall(r"\(web page (\S+),", bot.output())
        assert httpx.get(web_urls[-1]).status_code == 200, found
        assert bot.terminate() == 0
    finally:
        bot.kill()
    for secret in ("xoxb-test", "signing-secret", "sandbox-password", "sandbox-api-key"):
        assert secret not in bot.output()


# -- ticket-bot sandbox -----------------------------------------------------------


def test_cli_prints_the_settings_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = bot_env(XDG_DATA_HOME=str(tmp_path / "data"))
    bot = BotProcess(["sandbox", "--port", str(port)], env, tmp_path)
    try:
        wait_for(bot, r"Ctrl-C stops it")
        output = bot.output()
        assert f"web page: http://127.0.0.1:{port}/" in output
        values = dict(re.findall(r"^  (TICKET_\w+)=(\S+)$", output, re.MULTILINE))
        assert values["TICKET_API_URL"] == f"http://127.0.0.1:{port}/api/v1/"
        gw = EpixelGateway(
            values["TICKET_API_URL"],
            values["TICKET_API_KEY"],
            username=values["TICKET_API_USERNAME"],
            password=values["TICKET_API_PASSWORD"],
        )
        assert len(gw.list_categories()) == 4
        gw.close()
        assert bot.terminate() == 0
        assert "sandbox helpdesk stopped" in bot.output()
    finally:
        bot.kill()
    assert (tmp_path / "data" / "ticket-bot" / "sandbox.sqlite3").exists()
    assert list(tmp_path.glob("*.sqlite3")) == []


def test_cli_says_when_the_port_is_taken(tmp_path: Path, sandbox: Sandbox) -> None:
    bot = BotProcess(["sandbox", "--port", str(sandbox.port)], bot_env(), tmp_path)
    try:
        assert bot.proc.wait(timeout=STARTUP_SECONDS) == 1
    finally:
        bot.kill()
    assert "try --port" in bot.output() and "Traceback" not in bot.output()


@pytest.mark.parametrize("backend", ["getfly", "ispcrm", "keliweb"])
def test_other_backends_still_need_the_api_url(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.runtime.settings import ConfigError

    for name in [n for n in os.environ if n.startswith(OWN_ENV_PREFIXES)]:
        monkeypatch.delenv(name)
    settings = load_settings(_env_file=None, SLACK_BOT_TOKEN="xoxb-test", TICKET_BACKEND=backend)
    with pytest.raises(ConfigError) as caught:
        build_gateway(settings)
    assert caught.value.problems[0].startswith("TICKET_API_URL is required")


def test_web_forms_refuse_posts_from_another_site(sandbox: Sandbox, gateway: EpixelGateway) -> None:
    """A page elsewhere must not make a visitor's browser write agent replies (CSRF)."""
    ticket = gateway.create_ticket(new_ticket())
    url = f"{sandbox.web_url}tickets/{ticket.id}/reply"
    host = url.split("/")[2]
    for headers in (
        {"Origin": "https://evil.example"},
        {"Referer": "https://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        refused = httpx.post(url, data={"text": "from elsewhere"}, headers=headers)
        assert refused.status_code == 403 and "another site" in refused.text, headers
    assert gateway.get_ticket(ticket.id).conversations == []
    own = httpx.post(url, data={"text": "from the page"}, headers={"Origin": f"http://{host}"})
    assert own.status_code == 303
    assert [c.text for c in gateway.get_ticket(ticket.id).conversations] == ["from the page"]
