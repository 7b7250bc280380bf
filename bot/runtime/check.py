"""`ticket-bot check`: one line per thing that is fine, each problem with its fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from slack_sdk.errors import SlackApiError

from bot.gateway import GatewayError, TicketGateway
from bot.runtime.backends import build_gateway, embedded_sandbox
from bot.runtime.paths import data_path
from bot.runtime.settings import Settings, load_settings
from bot.slack.client import build_client
from bot.store import connect

MANIFEST = data_path("app-manifest.yml")

Line = tuple[bool, str]


def manifest_scopes(path: Path = MANIFEST) -> set[str]:
    manifest = yaml.safe_load(path.read_text())
    return set(manifest["oauth_config"]["scopes"]["bot"])


def check_slack(settings: Settings) -> list[Line]:
    client = build_client(settings.SLACK_BOT_TOKEN.get_secret_value(), settings.SLACK_API_URL)
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown")
        return [
            (
                False,
                f"Slack refused the bot token ({error}). Fix: copy the Bot User OAuth "
                "Token (xoxb-…) from OAuth & Permissions into SLACK_BOT_TOKEN.",
            )
        ]
    except Exception as exc:  # connection problems: say which, never the token
        return [
            (
                False,
                f"Slack could not be reached at {settings.SLACK_API_URL} "
                f"({type(exc).__name__}). Fix: check SLACK_API_URL and the network.",
            )
        ]
    lines: list[Line] = [
        (True, f"Slack: connected as {answer.get('user')} in team {answer.get('team')}")
    ]
    granted = {s.strip() for s in answer.headers.get("x-oauth-scopes", "").split(",") if s.strip()}
    missing = sorted(manifest_scopes() - granted) if granted else []
    for scope in missing:
        lines.append(
            (
                False,
                f"the token lacks `{scope}`. Fix: reinstall the app from "
                "app-manifest.yml (Install App → Reinstall) and copy the new token.",
            )
        )
    if granted and not missing:
        lines.append((True, "Slack: the token has every scope app-manifest.yml asks for"))
    return lines


def check_redis(settings: Settings) -> list[Line]:
    if settings.redis_url is None:
        return [(True, "Redis: REDIS_URL unset, the embedded store serves one process")]
    store = connect(settings.redis_url, settings.REDIS_PREFIX)
    if store.ping():
        return [(True, "Redis: answering")]
    return [(False, "Redis does not answer at REDIS_URL. Fix: start Redis or correct REDIS_URL.")]


def check_helpdesk(gateway: TicketGateway) -> list[Line]:
    return _embedded_sandbox(gateway) + _helpdesk_answers(gateway)


def _embedded_sandbox(gateway: TicketGateway) -> list[Line]:
    sandbox = embedded_sandbox(gateway)
    if sandbox is None:
        return []
    return [
        (
            True,
            f"helpdesk: TICKET_API_URL is unset, so the embedded sandbox helpdesk stands in "
            f"(web page {sandbox.web_url}, data in {sandbox.db_path}); set TICKET_API_URL "
            "and the TICKET_API_* credentials for your real helpdesk",
        )
    ]


def _helpdesk_answers(gateway: TicketGateway) -> list[Line]:
    try:
        configured = gateway.configuration_problems()
        if configured:
            return [(False, f"helpdesk ({gateway.name}): {line}") for line in configured]
        if gateway.capabilities.categories:
            found = len(gateway.list_categories())
            return [(True, f"helpdesk ({gateway.name}): answering, {found} categories")]
        gateway.list_priorities()
        return [(True, f"helpdesk ({gateway.name}): configured")]
    except GatewayError as exc:
        return [
            (
                False,
                f"helpdesk ({gateway.name}): {type(exc).__name__}: {exc.message}. "
                "Fix: check TICKET_API_URL and the TICKET_API_* credentials.",
            )
        ]


def run_check(print_line: Callable[[str], None] = print) -> int:
    settings = load_settings()
    lines: list[Line] = [(True, "configuration: every required variable is set")]
    if not settings.SLACK_APP_TOKEN and not settings.SLACK_SIGNING_SECRET:
        lines.append(
            (
                False,
                "neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET "
                "(HTTP mode) is set. Fix: set one, see README.md.",
            )
        )
    lines += check_slack(settings)
    lines += check_redis(settings)
    gateway = build_gateway(settings)
    try:
        lines += check_helpdesk(gateway)
    finally:
        gateway.close()
    for ok, text in lines:
        print_line(("ok       " if ok else "PROBLEM  ") + text)
    return 0 if all(ok for ok, _ in lines) else 1
