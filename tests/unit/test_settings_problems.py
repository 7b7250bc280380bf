"""Every configuration problem named at once, and URLs printed without their userinfo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.runtime.settings import ConfigError, load_settings, redact_url

OWN = ("SLACK_", "TICKET_", "REDIS_", "PORT", "LOG_")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in [n for n in os.environ if n.startswith(OWN)]:
        monkeypatch.delenv(name)


def test_missing_and_malformed_variables_are_named_together() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings("SLACK_SIGNING_SECRET", TICKET_SYNC_INTERVAL="0", PORT="x")
    named = [line.split(" ", 1)[0] for line in raised.value.problems]
    assert named == ["SLACK_BOT_TOKEN", "TICKET_SYNC_INTERVAL", "PORT", "SLACK_SIGNING_SECRET"]


def test_a_required_variable_given_is_not_called_missing() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings("SLACK_SIGNING_SECRET", SLACK_SIGNING_SECRET="s", PORT="x")
    assert [p.split(" ", 1)[0] for p in raised.value.problems] == ["SLACK_BOT_TOKEN", "PORT"]


def test_valid_settings_still_name_what_this_mode_requires() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings("SLACK_APP_TOKEN", SLACK_BOT_TOKEN="xoxb-1")
    assert raised.value.problems == [
        "SLACK_APP_TOKEN is required: an app-level token starting with xapp- (Socket Mode)"
    ]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pass@proxy:3128/api/", "http://***@proxy:3128/api/"),
        ("redis://:secret@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"),
        ("https://slack.com/api/", "https://slack.com/api/"),
        ("rediss://u:p@a@host/0", "rediss://***@host/0"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
