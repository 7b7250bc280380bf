"""Direct messages to the requester on a real django-helpdesk (its webhooks drive the
sync): an internal note sends none and is never quoted; an agent's public reply sends one."""

from __future__ import annotations

from typing import Any

from tests.support.flows import texts
from tests.support.harness import Harness
from tests.support.outbound import wait_until
from tests.support.server_django_helpdesk import create_through_slack


def to_ada(live: Harness) -> list[Any]:
    return [c.args for c in live.slack.calls_to("chat.postMessage") if c.args["channel"] == "U1"]


def test_an_internal_note_sends_no_direct_message_a_public_reply_does(
    django_helpdesk_bot: Harness,
) -> None:
    live = django_helpdesk_bot
    agent = live.helpdesk.agent
    _, ticket_id, _ = create_through_slack(live, "VPN is down")

    agent.followup(ticket_id, "Internal: the concentrator is flapping", public=False)
    agent.followup(ticket_id, "Try the other profile", public=True)

    # the ticket's sync jobs and its direct messages share one outbox lane, in order
    wait_until(lambda: to_ada(live), what="a direct message to the requester")
    (dm,) = to_ada(live)
    assert "Try the other profile" in texts(dm) and "concentrator" not in texts(dm)
    assert f"Ticket #{ticket_id}" in texts(dm) and "Cannot connect" not in texts(dm)
