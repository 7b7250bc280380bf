"""`/ticket new|list|show|help`: ack at once, the slow part after the ack."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.desk import Desk
from bot.desk.deferred import Defer
from bot.slack.forms import ModalContext
from bot.slack.render import render, unescape_slack

COMMAND = "/ticket"
#: a ticket id as any helpdesk writes it: digits (Epixel) or a code such as TICKET-12345
TICKET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def register(app: App, desk: Desk, after_ack: Defer) -> None:
    @app.command(COMMAND)
    def ticket(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        words = unescape_slack(command.get("text") or "").strip()
        sub, _, rest = words.partition(" ")
        sub, rest = sub.lower(), rest.strip()
        if sub == "new":
            trigger_id = str(command["trigger_id"])  # parsed before the ack (slack/errors.py)
            context = ModalContext(
                channel=command.get("channel_id"), response_url=command.get("response_url")
            )
            ack()
            # the ack goes out once a modal thread has started the modal: a burst of
            # commands cannot queue modals faster than they open (bot/runtime/executors.py)
            after_ack(lambda: desk.modal.open(trigger_id, rest, context, respond), urgent=True)
        elif sub in ("list", "show") and not _can(desk, sub):
            ack(
                **_notice(f"`/ticket {sub}` is not available with this helpdesk."),
                response_type="ephemeral",
            )
        elif sub == "list":
            list_tickets(ack, command["user_id"], rest, desk, respond, after_ack)
        elif sub == "show":
            show_ticket(ack, command["user_id"], rest, desk, respond, after_ack)
        elif sub in ("help", ""):
            ack(**desk.queries.help(), response_type="ephemeral")
        else:
            ack(**desk.queries.help(unknown=words), response_type="ephemeral")


def _can(desk: Desk, sub: str) -> bool:
    caps = desk.capabilities
    return caps.ticket_list if sub == "list" else caps.ticket_detail


def list_tickets(
    ack: Ack, user_id: str, rest: str, desk: Desk, respond: Respond, after_ack: Defer
) -> None:
    """`/ticket list [STATUS] [all]`: the caller's tickets, or (`all`, agents) every one."""
    status, everyone = _without_all(rest)
    if status and desk.queries.status_filter(status) is None:
        words = ", ".join(desk.queries.status_words())
        ack(
            **_notice(
                f"`{status}` is not a status. Use `/ticket list`, or add one "
                f"of: {words}; `all` lists every ticket (agents)."
            ),
            response_type="ephemeral",
        )
        return
    ack(**_notice(":mag: Looking up tickets…"), response_type="ephemeral")
    after_ack(
        lambda: desk.queries.list_tickets(
            user_id, status or None, 0, respond, everyone=everyone, replace=True
        )
    )


def _without_all(rest: str) -> tuple[str, bool]:
    """The status words of `/ticket list`, and whether `all` came with them."""
    words = rest.split()
    everyone = any(w.lower() == "all" for w in words)
    return " ".join(w for w in words if w.lower() != "all"), everyone


def show_ticket(
    ack: Ack, user_id: str, rest: str, desk: Desk, respond: Respond, after_ack: Defer
) -> None:
    ticket_id = rest.lstrip("#")
    if not TICKET_ID.fullmatch(ticket_id):
        ack(
            **_notice("Which ticket? Use `/ticket show <id>`, for example `/ticket show 42`."),
            response_type="ephemeral",
        )
        return
    ack(**_notice(f":mag: Looking up ticket #{ticket_id}…"), response_type="ephemeral")
    after_ack(lambda: desk.queries.show_ticket(user_id, ticket_id, respond))


def _notice(text: str) -> Any:
    return render("notice.json.j2", text=text, details=None)
