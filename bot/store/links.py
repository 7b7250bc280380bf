"""Thread ↔ ticket links, requesters, drafts, and fingerprints of what the bot wrote."""

from __future__ import annotations

import hashlib
import json
import time

from bot.store.base import StoreBase, ThreadRef


class Links(StoreBase):
    def link_thread(
        self,
        ticket_id: str,
        thread: ThreadRef,
        card: ThreadRef | None = None,
        *,
        then: dict[str, str] | None = None,
    ) -> None:
        """`card`: where the card is when it is a reply in `thread` rather than its root;
        a click on it finds the ticket as a reply in the thread does. `then`: an outbox
        entry written in the same transaction, ahead of any a reply there may write."""
        pipe = self.redis.pipeline()
        if then is not None:
            pipe.xadd(self.keys.outbox(), then)  # type: ignore[arg-type]
        pipe.set(self.keys.thread_link(thread.channel, thread.ts), ticket_id)
        if card is not None and card != thread:
            pipe.set(self.keys.thread_link(card.channel, card.ts), ticket_id)
            pipe.set(self.keys.card_link(ticket_id), json.dumps(list(card)))
        pipe.set(self.keys.ticket_link(ticket_id), json.dumps(list(thread)))
        pipe.sadd(self.keys.linked(), ticket_id)
        pipe.execute()

    def ticket_for_thread(self, thread: ThreadRef) -> str | None:
        value = self.redis.get(self.keys.thread_link(thread.channel, thread.ts))
        return None if value is None else str(value)

    def thread_for_ticket(self, ticket_id: str) -> ThreadRef | None:
        raw = self.redis.get(self.keys.ticket_link(ticket_id))
        return None if raw is None else ThreadRef(*json.loads(raw))

    def card_for_ticket(self, ticket_id: str) -> ThreadRef | None:
        """The card's message: the thread's root unless it was posted inside the thread."""
        raw = self.redis.get(self.keys.card_link(ticket_id))
        return ThreadRef(*json.loads(raw)) if raw is not None else self.thread_for_ticket(ticket_id)

    # --- the agents' channel: a ticket's announcement, whose thread holds its internal
    # notes; kept apart from the links above, so it is never taken for the ticket's thread

    def link_agents_thread(self, ticket_id: str, announcement: ThreadRef) -> None:
        pipe = self.redis.pipeline()
        pipe.set(self.keys.agents_thread_link(*announcement), ticket_id)
        pipe.set(self.keys.agents_link(ticket_id), json.dumps(list(announcement)))
        pipe.execute()

    def ticket_for_agents_thread(self, thread: ThreadRef) -> str | None:
        value = self.redis.get(self.keys.agents_thread_link(thread.channel, thread.ts))
        return None if value is None else str(value)

    def agents_thread_for_ticket(self, ticket_id: str) -> ThreadRef | None:
        raw = self.redis.get(self.keys.agents_link(ticket_id))
        return None if raw is None else ThreadRef(*json.loads(raw))

    def linked_tickets(self) -> set[str]:
        return {str(member) for member in self.redis.smembers(self.keys.linked())}

    def remember_requester(self, ticket_id: str, name: str, user_id: str | None = None) -> None:
        """Who a ticket was created for: the name its card shows and, when known, the
        Slack user id that access (bot/desk/access.py) and `/ticket list` go by."""
        pipe = self.redis.pipeline()
        pipe.set(self.keys.requester(ticket_id), name)
        if user_id:
            pipe.set(self.keys.requester_id(ticket_id), user_id)
            pipe.zadd(self.keys.requested_by(user_id), {ticket_id: time.time()})
        pipe.execute()

    def requester_id_of(self, ticket_id: str) -> str | None:
        value = self.redis.get(self.keys.requester_id(ticket_id))
        return None if value is None else str(value)

    def tickets_requested_by(self, user_id: str) -> list[str]:
        """The tickets created for `user_id`, newest first."""
        return [str(t) for t in self.redis.zrevrange(self.keys.requested_by(user_id), 0, -1)]

    def set_direct_messages(self, user_id: str, on: bool) -> None:
        """The App Home setting: direct messages about `user_id`'s tickets (on by default)."""
        if on:
            self.redis.delete(self.keys.dm_off(user_id))
        else:
            self.redis.set(self.keys.dm_off(user_id), "1")

    def wants_direct_messages(self, user_id: str) -> bool:
        return not self.redis.exists(self.keys.dm_off(user_id))

    def requester_of(self, ticket_id: str) -> str | None:
        value = self.redis.get(self.keys.requester(ticket_id))
        return None if value is None else str(value)

    # --- creations: the ticket a modal submission made, so a retried job never makes two

    def remember_created(self, view_id: str, ticket_id: str, ttl_seconds: int) -> None:
        self.redis.set(self.keys.created(view_id), ticket_id, ex=ttl_seconds)

    def created_ticket(self, view_id: str) -> str | None:
        value = self.redis.get(self.keys.created(view_id))
        return None if value is None else str(value)

    # --- drafts: what someone typed into a modal, so nothing is lost ---------

    def save_draft(self, view_id: str, draft_json: str, ttl_seconds: int) -> None:
        self.redis.set(self.keys.draft(view_id), draft_json, ex=ttl_seconds)

    def load_draft(self, view_id: str) -> str | None:
        value = self.redis.get(self.keys.draft(view_id))
        return None if value is None else str(value)

    # --- fingerprints of what the bot wrote into the helpdesk ---------------
    # The helpdesk returns no id for a conversation the bot adds, so the poller
    # recognises the bot's own conversations by a hash of their text.

    def remember_sent(self, ticket_id: str, text: str, ttl_seconds: int = 30 * 24 * 3600) -> None:
        key = self.keys.sent(ticket_id)
        pipe = self.redis.pipeline()
        pipe.sadd(key, _fingerprint(text))
        pipe.expire(key, ttl_seconds)
        pipe.execute()

    def was_sent(self, ticket_id: str, text: str) -> bool:
        return bool(self.redis.sismember(self.keys.sent(ticket_id), _fingerprint(text)))


def _fingerprint(text: str) -> str:
    normalized = " ".join(text.split())
    return hashlib.sha256(normalized.encode()).hexdigest()[:32]
