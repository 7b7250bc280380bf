"""Slack markup to plain text for the helpdesk."""

from __future__ import annotations

import pytest

from bot.slack.text import to_plain_text

NAMES = {"U1": "Ada Lovelace", "U2": "Grace Hopper"}


@pytest.mark.parametrize(
    ("slack", "plain"),
    [
        ("hi <@U2>", "hi @Grace Hopper"),
        ("<@U1|ada> here", "@Ada Lovelace here"),
        ("<https://x.org/a?b=1&amp;c=2|the doc>", "the doc (https://x.org/a?b=1&c=2)"),
        ("<https://x.org>", "https://x.org"),
        ("<https://x.org|https://x.org>", "https://x.org"),
        ("<mailto:a@b.org|a@b.org>", "a@b.org"),
        ("<#C1|general> and <#C2>", "#general and #C2"),
        ("<!here> <!channel> <!everyone>", "@here @channel @everyone"),
        ("<!subteam^S1|@oncall>", "@oncall"),
        ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        (":thumbsup: :+1: :tada: :our-custom:", "👍 👍 🎉 :our-custom:"),
        ("*bold* _it_ `code`", "*bold* _it_ `code`"),
    ],
)
def test_slack_markup_becomes_plain_text(slack: str, plain: str) -> None:
    assert to_plain_text(slack, lambda user: NAMES.get(user, user)) == plain
