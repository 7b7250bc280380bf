"""app-manifest.yml and the code agree both ways, and the manifest is valid for Slack.

The ids come from bot/slack/ids.py and from what the listeners register with Bolt, so an
id added there is checked here without editing this file."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import jsonschema
import pytest
import yaml
from slack_bolt import App
from slack_sdk import WebClient

from bot.runtime.executors import Executors
from bot.slack import ids, listeners
from bot.slack.client import SCOPES_USED
from bot.slack.listeners.commands import COMMAND
from bot.slack.listeners.events import SUBSCRIBED
from bot.sync.replies import Replies
from tests.support.flows import make_desk
from tests.support.harness import Harness

UNHANDLED = "no listener takes this signed request"
ROOT = Path(__file__).resolve().parents[2]
#: Slack's published app-manifest schema, vendored with its licence
SCHEMA = ROOT / "tests" / "support" / "slack" / "manifest.schema.1.0.0.json"

#: every id in bot/slack/ids.py, by its name there
IDS = {name: value for name, value in vars(ids).items() if name.isupper()}
VIEW_IDS = {value for name, value in IDS.items() if name.endswith("_VIEW")}
BLOCK_IDS = {value for name, value in IDS.items() if name.endswith(("_BLOCK", "_PREFIX"))}
SHORTCUT_IDS = {value for name, value in IDS.items() if name.endswith("_SHORTCUT")}
ACTION_IDS = set(IDS.values()) - VIEW_IDS - BLOCK_IDS - SHORTCUT_IDS
#: text inputs: the submission reads them, and Slack sends no block action for them
READ_ON_SUBMIT = {ids.SUBJECT_INPUT, ids.DESCRIPTION_INPUT}


class Registrations:
    """Bolt's App as the listeners see it, noting what each of them registers."""

    def __init__(self) -> None:
        self.app = App(
            signing_secret="unused",
            client=WebClient(token="xoxb-unused"),
            token_verification_enabled=False,
        )
        #: Bolt method (action, view_closed, command, ...) -> the constraints given to it
        self.by_kind: dict[str, list[object]] = defaultdict(list)

    def __getattr__(self, kind: str) -> Callable[..., Any]:
        register = getattr(self.app, kind)

        def noting(constraint: object, *args: Any, **kwargs: Any) -> Any:
            self.by_kind[kind].append(constraint)
            return register(constraint, *args, **kwargs)

        return noting

    def ids(self, *kinds: str) -> list[str]:
        found = [c for kind in kinds for c in self.by_kind[kind]]
        assert all(isinstance(c, str) for c in found), f"{kinds}: match ids, not patterns"
        return cast(list[str], found)


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "app-manifest.yml").read_text()))


@pytest.fixture()
def registered(live: Harness) -> Registrations:
    """The registrations as bot/runtime/wiring.py's build_slack_app makes them."""
    recorder, after_ack, desk = Registrations(), Executors.create().defer, make_desk(live)
    replies = Replies(live.store, live.gateway, desk.cards.note, after_ack)
    listeners.register(cast(App, recorder), desk, replies, after_ack)
    return recorder


def test_manifest_is_valid_against_slacks_schema(manifest: dict[str, Any]) -> None:
    jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))


def test_commands_match(manifest: dict[str, Any], registered: Registrations) -> None:
    in_manifest = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert in_manifest == registered.ids("command") == [COMMAND]


def test_shortcuts_match(manifest: dict[str, Any], registered: Registrations) -> None:
    shortcuts = manifest["features"]["shortcuts"]
    assert {s["type"] for s in shortcuts} == {"message"}
    in_manifest = {s["callback_id"] for s in shortcuts}
    assert in_manifest == set(registered.ids("message_shortcut")) == SHORTCUT_IDS
    assert registered.ids("shortcut", "global_shortcut") == []


def test_scopes_match_what_the_code_uses(manifest: dict[str, Any]) -> None:
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(SCOPES_USED)


def test_events_match(manifest: dict[str, Any], registered: Registrations) -> None:
    subscribed = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert set(subscribed) == set(SUBSCRIBED)
    # "message.channels" and "message.groups" arrive as events of type "message"
    assert {event.split(".")[0] for event in subscribed} == set(registered.ids("event"))


def test_interactivity_and_socket_mode_are_on(
    manifest: dict[str, Any], registered: Registrations
) -> None:
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert bool(registered.ids("options")) == ("message_menu_options_url" in interactivity)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_every_id_in_the_ids_module_has_a_listener(registered: Registrations) -> None:
    assert READ_ON_SUBMIT <= ACTION_IDS
    unheard = ACTION_IDS - READ_ON_SUBMIT - set(registered.ids("action"))
    assert unheard == set(), "ids.py ids no listener answers; in READ_ON_SUBMIT if on purpose"
    assert set(registered.ids("view_closed")) == VIEW_IDS
    assert set(registered.ids("view_submission")) <= VIEW_IDS


def test_every_listener_answers_an_id_of_the_ids_module(registered: Registrations) -> None:
    strays = set(registered.ids("action", "options")) - ACTION_IDS
    assert strays == set(), "give these ids a name in bot/slack/ids.py"


def test_every_subscribed_event_has_a_handler(live: Harness) -> None:
    for event in SUBSCRIBED:
        kind = event.split(".")[0]
        response = live.client.event({"type": kind, "user": "U1", "tab": "about", "channel": "C1"})
        assert response.status_code == 200, event


def test_every_registered_action_and_callback_id_is_routed(
    live: Harness, registered: Registrations, caplog: pytest.LogCaptureFixture
) -> None:
    for action_id in registered.ids("action"):
        # malformed on purpose: the listener may fail after its ack; the route must exist
        paging = action_id in (ids.LIST_PAGE_PREVIOUS, ids.LIST_PAGE_NEXT)
        value = '{"status": null, "offset": 0}' if paging else "x"
        response = live.client.block_action(
            {"type": "button", "action_id": action_id, "block_id": "b", "value": value}
        )
        assert response.status_code == 200, action_id
    for callback_id in registered.ids("message_shortcut"):
        shortcut = live.client.message_shortcut(callback_id, {"ts": "1.000001", "text": "x"})
        assert shortcut.status_code == 200, callback_id
    for callback_id in registered.ids("view_closed"):
        closed = live.client.view_closed({"id": "V1", "callback_id": callback_id, "blocks": []})
        assert closed.status_code == 200, callback_id
    # an unhandled request is a 200 too (Slack would retry a 404), said in the log
    assert UNHANDLED not in caplog.text
    unhandled = live.client.block_action({"type": "button", "action_id": "nobody", "value": "x"})
    assert unhandled.status_code == 200
    assert UNHANDLED in caplog.text
    suggestion = live.client.block_suggestion(ids.CATEGORY_INPUT, ids.CATEGORY_BLOCK, "soft")
    assert [o["value"] for o in suggestion.json()["options"]] == ["2"]
