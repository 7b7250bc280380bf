"""`ticket-bot console` driven through a pseudo-terminal, the way a person uses it.

`python -m bot console` runs in a pty with no SLACK_* or TICKET_* settings and no .env,
so it starts its own fake Slack and the embedded sandbox helpdesk. The test plays
the agent through the sandbox's web page (the URL the console prints).
"""

from __future__ import annotations

from typing import Any

import httpx

from bot.runtime.console.blocks import BlockRenderer
from bot.runtime.console.fake_slack import ConsoleSlack
from bot.runtime.console.limits import message_problems, view_problems
from bot.runtime.console.mrkdwn import Style, to_text
from tests.support.terminal import WAIT, Terminal, wait_for_page


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
        wait_for_page(http, f"/tickets/{ticket}/", "Still jammed &lt;after&gt; that")

    console.send("1")
    console.expect(r"updated the card")
    console.expect(rf"Ticket #{ticket} \S+ Closed")
    console.expect(r"\[1\] Reopen")

    console.send("/quit")
    assert console.wait_exit(WAIT) == 0


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


def test_a_prefilled_text_of_several_lines_stays_inside_the_modal_box() -> None:
    modal = _title() | {
        "blocks": [
            {
                "type": "input",
                "block_id": "d",
                "label": {"type": "plain_text", "text": "Description"},
                "element": {
                    "type": "plain_text_input",
                    "multiline": True,
                    "initial_value": "Laptop will not boot\n\nhttps://x.test/p1",
                },
            }
        ]
    }
    lines = BlockRenderer(_names, Style()).view(modal).lines
    assert lines[1:4] == ["│ Description: [Laptop will not boot", "│ ", "│ https://x.test/p1]"]
