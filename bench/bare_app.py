"""The baseline for bench/ack_latency.py: a bare Bolt app with Bolt's defaults.

Its `/ticket` listener acks and, for `/ticket new`, opens a static modal right after
the ack with `client.views_open`, on the thread Bolt ran the listener on: with Bolt's
default `process_before_response=False` that is a thread of Bolt's own
`listener_executor`, and the request's thread answers Slack as soon as `ack()` was
called. So what it measures is what Bolt itself costs, for the ack and for the modal
a person waits for. Served by gunicorn exactly like ticket-bot (gthread worker);
settings come from the same variables: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and
SLACK_API_URL.

    gunicorn --pythonpath bench --worker-class gthread --workers 1 --threads 16 bare_app:application
"""

from __future__ import annotations

import os
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

_TOKEN = os.environ["SLACK_BOT_TOKEN"]

#: a modal as small as a form can be: what Slack needs to show something
STATIC_MODAL = {
    "type": "modal",
    "callback_id": "bare_modal",
    "title": {"type": "plain_text", "text": "New ticket"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "A static modal."}}],
}

bolt = App(
    client=WebClient(
        token=_TOKEN, base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/")
    ),
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    token_verification_enabled=False,
)


@bolt.command("/ticket")
def ticket(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
    ack()
    if (command.get("text") or "").strip().startswith("new"):
        client.views_open(trigger_id=command["trigger_id"], view=STATIC_MODAL)


#: the WSGI callable gunicorn serves (POST /slack/events)
application = SlackRequestHandler(bolt)
