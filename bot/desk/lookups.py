"""Reference data behind the dropdowns and cards, cached in the store.

Helpdesk lists (categories, priorities, tags) and Slack profiles are read
through the cache with stale-while-revalidate, so a warm modal never waits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.gateway import Category, PriorityLevel, Requester, Tag, TicketGateway
from bot.store import JsonValue, Store

LIST_TTL = 300  # seconds a helpdesk list is fresh
LIST_STALE = 7 * 24 * 3600  # and how long a stale one may still be shown
USER_TTL = 3600
USER_STALE = 7 * 24 * 3600
#: the cached priority list (id and label each; earlier versions cached bare words as
#: "priorities", which this name leaves alone)
PRIORITIES = "priority-levels"


class FormLists(NamedTuple):
    categories: list[Category]
    priorities: list[PriorityLevel]


class Lookups:
    def __init__(self, gateway: TicketGateway, store: Store, slack: WebClient) -> None:
        self.gateway = gateway
        self.store = store
        self.slack = slack
        #: the form's lists last read from the cache, and what they were read from: while
        #: the cache holds the same values, the same FormLists (so the form rendered from
        #: it can be reused, see NewTicketModal)
        self._last_form_lists: tuple[list[JsonValue], FormLists] | None = None

    def form_lists(self, *, cached_only: bool = False) -> FormLists | None:
        """What the new-ticket form offers; None when `cached_only` and not all cached."""
        if cached_only:
            return self._cached_form_lists()
        return FormLists(self.categories(), self.priorities())

    def _cached_form_lists(self) -> FormLists | None:
        """The form's lists from the cache alone, in one round trip to Redis: this is on
        the way to the modal a person waits for."""
        caps = self.gateway.capabilities
        loaders: dict[str, Callable[[], JsonValue]] = {}
        if caps.categories:
            loaders["categories"] = self._load_categories
        if caps.priorities:
            loaders[PRIORITIES] = self._load_priorities
        values = self.store.cached_only(loaders, ttl=LIST_TTL, stale_ttl=LIST_STALE)
        if values is None:
            return None
        last = self._last_form_lists
        if last is not None and last[0] == values:
            return last[1]
        found = dict(zip(loaders, values, strict=True))
        lists = FormLists(
            [Category.model_validate(c) for c in found.get("categories", [])],
            [PriorityLevel.model_validate(p) for p in found.get(PRIORITIES, [])],
        )
        self._last_form_lists = (values, lists)
        return lists

    def categories(self) -> list[Category]:
        if not self.gateway.capabilities.categories:
            return []
        raw = self._list("categories", self._load_categories, cached_only=False)
        return [Category.model_validate(c) for c in raw]

    def priorities(self) -> list[PriorityLevel]:
        if not self.gateway.capabilities.priorities:
            return []
        raw = self._list(PRIORITIES, self._load_priorities, False)
        return [PriorityLevel.model_validate(p) for p in raw]

    def priority(self, priority_id: str) -> PriorityLevel | None:
        """The helpdesk's priority with this id (a card's select value), if it has one."""
        return next((p for p in self.priorities() if p.id == priority_id), None)

    def category_name(self, category_id: str | None) -> str | None:
        if category_id is None:
            return None
        return next((c.name for c in self.categories() if c.id == category_id), None)

    def _list(self, name: str, loader: Callable[[], JsonValue], cached_only: bool) -> Any:
        return self.store.cached(
            name, loader, ttl=LIST_TTL, stale_ttl=LIST_STALE, load_if_missing=not cached_only
        )

    def _load_categories(self) -> JsonValue:
        return [c.model_dump() for c in self.gateway.list_categories()]

    def _load_priorities(self) -> JsonValue:
        return [p.model_dump() for p in self.gateway.list_priorities()]

    def tags(self) -> list[Tag]:
        if not self.gateway.capabilities.tags:
            return []
        raw = self._list("tags", lambda: [t.model_dump() for t in self.gateway.list_tags()], False)
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

    def known_name(self, user_id: str) -> str | None:
        """A Slack user's name if the cache has it, without asking Slack."""
        raw = self.store.peek(f"user:{user_id}")
        return None if raw is None else Requester.model_validate(raw).name

    def _fetch_person(self, user_id: str) -> dict[str, str | None]:
        user = self.slack.users_info(user=user_id)["user"]
        profile = user.get("profile", {})
        name = profile.get("real_name") or user.get("real_name") or user.get("name") or user_id
        return {"name": name, "email": profile.get("email"), "slack_user_id": user_id}
