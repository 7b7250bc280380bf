"""`ticket-bot console` driven through a pseudo-terminal, the way a person uses it.

`python -m bot console` runs in a pty with no SLACK_* or TICKET_* settings and no .env,
so it starts its own fake Slack and the embedded sandbox helpdesk. The test plays
the agent through the sandbox's web page (the URL the console prints).
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.runtime.console.blocks import BlockRenderer
from bot.runtime.console.fake_slack import ConsoleSlack
from bot.runtime.console.limits import message_problems, view_problems
from bot.runtime.console.mrkdwn import Style, to_text

CHECKOUT = Path(__file__).resolve().parents[2]
WAIT = 30.0  # the 2-core CI machine is slow; every wait is bounded
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][AB012]|\r")


class Terminal:
    """A child process on a pseudo-terminal, with expect-style reads."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: never returns into pytest
            try:
                os.chdir(cwd)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = ""
        self._seen = 0

    def read_some(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk:
                raise EOFError
            self.output += ANSI.sub("", chunk.decode(errors="replace"))

    def expect(self, pattern: str, timeout: float = WAIT) -> re.Match[str]:
        """The first match of `pattern` in what came after the previous match."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.compile(pattern).search(self.output, self._seen)
            if found:
                self._seen = found.end()
                return found
            if time.monotonic() > deadline:
                tail = self.output[-3000:]
                raise AssertionError(f"no {pattern!r} within {timeout}s; the screen:\n{tail}")
            try:
                self.read_some(0.2)
            except EOFError:
                raise AssertionError(f"the console ended; the screen:\n{self.output[-3000:]}")

    def send(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                return os.waitstatus_to_exitcode(status)
            try:
                self.read_some(0.1)
            except EOFError:
                time.sleep(0.05)
        return None

    def kill(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0
        os.close(self.fd)


@pytest.fixture()
def console(tmp_path: Path) -> Iterator[Terminal]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TICKET_"))}
    env.pop("REDIS_URL", None)
    env.update(NO_COLOR="1", PYTHONPATH=str(CHECKOUT), COLUMNS="120", LINES="40")
    terminal = Terminal([sys.executable, "-m", "bot", "console"], tmp_path, env)
    try:
        yield terminal
    finally:
        terminal.kill()


def test_the_whole_flow_in_a_terminal(console: Terminal) -> None:
    web = console.expect(r"helpdesk web page: (http://\S+)").group(1)
    console.expect(r"#general> ")

    console.send("/ticket new Printer jam")
    console.expect(r"Subject \[Printer jam\]: ")
    console.send("")
    console.expect(r"Description[^\n]*: ")
    console.send("It blinks red & says <E42>")
    console.expect(r"Category \[1-\d+")
    console.send("1")
    console.expect(r"Priority \[1-\d+, Enter keeps Medium\]: ")
    console.send("3")
    console.expect(r"Attachment[^\n]*Enter to skip\): ")
    console.send("")

    ticket = console.expect(r"Ticket #(\d+) \S+ Open").group(1)
    console.expect(r"Printer jam")
    console.expect(r"\[1\] Close  \[2\] Priority: High ▾  \[3\] Tags ▾")

    with httpx.Client(base_url=web, timeout=10) as http:
        reply = http.post(
            f"/tickets/{ticket}/reply", data={"text": "Toner replaced, try again", "author": "Sam"}
        )
        assert reply.status_code < 400
        console.expect(rf"in the thread of ticket #{ticket}:[^│]*│[^\n]*Sam[^\n]*replied", WAIT)
        console.expect(r"Toner replaced, try again")

        console.send("Still jammed <after> that")
        _wait_for_page(http, f"/tickets/{ticket}/", "Still jammed &lt;after&gt; that")

    console.send("1")
    console.expect(r"updated the card")
    console.expect(rf"Ticket #{ticket} \S+ Closed")
    console.expect(r"\[1\] Reopen")

    console.send("/quit")
    assert console.wait_exit(WAIT) == 0


def _wait_for_page(http: httpx.Client, path: str, text: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if text in http.get(path).text:
            return
        time.sleep(0.5)
    raise AssertionError(f"{text!r} never appeared on the helpdesk's page {path}")


# --- the renderer and the limits, without a terminal ---------------------------------


def _names(some_id: str) -> str:
    return {"U1": "ada", "C1": "general"}.get(some_id, some_id)


def test_mrkdwn_reads_as_slack_shows_it() -> None:
    text = "*Ticket #1* <@U1> see <https://x.test/a|the doc> &lt;@U1&gt; &amp; `a*b*c` :x:"
    assert to_text(text, _names, Style()) == (
        "Ticket #1 @ada see the doc (https://x.test/a) <@U1> & `a*b*c` ❌"
    )


def test_blocks_render_with_numbered_controls_and_show_unknown_blocks() -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Hi"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*A*\n1"}]},
        {"type": "divider"},
        {
            "type": "actions",
            "block_id": "b",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Close"}},
                {
                    "type": "multi_static_select",
                    "placeholder": {"type": "plain_text", "text": "Tags"},
                    "options": [],
                    "initial_options": [{"text": {"type": "plain_text", "text": "vpn"}}],
                },
            ],
        },
        {"type": "video"},
    ]
    rendering = BlockRenderer(_names, Style()).blocks(blocks)
    assert "[1] Close  [2] Tags: vpn ▾" in rendering.lines
    assert "[unsupported block: video]" in rendering.lines
    assert [c.number for c in rendering.controls] == [1, 2]


def test_the_fake_slack_refuses_what_slack_refuses() -> None:
    long_section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    assert message_problems([long_section], "t")[0][1] == "/blocks/0/text"
    assert message_problems([{"type": "divider"}] * 51, "t")
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "x" * 25}, "blocks": []}
    assert view_problems(modal)[0][1] == "/view/title/text"
    assert view_problems(_title() | {"blocks": [{"type": "divider"}] * 101})

    slack = ConsoleSlack("xoxb-t", "U1", "ada")
    trigger = slack.issue_trigger()
    slack._triggers[trigger] -= 3.5  # issued 3.5 s ago
    answer = slack.call("views.open", {"trigger_id": trigger, "view": _title()}, "xoxb-t")
    assert answer == {"ok": False, "error": "expired_trigger_id"}
    assert slack.call("auth.test", {}, "xoxb-wrong")["error"] == "invalid_auth"


def _title() -> dict[str, object]:
    return {"type": "modal", "title": {"type": "plain_text", "text": "New ticket"}, "blocks": []}
