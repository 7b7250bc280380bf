"""app-manifest.yml and the code agree both ways, and the manifest is valid for Slack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.slack import ids
from bot.slack.client import SCOPES_USED
from bot.slack.listeners.commands import COMMAND
from bot.slack.listeners.events import SUBSCRIBED
from tests.support.harness import Harness

UNHANDLED = "no listener takes this signed request"
ROOT = Path(__file__).resolve().parents[2]
#: Slack's published app-manifest schema, vendored with its licence
SCHEMA = ROOT / "tests" / "support" / "slack" / "manifest.schema.1.0.0.json"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "app-manifest.yml").read_text()))


def test_manifest_is_valid_against_slacks_schema(manifest: dict[str, Any]) -> None:
    import jsonschema

    jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))


def test_commands_match(manifest: dict[str, Any]) -> None:
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == [COMMAND]


def test_scopes_match_what_the_code_uses(manifest: dict[str, Any]) -> None:
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(SCOPES_USED)


def test_events_match(manifest: dict[str, Any]) -> None:
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == set(SUBSCRIBED)


def test_interactivity_and_socket_mode_are_on(manifest: dict[str, Any]) -> None:
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_every_subscribed_event_has_a_handler(live: Harness) -> None:
    for event in SUBSCRIBED:
        # "message.channels" and "message.groups" arrive as events of type "message"
        kind = event.split(".")[0]
        response = live.client.event({"type": kind, "user": "U1", "tab": "about", "channel": "C1"})
        assert response.status_code == 200, event


def test_every_action_and_callback_id_has_a_handler(
    live: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    actions = [
        ids.CLOSE,
        ids.REOPEN,
        ids.PRIORITY_SELECT,
        ids.TAGS_SELECT,
        ids.LIST_PAGE_PREVIOUS,
        ids.LIST_PAGE_NEXT,
        ids.LOOKUP_RETRY,
        ids.DRAFT_RESTORE,
        ids.CATEGORY_INPUT,
        ids.PRIORITY_INPUT,
        ids.ATTACHMENT_INPUT,
    ]
    for action_id in actions:
        # malformed on purpose: the listener may fail after its ack; the route must exist
        value = (
            '{"status": null, "offset": 0}'
            if action_id in (ids.LIST_PAGE_PREVIOUS, ids.LIST_PAGE_NEXT)
            else "x"
        )
        response = live.client.block_action(
            {"type": "button", "action_id": action_id, "block_id": "b", "value": value}
        )
        assert response.status_code == 200, action_id
    for callback_id in (ids.NEW_TICKET_VIEW, ids.LOADING_VIEW, ids.RESULT_VIEW):
        closed = live.client.view_closed({"id": "V1", "callback_id": callback_id, "blocks": []})
        assert closed.status_code == 200, callback_id
    # an unhandled request is a 200 too (Slack would retry a 404), said in the log
    assert UNHANDLED not in caplog.text
    unhandled = live.client.block_action({"type": "button", "action_id": "nobody", "value": "x"})
    assert unhandled.status_code == 200
    assert UNHANDLED in caplog.text
    suggestion = live.client.block_suggestion(ids.CATEGORY_INPUT, ids.CATEGORY_BLOCK, "soft")
    assert [o["value"] for o in suggestion.json()["options"]] == ["2"]
