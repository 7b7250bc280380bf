"""The baseline for bench/ack_latency.py: a bare Bolt app that only acks `/ticket`.

Served by gunicorn exactly like ticket-bot (gthread worker), so the difference in ack
latency is what the bot adds on top of Bolt. Settings come from the same variables:
SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and SLACK_API_URL.

    gunicorn --pythonpath bench --worker-class gthread --workers 1 --threads 16 bare_app:application
"""

from __future__ import annotations

import os

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

_TOKEN = os.environ["SLACK_BOT_TOKEN"]

bolt = App(
    client=WebClient(
        token=_TOKEN, base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/")
    ),
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    token_verification_enabled=False,
)


@bolt.command("/ticket")
def ticket(ack: Ack) -> None:
    ack()


#: the WSGI callable gunicorn serves (POST /slack/events)
application = SlackRequestHandler(bolt)
