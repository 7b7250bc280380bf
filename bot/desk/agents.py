"""The agents' channel (TICKET_AGENT_CHANNEL): where each new ticket is announced, and
whose announcement thread holds the ticket's internal notes.

- Announced: once the create (or intake) job has made a ticket and posted its card, an
  `AnnounceJob` goes to the outbox (`ticket_created`); the worker posts the announcement
  with a link to the card (`announce`), retried like any job while Slack fails, and
  links its thread to the ticket apart from the requester's thread
  (`store.link_agents_thread`), so nothing takes one for the other.
- The helpdesk's internal notes are posted in that thread only (bot/sync/poller.py).
- Replies in that thread become internal notes where the helpdesk has them, else one
  note there says it has none (bot/sync/replies.py); never public conversations.

Who may: the channel's members. Anyone who can reply in the agents' channel writes
internal notes, and reads them: it is meant to be a private channel of agents.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk.threads import raise_if_transient
from bot.gateway import Ticket, TicketGateway
from bot.slack.render import render
from bot.store import Store, ThreadRef
from bot.sync.outbox import AnnounceJob, Outbox

log = logging.getLogger(__name__)


class NotAnnounced(Exception):
    """Slack did not take the announcement for now: the job is retried."""


@dataclass
class AgentChannel:
    gateway: TicketGateway
    store: Store
    slack: WebClient
    #: TICKET_AGENT_CHANNEL; None: no announcements, and internal notes stay in the helpdesk
    channel: str | None = None

    def ticket_created(self, key: str) -> None:
        """A create or intake job (`key`: its modal's view id, or its message) finished,
        perhaps once more after a retry: the ticket it made, if any, is to be announced.
        A second job for one ticket finds it announced and does nothing."""
        created = self.store.created_ticket(key)
        if self.channel is None or created is None:
            return
        ticket = Ticket.model_validate_json(created)
        Outbox(self.store).put(AnnounceJob(ticket_id=ticket.id, subject=ticket.subject))

    def announce(self, job: AnnounceJob) -> None:
        """In the worker: post the announcement once and link its thread to the ticket;
        `NotAnnounced` when Slack may take it later."""
        if self.channel is None or self.store.agents_thread_for_ticket(job.ticket_id):
            return
        message = render(
            "agent_announcement.json.j2",
            ticket_id=job.ticket_id,
            subject=job.subject,
            requester=self.store.requester_of(job.ticket_id),
            link=self._card_link(job.ticket_id),
            internal_notes=self.gateway.capabilities.internal_notes,
        )
        try:
            posted = self.slack.chat_postMessage(channel=self.channel, **message)
        except SlackApiError as exc:
            raise_if_transient(exc, NotAnnounced)
            log.warning(
                "ticket %s was not announced in TICKET_AGENT_CHANNEL %s: Slack answered %s",
                job.ticket_id,
                self.channel,
                exc.response.get("error"),
            )
            return
        except OSError as exc:  # Slack unreachable, after the client's own retries
            raise NotAnnounced(f"Slack could not be reached ({type(exc).__name__})") from exc
        self.store.link_agents_thread(job.ticket_id, ThreadRef(posted["channel"], posted["ts"]))

    def ticket_of(self, thread: ThreadRef) -> str | None:
        """The ticket whose announcement starts `thread`: only in the agents' channel,
        whose members are who may write internal notes."""
        if self.channel is None or thread.channel != self.channel:
            return None
        return self.store.ticket_for_agents_thread(thread)

    def _card_link(self, ticket_id: str) -> str | None:
        """The card's permalink; None when the ticket has no card (nowhere to post it)."""
        card = self.store.card_for_ticket(ticket_id)
        if card is None:
            return None
        try:
            answer = self.slack.chat_getPermalink(channel=card.channel, message_ts=card.ts)
        except SlackApiError as exc:
            raise_if_transient(exc, NotAnnounced)
            return None
        except OSError as exc:
            raise NotAnnounced(f"Slack could not be reached ({type(exc).__name__})") from exc
        return str(answer.get("permalink") or "") or None
