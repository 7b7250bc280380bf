"""Who may see a ticket and act on it: the one place that decides.

- The **requester** (the Slack user a ticket was created for) and the **agents**
  (`TICKET_AGENTS`: user ids, and user groups whose members Slack lists with
  `usergroups.users.list`) may act: a card's buttons and selects.
- They, and the **members of the channel the card is in** (`conversations.members`),
  may see: `/ticket show`.
- Only agents may list every ticket of the helpdesk account (`/ticket list all`).

Group and channel memberships are read through the store's cache (fresh for
`MEMBERS_TTL` seconds, then refreshed in the background), so a change in Slack
takes effect within minutes. When Slack cannot say (an error, a missing scope),
nobody is a member: the answer is "no", never "yes", and the log says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.store import JsonValue, Store

log = logging.getLogger(__name__)

MEMBERS_TTL = 120
MEMBERS_STALE = 3600
MEMBERS_PAGE = 200


class Access:
    def __init__(self, store: Store, slack: WebClient, agents: Iterable[str] = ()) -> None:
        self.store = store
        self.slack = slack
        agents = list(agents)
        self.agent_users = frozenset(a for a in agents if not a.startswith("S"))
        self.agent_groups = tuple(a for a in agents if a.startswith("S"))

    def is_agent(self, user_id: str) -> bool:
        if user_id in self.agent_users:
            return True
        return any(user_id in self._group_members(group) for group in self.agent_groups)

    def is_requester(self, user_id: str, ticket_id: str) -> bool:
        return self.store.requester_id_of(ticket_id) == user_id

    def may_act(self, user_id: str, ticket_id: str) -> bool:
        """The card's buttons and selects: the requester and agents."""
        return self.is_requester(user_id, ticket_id) or self.is_agent(user_id)

    def may_see(self, user_id: str, ticket_id: str) -> bool:
        """`/ticket show`: the requester, agents, and members of the card's channel."""
        if self.may_act(user_id, ticket_id):
            return True
        thread = self.store.thread_for_ticket(ticket_id)
        return thread is not None and user_id in self._channel_members(thread.channel)

    # --- memberships, cached ----------------------------------------------------

    def _group_members(self, group: str) -> frozenset[str]:
        def load() -> JsonValue:
            return list(self.slack.usergroups_users_list(usergroup=group)["users"])

        return self._members(f"usergroup:{group}", load, f"user group {group} (TICKET_AGENTS)")

    def _channel_members(self, channel: str) -> frozenset[str]:
        def load() -> JsonValue:
            members: list[str] = []
            cursor = None
            while True:
                page = self.slack.conversations_members(
                    channel=channel, limit=MEMBERS_PAGE, cursor=cursor
                )
                members.extend(page["members"])
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return members

        return self._members(f"members:{channel}", load, f"channel {channel}")

    def _members(self, name: str, load: Callable[[], JsonValue], what: str) -> frozenset[str]:
        """A cached membership list; empty (and not cached) when Slack would not say."""
        try:
            members = self.store.cached(name, load, ttl=MEMBERS_TTL, stale_ttl=MEMBERS_STALE)
        except (SlackApiError, OSError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else exc
            log.warning("Slack did not list the members of %s (%s): counted as none", what, error)
            return frozenset()
        return frozenset(members or ())
