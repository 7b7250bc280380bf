"""Configuration: the contract's variables, clear one-line errors, secrets never shown."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runtime.logs import SecretMask
from bot.runtime.settings import ConfigError, load_settings

REQUIRED = {
    "SLACK_BOT_TOKEN": "xoxb-123-secret-bot-token",
    "SLACK_SIGNING_SECRET": "signing-secret-value",
    "TICKET_API_URL": "http://127.0.0.1:9/api/v1",
    "TICKET_API_KEY": "api-key-value",
    "TICKET_API_TOKEN": "api-token-value",
}


def clean_env(**values: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {**keep, **values}


def run_bot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_fresh_machine_names_every_missing_variable_without_a_traceback(tmp_path: Path) -> None:
    result = run_bot(env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("ticket-bot: SLACK_BOT_TOKEN is required") for line in lines)
    # unset TICKET_API_URL is not a problem: the embedded sandbox helpdesk stands in
    assert not any(line.startswith("ticket-bot: TICKET_API_URL") for line in lines)


def test_malformed_value_is_named_and_secret_not_echoed(tmp_path: Path) -> None:
    env = clean_env(**{**REQUIRED, "SLACK_BOT_TOKEN": "not-a-token-123", "PORT": "http"})
    result = run_bot("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert (
        "ticket-bot: SLACK_BOT_TOKEN is malformed: a bot token starting with xoxb-" in result.stderr
    )
    assert "ticket-bot: PORT is malformed" in result.stderr
    assert "not-a-token-123" not in result.stderr
    assert "Traceback" not in result.stderr


def test_socket_mode_needs_the_app_token(tmp_path: Path) -> None:
    result = run_bot("socket", env=clean_env(**REQUIRED), cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_APP_TOKEN is required" in result.stderr


def test_backend_credentials_are_named(tmp_path: Path) -> None:
    env = clean_env(**{k: v for k, v in REQUIRED.items() if k != "TICKET_API_KEY"})
    result = run_bot("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "TICKET_API_KEY is required" in result.stderr


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in REQUIRED:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("\n".join(f"{k}={v}" for k, v in REQUIRED.items()))
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.TICKET_API_URL == "http://127.0.0.1:9/api/v1/"
    assert settings.TICKET_SYNC_INTERVAL == 15
    assert settings.PORT == 3000
    assert settings.SLACK_API_URL == "https://slack.com/api/"


def test_environment_wins_and_defaults_hold(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for key, value in REQUIRED.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TICKET_SYNC_INTERVAL", "0")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.problems == [
        "TICKET_SYNC_INTERVAL is malformed: a whole number of seconds, at least 1"
    ]


def test_secrets_are_masked_in_repr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for key, value in REQUIRED.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("REDIS_URL", "redis://:redis-password@127.0.0.1:6379/0")
    settings = load_settings()
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for secret in (
        "xoxb-123-secret-bot-token",
        "signing-secret-value",
        "api-key-value",
        "api-token-value",
        "redis-password",
    ):
        assert secret not in shown


def test_log_filter_masks_known_secrets_and_token_shapes(caplog: pytest.LogCaptureFixture) -> None:
    mask = SecretMask(["api-key-value", "hunter22"])
    logger = logging.getLogger("test.mask")
    caplog.handler.addFilter(mask)
    caplog.set_level(logging.DEBUG)
    try:
        logger.info("headers %s", {"apikey": "api-key-value", "Authorization": "Bearer eyJabc.def"})
        logger.warning("password hunter22 and xoxb-999-abc and xapp-1-XYZ")
        try:
            raise RuntimeError("failed with hunter22")
        except RuntimeError:
            logger.exception("boom")
    finally:
        caplog.handler.removeFilter(mask)
    text = caplog.text
    for secret in ("api-key-value", "eyJabc.def", "hunter22", "xoxb-999-abc", "xapp-1-XYZ"):
        assert secret not in text
    assert "***" in text


def test_a_malformed_section_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.runtime.settings import load_section
    from bot.sync.worker import OutboxSettings

    monkeypatch.setenv("OUTBOX_LANES", "many")
    with pytest.raises(ConfigError) as caught:
        load_section(OutboxSettings)
    assert caught.value.problems == [
        "OUTBOX_LANES is malformed: a whole number of delivery threads"
    ]


def test_ticket_reaction_takes_a_name_with_or_without_colons(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKET_REACTION", raising=False)
    assert load_settings(**REQUIRED).TICKET_REACTION == "ticket"
    assert load_settings(**REQUIRED, TICKET_REACTION=":raising_hand:").TICKET_REACTION == (
        "raising_hand"
    )
    assert load_settings(**REQUIRED, TICKET_REACTION="").TICKET_REACTION == ""
    with pytest.raises(ConfigError) as caught:
        load_settings(**REQUIRED, TICKET_REACTION="two words")
    assert caught.value.problems == [
        "TICKET_REACTION is malformed: an emoji name such as ticket (or :ticket:), "
        "or empty for none"
    ]


def test_intake_channels_are_channel_ids(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(**REQUIRED, TICKET_INTAKE_CHANNELS=" C1, G2 ,")
    assert settings.intake_channel_ids == ["C1", "G2"]
    with pytest.raises(ConfigError) as caught:
        load_settings(**REQUIRED, TICKET_INTAKE_CHANNELS="C1,U2")
    assert caught.value.problems == [
        "TICKET_INTAKE_CHANNELS is malformed: channel ids (C… or G…), comma-separated, "
        "e.g. C0123ABCD,G0456EFGH"
    ]


def test_the_agent_channel_is_one_channel_id(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKET_AGENT_CHANNEL", raising=False)
    assert load_settings(**REQUIRED).TICKET_AGENT_CHANNEL is None
    assert load_settings(**REQUIRED, TICKET_AGENT_CHANNEL="").TICKET_AGENT_CHANNEL is None
    assert load_settings(**REQUIRED, TICKET_AGENT_CHANNEL=" G0AGENTS ").TICKET_AGENT_CHANNEL == (
        "G0AGENTS"
    )
    for wrong in ("#agents", "U0123ABCD", "C1,C2"):
        with pytest.raises(ConfigError) as caught:
            load_settings(**REQUIRED, TICKET_AGENT_CHANNEL=wrong)
        assert caught.value.problems == [
            "TICKET_AGENT_CHANNEL is malformed: a channel id (C… or G…) such as G0123456789, "
            "best a private channel of agents"
        ]
