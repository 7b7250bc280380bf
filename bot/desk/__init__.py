"""The use-cases: what happens when someone asks the bot for something.

One service per group — the modal (modal.py), creating tickets (create.py), the
card and its buttons (cards.py), looking tickets up (queries.py), who may see
and do what (access.py), tickets made of messages (intake.py, shortcut.py) and
their threads (threads.py), the agents' channel (agents.py) — each given
its dependencies when it is built. Listeners parse Slack payloads and call one
of them; the gateway does the helpdesk work; templates give everything its look;
errors become plain sentences (explain.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from slack_sdk import WebClient

from bot.desk.access import Access
from bot.desk.agents import AgentChannel
from bot.desk.cards import Cards
from bot.desk.create import Creation
from bot.desk.deferred import Defer
from bot.desk.intake import Intake
from bot.desk.lookups import Lookups
from bot.desk.modal import NewTicketModal
from bot.desk.news import DEFAULT_WINDOW, RequesterNews
from bot.desk.queries import Queries
from bot.desk.shortcut import MessageShortcut
from bot.desk.threads import Threads
from bot.gateway import Capabilities, TicketGateway
from bot.store import Store


@dataclass(frozen=True)
class Desk:
    """The services, built once per process and handed to the listeners and the worker."""

    gateway: TicketGateway
    lookups: Lookups
    modal: NewTicketModal
    creation: Creation
    cards: Cards
    queries: Queries
    access: Access
    intake: Intake
    shortcut: MessageShortcut
    agents: AgentChannel
    threads: Threads

    @property
    def capabilities(self) -> Capabilities:
        """What the helpdesk can do: the listeners offer only that."""
        return self.gateway.capabilities


def build_desk(
    gateway: TicketGateway,
    store: Store,
    slack: WebClient,
    after_ack: Defer,
    *,
    ticket_channel: str | None = None,
    agents: Iterable[str] = (),
    reaction: str = "",
    intake_channels: Iterable[str] = (),
    dm_window: float = DEFAULT_WINDOW,
    agent_channel: str | None = None,
) -> Desk:
    """`agents`: TICKET_AGENTS, Slack user and user group ids; `reaction`: TICKET_REACTION;
    `intake_channels`: TICKET_INTAKE_CHANNELS; `dm_window`: TICKET_DM_WINDOW;
    `agent_channel`: TICKET_AGENT_CHANNEL."""
    lookups = Lookups(gateway, store, slack)
    access = Access(store, slack, agents)
    modal = NewTicketModal(gateway, store, slack, lookups, after_ack)
    cards = Cards(gateway, store, slack, lookups, access, RequesterNews(store, dm_window))
    threads = Threads(gateway, store, slack)
    creation = Creation(
        gateway, store, slack, lookups, modal, cards, threads, ticket_channel=ticket_channel
    )
    queries = Queries(gateway, store, slack, lookups, access)
    intake = Intake(
        gateway,
        store,
        slack,
        lookups,
        cards,
        threads,
        reaction=reaction,
        channels=frozenset(intake_channels),
    )
    shortcut = MessageShortcut(gateway, store, slack, lookups, modal, threads)
    agent_channel_service = AgentChannel(gateway, store, slack, agent_channel)
    return Desk(
        gateway,
        lookups,
        modal,
        creation,
        cards,
        queries,
        access,
        intake,
        shortcut,
        agent_channel_service,
        threads,
    )
