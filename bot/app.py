"""Builds the Bolt app from the settings, the gateway and the store."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from bot import listeners
from bot.config import Settings
from bot.desk import Desk
from bot.gateway import TicketGateway
from bot.slack_client import build_client
from bot.store import Store


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
