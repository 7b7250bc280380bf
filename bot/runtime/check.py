"""`ticket-bot check`: one line per thing that is fine, each problem with its fix.

A warning is printed but does not fail the check. No line carries a secret or a URL's
userinfo (a proxy's or Redis's password): every line is masked before it is printed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import redis
import yaml
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.gateway import GatewayError, TicketGateway
from bot.runtime.backends import build_gateway, embedded_sandbox
from bot.runtime.logs import SecretMask
from bot.runtime.paths import data_path
from bot.runtime.settings import Settings, Unreachable, load_settings, redact_url
from bot.slack.client import build_client
from bot.store import connect

MANIFEST = data_path("app-manifest.yml")

#: a URL's userinfo, wherever it appears in a line: scheme://user:password@host
USERINFO = re.compile(r"(?<=://)[^/\s@]+@")


class Line(NamedTuple):
    ok: bool
    text: str


class Warn(Line):
    """Worth fixing, but the bot works: printed as a warning, the check still passes."""

    def __new__(cls, text: str) -> Warn:
        return super().__new__(cls, True, text)


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
            Line(
                False,
                f"Slack refused the bot token ({error}). Fix: copy the Bot User OAuth "
                "Token (xoxb-…) from OAuth & Permissions into SLACK_BOT_TOKEN.",
            )
        ]
    except Exception as exc:  # connection problems: say which, never the token
        return [
            Line(
                False,
                f"Slack could not be reached at {redact_url(settings.SLACK_API_URL)} "
                f"({type(exc).__name__}). Fix: check SLACK_API_URL and the network.",
            )
        ]
    lines: list[Line] = [
        Line(True, f"Slack: connected as {answer.get('user')} in team {answer.get('team')}")
    ]
    granted = {s.strip() for s in answer.headers.get("x-oauth-scopes", "").split(",") if s.strip()}
    missing = sorted(manifest_scopes() - granted) if granted else []
    for scope in missing:
        lines.append(
            Line(
                False,
                f"the token lacks `{scope}`. Fix: reinstall the app from "
                "app-manifest.yml (Install App → Reinstall) and copy the new token.",
            )
        )
    if granted and not missing:
        lines.append(Line(True, "Slack: the token has every scope app-manifest.yml asks for"))
    return lines


def check_app_token(settings: Settings) -> list[Line]:
    """Slack accepts SLACK_APP_TOKEN for Socket Mode (`apps.connections.open`), when set."""
    if settings.SLACK_APP_TOKEN is None:
        return []
    problem = app_token_problem(settings)
    if problem:
        return [Line(False, problem)]
    return [Line(True, "Slack: SLACK_APP_TOKEN opens Socket Mode connections")]


def app_token_problem(settings: Settings) -> str | None:
    """None when Slack accepts the app-level token, else one line naming SLACK_APP_TOKEN.
    (The connection URL it hands out is never used: it expires unused.)"""
    try:
        socket_mode_url(settings)
    except Unreachable as exc:
        return exc.problems[0]
    return None


def socket_mode_url(settings: Settings) -> str:
    """A Socket Mode connection URL for SLACK_APP_TOKEN (`apps.connections.open`);
    `Unreachable`, one line naming the variable, when Slack refuses it or cannot be reached."""
    token = settings.SLACK_APP_TOKEN
    if token is None:
        raise Unreachable(["SLACK_APP_TOKEN is required for Socket Mode"])
    client = WebClient(base_url=settings.SLACK_API_URL, timeout=10)
    try:
        answer = client.apps_connections_open(app_token=token.get_secret_value())
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown")
        raise Unreachable(
            [
                f"SLACK_APP_TOKEN: Slack refused the app-level token ({error}). Fix: create "
                "one with the connections:write scope (Basic Information → App-Level Tokens) "
                "and copy it (xapp-…) into SLACK_APP_TOKEN."
            ]
        ) from None
    except Exception as exc:
        raise Unreachable(
            [
                f"SLACK_APP_TOKEN could not be tried: Slack could not be reached at "
                f"{redact_url(settings.SLACK_API_URL)} ({type(exc).__name__}). Fix: check "
                "SLACK_API_URL and the network."
            ]
        ) from None
    return str(answer["url"])


def check_redis(settings: Settings) -> list[Line]:
    if settings.redis_url is None:
        return [Line(True, "Redis: REDIS_URL unset, the embedded store serves one process")]
    store = connect(settings.redis_url, settings.REDIS_PREFIX)
    try:
        if not store.ping():
            return [
                Line(
                    False,
                    f"Redis does not answer at REDIS_URL ({redact_url(settings.redis_url)}). "
                    "Fix: start Redis or correct REDIS_URL.",
                )
            ]
        return [Line(True, "Redis: answering"), *redis_durability(store.redis)]
    finally:
        store.close()


def redis_durability(client: redis.Redis) -> list[Line]:
    """Warnings when Redis may drop the bot's keys: eviction, or no persistence."""
    try:
        memory = client.info("memory")
        persistence = client.info("persistence")
    except redis.RedisError as exc:
        return [
            Warn(
                f"Redis: cannot read INFO ({type(exc).__name__}); check by hand that "
                "maxmemory-policy is noeviction and persistence is on (docs/operations.md)"
            )
        ]
    lines: list[Line] = []
    policy = str(memory.get("maxmemory_policy", "unknown"))
    if policy != "noeviction":
        lines.append(
            Warn(
                f"Redis evicts keys (maxmemory-policy {policy}): a full Redis would silently "
                "drop card links and queued jobs. Fix: CONFIG SET maxmemory-policy noeviction "
                "(and in redis.conf); see docs/operations.md."
            )
        )
    if not _persists(client, persistence):
        lines.append(
            Warn(
                "Redis does not persist (no RDB snapshots, no AOF): a restart loses every card "
                "link and queued job. Fix: appendonly yes, or save points; see "
                "docs/operations.md."
            )
        )
    if not lines:
        lines.append(Line(True, f"Redis: persists, maxmemory-policy {policy}"))
    return lines


def _persists(client: redis.Redis, persistence: dict[str, object]) -> bool:
    if str(persistence.get("aof_enabled", "0")) == "1":
        return True
    try:
        save = client.config_get("save").get("save", "")
    except redis.RedisError:  # CONFIG is often disabled on managed Redis
        return True  # cannot tell: managed Redis persists unless told otherwise
    return bool(str(save).strip())


def check_helpdesk(gateway: TicketGateway) -> list[Line]:
    return _embedded_sandbox(gateway) + _helpdesk_answers(gateway)


def _embedded_sandbox(gateway: TicketGateway) -> list[Line]:
    sandbox = embedded_sandbox(gateway)
    if sandbox is None:
        return []
    return [
        Line(
            False,
            f"helpdesk: TICKET_API_URL is unset, so the embedded sandbox helpdesk stands in "
            f"(web page {sandbox.web_url}, data in {sandbox.db_path}): real tickets would go "
            "into a local test desk. Fix: set TICKET_API_URL and the TICKET_API_* credentials "
            "for your real helpdesk (`ticket-bot console` is the place for the sandbox).",
        )
    ]


def _helpdesk_answers(gateway: TicketGateway) -> list[Line]:
    try:
        configured = gateway.configuration_problems()
        if configured:
            return [Line(False, f"helpdesk ({gateway.name}): {line}") for line in configured]
        if gateway.capabilities.categories:
            found = len(gateway.list_categories())
            return [Line(True, f"helpdesk ({gateway.name}): answering, {found} categories")]
        gateway.list_priorities()
        return [Line(True, f"helpdesk ({gateway.name}): configured")]
    except GatewayError as exc:
        return [
            Line(
                False,
                f"helpdesk ({gateway.name}): {type(exc).__name__}: {exc.message}. "
                "Fix: check TICKET_API_URL and the TICKET_API_* credentials.",
            )
        ]


def check_agent_channel(settings: Settings, gateway: TicketGateway) -> list[Line]:
    """TICKET_AGENT_CHANNEL, when set: the bot must be in it to announce tickets; a
    public channel, or a helpdesk without internal notes, is worth a warning."""
    channel = settings.TICKET_AGENT_CHANNEL
    if channel is None:
        return []
    client = build_client(settings.SLACK_BOT_TOKEN.get_secret_value(), settings.SLACK_API_URL)
    try:
        info = client.conversations_info(channel=channel)["channel"]
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown")
        return [
            Line(
                False,
                f"TICKET_AGENT_CHANNEL {channel}: Slack answered {error}. Fix: invite the bot "
                "to that channel (/invite @ticket-bot), or correct the channel id.",
            )
        ]
    except Exception:
        return []  # Slack out of reach: check_slack says so
    lines: list[Line] = []
    if not info.get("is_member"):
        lines.append(
            Line(
                False,
                f"TICKET_AGENT_CHANNEL {channel}: the bot is not a member, so no ticket can be "
                "announced there. Fix: /invite @ticket-bot in that channel.",
            )
        )
    if not info.get("is_private"):
        lines.append(
            Warn(
                f"TICKET_AGENT_CHANNEL {channel} is a public channel: whoever joins it reads "
                "the helpdesk's internal notes and can write some. Fix: use a private "
                "channel of agents."
            )
        )
    if channel == settings.TICKET_CHANNEL or channel in settings.intake_channel_ids:
        lines.append(
            Warn(
                f"TICKET_AGENT_CHANNEL {channel} is also where tickets are opened "
                "(TICKET_CHANNEL or TICKET_INTAKE_CHANNELS): requesters there read the "
                "internal notes. Fix: give the agents a channel of their own."
            )
        )
    if not gateway.capabilities.internal_notes:
        lines.append(
            Warn(
                f"TICKET_AGENT_CHANNEL: the {gateway.name} helpdesk has no internal notes; "
                "new tickets are announced there, and replies there stay in Slack."
            )
        )
    return lines or [Line(True, f"TICKET_AGENT_CHANNEL {channel}: a private channel I am in")]


def run_check(print_line: Callable[[str], None] = print) -> int:
    settings = load_settings()
    lines: list[Line] = [Line(True, "configuration: every required variable is set")]
    if not settings.SLACK_APP_TOKEN and not settings.SLACK_SIGNING_SECRET:
        lines.append(
            Line(
                False,
                "neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET "
                "(HTTP mode) is set. Fix: set one, see README.md.",
            )
        )
    lines += check_slack(settings)
    lines += check_app_token(settings)
    lines += check_redis(settings)
    gateway = build_gateway(settings)
    try:
        lines += check_helpdesk(gateway)
        lines += check_agent_channel(settings, gateway)
    finally:
        gateway.close()
    mask = SecretMask(settings.secrets())
    for line in lines:
        label = "warning  " if isinstance(line, Warn) else "ok       " if line.ok else "PROBLEM  "
        print_line(label + USERINFO.sub("***@", mask.mask(line.text)))
    return 0 if all(line.ok for line in lines) else 1
