"""The bot token stays on Slack's file host, and every download stops at its limit.

Through the real path: a signed event or view submission into the Bolt app, the
outbox worker in this process downloading from the fake Slack, a second loopback
server (`FileHost`) standing for any other host; for helpdesk files, the poller
fetching from a fake Epixel that streams an endless attachment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack.client import file_origins, token_may_fetch
from tests.support.fakes.epixel import FakeEpixel, RecordedRequest
from tests.support.fakes.file_host import FileHost
from tests.support.fakes.serving import Reply
from tests.support.flows import linked_ticket, make_poller, notes_in, open_form, submit, thread_of
from tests.support.harness import Harness, running_bot
from tests.support.outbound import (
    conversations,
    delivered_reactions,
    linked_thread,
    reply,
    ticket_of,
    wait_until,
)

MIB = 1024 * 1024
HUGE = 512 * MIB


@pytest.fixture()
def elsewhere() -> Iterator[FileHost]:
    with FileHost(b"remote bytes") as host:
        yield host


def remote_file(
    host: FileHost, file_id: str = "FREMOTE", name: str = "remote.pdf"
) -> dict[str, Any]:
    """A file object as Slack sends it for a remote file: its url_private is the member's."""
    return {
        "id": file_id,
        "name": name,
        "mimetype": "application/pdf",
        "size": 0,  # remote files declare nothing
        "mode": "external",
        "is_external": True,
        "url_private": host.url(f"/{name}"),
    }


# --- where the token may go -------------------------------------------------------------


def test_file_hosts_the_token_may_reach() -> None:
    assert file_origins("https://slack.com/api/") == {("https", "files.slack.com", 443)}
    assert token_may_fetch(
        "https://files.slack.com/files-pri/T1-F1/a.png", "https://slack.com/api/"
    )
    gov = "https://slack-gov.com/api/"
    assert token_may_fetch("https://files.slack-gov.com/files-pri/T1-F1/a.png", gov)
    assert token_may_fetch("https://slack-gov.com/files-pri/T1-F1/a.png", gov)
    refused = [
        ("http://files.slack.com/files-pri/T1-F1/a.png", "https://slack.com/api/"),
        ("https://files.slack.com:8443/a.png", "https://slack.com/api/"),
        ("https://slack.com/files-pri/T1-F1/a.png", "https://slack.com/api/"),
        ("https://files.slack.com.evil.example/a.png", "https://slack.com/api/"),
        ("https://files.slack.com@evil.example/a.png", "https://slack.com/api/"),
        ("https://user@files.slack.com/a.png", "https://slack.com/api/"),
        ("https://files.slack.com/a.png", gov),
        ("https://evil.example/a.png", "https://slack.com/api/"),
        ("http://127.0.0.1:9/a.png", "http://127.0.0.1:8/api/"),
        ("", "https://slack.com/api/"),
        ("not a url", "https://slack.com/api/"),
    ]
    assert [url for url, api in refused if token_may_fetch(url, api)] == []


def test_reply_with_a_remote_file_sends_nothing_there_and_says_so(
    live: Harness, elsewhere: FileHost
) -> None:
    thread = linked_thread(live)
    ticket_id = ticket_of(live, thread)
    event = reply(
        live.client,
        live.slack,
        thread,
        "See the report",
        subtype="file_share",
        files=[remote_file(elsewhere)],
    )
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack), what="the ✅ reaction")
    assert conversations(live.helpdesk, ticket_id) == [
        "Ada Lovelace: See the report [not attached: remote.pdf]"
    ]
    assert live.helpdesk.attachments == {}
    assert any("remote.pdf" in n and "stored in Slack" in n for n in notes_in(live, thread))
    assert elsewhere.requests == []


def test_plain_http_and_other_ports_of_the_slack_host_are_refused_too(
    live: Harness, elsewhere: FileHost
) -> None:
    thread = linked_thread(live)
    ticket_id = ticket_of(live, thread)
    slack_port = int(live.slack.base_url.rsplit(":", 1)[1])
    other_port = int(elsewhere.base_url.rsplit(":", 1)[1])
    assert slack_port != other_port
    sneaky = remote_file(elsewhere, "FPORT", "port.txt")  # same host, 127.0.0.1, another port
    sneaky["url_private_download"] = f"http://127.0.0.1:{other_port}/files-pri/T1-F1/port.txt"
    event = reply(live.client, live.slack, thread, "", subtype="file_share", files=[sneaky])
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack))
    assert conversations(live.helpdesk, ticket_id) == ["Ada Lovelace: [not attached: port.txt]"]
    assert elsewhere.requests == []


def test_modal_attachment_from_another_host_is_refused_in_the_form(
    live: Harness, elsewhere: FileHost
) -> None:
    view = open_form(live)
    response = submit(
        live,
        view,
        subject_input="Printer jam",
        description_input="It jams",
        category_input="1",
        priority_input="high",
        attachment_input=[remote_file(elsewhere)],
    )
    body = response.json()
    assert body["response_action"] == "errors"
    assert "not stored in Slack" in body["errors"]["attachment"]
    assert live.helpdesk.tickets == {}
    assert elsewhere.requests == []


def test_modal_attachment_from_slack_reaches_the_helpdesk(live: Harness) -> None:
    file = live.slack.add_file("FOK", "shot.png", b"\x89PNG", "image/png")
    view = open_form(live)
    submit(
        live,
        view,
        subject_input="Printer jam",
        description_input="It jams",
        category_input="1",
        priority_input="high",
        attachment_input=[file],
    )
    live.slack.wait_for("chat.postMessage")
    assert [a["content"] for a in live.helpdesk.attachments.values()] == [b"\x89PNG"]


# --- redirects ----------------------------------------------------------------------------


def test_a_redirect_to_another_host_does_not_carry_the_token(
    live: Harness, elsewhere: FileHost
) -> None:
    thread = linked_thread(live)
    ticket_id = ticket_of(live, thread)
    file = live.slack.add_file("FREDIR", "moved.txt", b"")
    live.slack.file_redirects["FREDIR"] = elsewhere.url("/cdn/moved.txt")
    event = reply(live.client, live.slack, thread, "Moved", subtype="file_share", files=[file])
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack))
    assert [path for path, _ in elsewhere.requests] == ["/cdn/moved.txt"]
    assert elsewhere.authorizations() == []
    assert conversations(live.helpdesk, ticket_id) == ["Ada Lovelace: Moved"]
    assert [a["content"] for a in live.helpdesk.attachments.values()] == [b"remote bytes"]


def test_a_redirect_within_the_file_host_keeps_the_token(live: Harness) -> None:
    thread = linked_thread(live)
    live.slack.add_file("FREAL", "real.txt", b"the real bytes")
    moved = live.slack.add_file("FHOP", "hop.txt", b"")
    live.slack.file_redirects["FHOP"] = f"{live.slack.base_url}/files-pri/T1-FREAL/real.txt"
    event = reply(live.client, live.slack, thread, "Hop", subtype="file_share", files=[moved])
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack))
    assert [a["content"] for a in live.helpdesk.attachments.values()] == [b"the real bytes"]


# --- bounded while streaming ------------------------------------------------------------------


def _peak_rss_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def _reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM starts again from VmRSS


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_a_huge_stream_stops_at_the_limit_and_does_not_grow_the_process(
    live: Harness, declared: bool
) -> None:
    thread = linked_thread(live)
    ticket_id = ticket_of(live, thread)
    file = live.slack.add_file("FHUGE", "huge.bin", b"")  # declares size 0, like remote files
    live.slack.file_streams["FHUGE"] = (512 * MIB, declared)
    _reset_peak_rss()
    before = _peak_rss_kib()
    event = reply(live.client, live.slack, thread, "The dump", subtype="file_share", files=[file])
    wait_until(lambda: event["ts"] in delivered_reactions(live.slack), timeout=30)
    grown_mib = (_peak_rss_kib() - before) / 1024
    assert grown_mib < 48, f"the process grew by {grown_mib:.0f} MiB for a 2 MiB limit"
    assert conversations(live.helpdesk, ticket_id) == ["Ada Lovelace: The dump"]
    assert live.helpdesk.attachments == {}
    assert any("huge.bin" in n and "2 MiB" in n for n in notes_in(live, thread))


class EndlessEpixel(FakeEpixel):
    """Epixel whose every attachment download is 512 MiB of generated bytes, written as
    they are made; with `declared`, its Content-Length says so up front."""

    declared = False

    def _download(self, request: RecordedRequest, user: str, attachment_id: str) -> Reply:
        headers = {"Content-Disposition": 'attachment; filename="huge.bin"'}
        if self.declared:
            headers["Content-Length"] = str(HUGE)
        chunk = b"x" * 65536
        return Reply(
            200,
            b"",
            content_type="application/octet-stream",
            headers=headers,
            chunks=(chunk for _ in range(HUGE // len(chunk))),
        )


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_a_huge_helpdesk_file_stops_at_the_limit_and_does_not_grow_the_process(
    redis_url: str, redis_prefix: str, declared: bool
) -> None:
    helpdesk = EndlessEpixel()
    helpdesk.declared = declared
    with running_bot(redis_url, redis_prefix, helpdesk=helpdesk) as live:
        ticket_id = linked_ticket(live)
        helpdesk.add_agent_conversation(int(ticket_id), "Dump.", attachment=("huge.bin", b"x"))
        poller = make_poller(live)
        _reset_peak_rss()
        before = _peak_rss_kib()
        report = poller.poll_once()
        grown_mib = (_peak_rss_kib() - before) / 1024
        assert grown_mib < 64, f"the process grew by {grown_mib:.0f} MiB for a 20 MiB limit"
        assert report.files == 0 and live.slack.uploads == []
        notes = notes_in(live, thread_of(live, ticket_id))
        assert any("could not fetch" in n and "larger than the 20 MiB" in n for n in notes)
