"""Reference data behind the dropdowns and cards, cached in the store.

Helpdesk lists (categories, priorities, tags) and Slack profiles are read
through the cache with stale-while-revalidate, so a warm modal never waits.
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.gateway import Category, Priority, Requester, Tag, TicketGateway
from bot.store import Store

LIST_TTL = 300  # seconds a helpdesk list is fresh
LIST_STALE = 7 * 24 * 3600  # and how long a stale one may still be shown
USER_TTL = 3600
USER_STALE = 7 * 24 * 3600


class Lookups:
    def __init__(self, gateway: TicketGateway, store: Store, slack: WebClient) -> None:
        self.gateway = gateway
        self.store = store
        self.slack = slack

    def _lists_needed(self) -> list[str]:
        caps = self.gateway.capabilities
        return [
            name
            for name, wanted in (("categories", caps.categories), ("priorities", caps.priorities))
            if wanted
        ]

    def warm(self) -> bool:
        """True when every list the new-ticket form needs is cached (fresh or stale)."""
        return all(self.store.peek(name) is not None for name in self._lists_needed())

    def categories(self) -> list[Category]:
        if not self.gateway.capabilities.categories:
            return []
        raw = self.store.cached(
            "categories",
            lambda: [c.model_dump() for c in self.gateway.list_categories()],
            ttl=LIST_TTL,
            stale_ttl=LIST_STALE,
        )
        return [Category.model_validate(c) for c in raw]

    def category_name(self, category_id: str | None) -> str | None:
        if category_id is None:
            return None
        return next((c.name for c in self.categories() if c.id == category_id), None)

    def priorities(self) -> list[Priority]:
        if not self.gateway.capabilities.priorities:
            return []
        raw = self.store.cached(
            "priorities",
            lambda: [p.value for p in self.gateway.list_priorities()],
            ttl=LIST_TTL,
            stale_ttl=LIST_STALE,
        )
        return [Priority(p) for p in raw]

    def tags(self) -> list[Tag]:
        if not self.gateway.capabilities.tags:
            return []
        raw = self.store.cached(
            "tags",
            lambda: [t.model_dump() for t in self.gateway.list_tags()],
            ttl=LIST_TTL,
            stale_ttl=LIST_STALE,
        )
        return [Tag.model_validate(t) for t in raw]

    def person(self, user_id: str) -> Requester:
        """Who a Slack user is; their id alone when Slack will not say."""
        try:
            raw = self.store.cached(
                f"user:{user_id}",
                lambda: self._fetch_person(user_id),
                ttl=USER_TTL,
                stale_ttl=USER_STALE,
            )
        except SlackApiError:
            return Requester(name=user_id, slack_user_id=user_id)
        return Requester.model_validate(raw)

    def _fetch_person(self, user_id: str) -> dict[str, str | None]:
        user = self.slack.users_info(user=user_id)["user"]
        profile = user.get("profile", {})
        name = profile.get("real_name") or user.get("real_name") or user.get("name") or user_id
        return {"name": name, "email": profile.get("email"), "slack_user_id": user_id}
