"""Builds the Bolt app from the settings, the gateway and the store."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient

from bot.desk import Desk
from bot.gateway import TicketGateway
from bot.runtime.settings import Settings
from bot.slack import listeners
from bot.slack.client import build_client
from bot.store import Store


class _ClientGivenOnPurpose(logging.Filter):
    """Bolt warns "`token` will be unused" whenever SLACK_BOT_TOKEN is in the environment
    and `client=` is given; our client is built from that very token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_client_given_on_purpose = _ClientGivenOnPurpose()


def build_app(
    settings: Settings,
    gateway: TicketGateway,
    store: Store,
    client: WebClient | None = None,
) -> App:
    client = client or build_client(
        settings.SLACK_BOT_TOKEN.get_secret_value(), settings.SLACK_API_URL
    )
    secret = settings.SLACK_SIGNING_SECRET
    logging.getLogger("slack_bolt.App").addFilter(_client_given_on_purpose)
    app = App(
        client=client,
        signing_secret=secret.get_secret_value() if secret else "",
        token_verification_enabled=False,
        # listeners ack and hand everything else to after_ack, so running them on
        # the request's thread answers Slack without Bolt's 10 ms ack polling
        process_before_response=True,
    )
    desk = Desk(gateway, store, client, ticket_channel=settings.TICKET_CHANNEL)
    listeners.register(app, desk)
    return app
