"""Builds the Bolt app around the desk services (bot/runtime/wiring.py supplies them)."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient

from bot.desk import Desk
from bot.desk.deferred import Defer
from bot.slack import listeners
from bot.slack.errors import answer_failures
from bot.slack.listeners.events import MessageSink
from bot.store import StoreOutage


class _ClientGivenOnPurpose(logging.Filter):
    """Bolt warns "`token` will be unused" whenever SLACK_BOT_TOKEN is in the environment
    and `client=` is given; our client is built from that very token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_client_given_on_purpose = _ClientGivenOnPurpose()


def build_app(
    client: WebClient,
    signing_secret: str,
    desk: Desk,
    replies: MessageSink,
    after_ack: Defer,
    outage: StoreOutage,
) -> App:
    """The Bolt app: every Slack surface registered, requests verified with `signing_secret`."""
    logging.getLogger("slack_bolt.App").addFilter(_client_given_on_purpose)
    app = App(
        client=client,
        signing_secret=signing_secret,
        token_verification_enabled=False,
        # bot/runtime/web.py verifies every HTTP request's signature before Bolt sees it
        # (one check, in one place); Socket Mode's requests carry none
        request_verification_enabled=False,
        # listeners ack and hand everything else to after_ack, so running them on
        # the request's thread answers Slack without Bolt's 10 ms ack polling
        process_before_response=True,
        # a signed request no listener takes is answered by answer_failures: a 200, one
        # log line (Bolt's 404 would make Slack retry it)
        raise_error_for_unhandled_request=True,
    )
    answer_failures(app, outage)
    listeners.register(app, desk, replies, after_ack)
    return app
