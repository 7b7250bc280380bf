"""Thread ↔ ticket links, requesters, drafts, and fingerprints of what the bot wrote."""

from __future__ import annotations

import hashlib
import json

from bot.store.base import StoreBase, ThreadRef


class Links(StoreBase):
    def link_thread(self, ticket_id: str, thread: ThreadRef) -> None:
        pipe = self.redis.pipeline()
        pipe.set(self.keys.thread_link(thread.channel, thread.ts), ticket_id)
        pipe.set(self.keys.ticket_link(ticket_id), json.dumps(list(thread)))
        pipe.sadd(self.keys.linked(), ticket_id)
        pipe.execute()

    def ticket_for_thread(self, thread: ThreadRef) -> str | None:
        value = self.redis.get(self.keys.thread_link(thread.channel, thread.ts))
        return None if value is None else str(value)

    def thread_for_ticket(self, ticket_id: str) -> ThreadRef | None:
        raw = self.redis.get(self.keys.ticket_link(ticket_id))
        return None if raw is None else ThreadRef(*json.loads(raw))

    def linked_tickets(self) -> set[str]:
        return {str(member) for member in self.redis.smembers(self.keys.linked())}

    def remember_requester(self, ticket_id: str, name: str) -> None:
        self.redis.set(self.keys.requester(ticket_id), name)

    def requester_of(self, ticket_id: str) -> str | None:
        value = self.redis.get(self.keys.requester(ticket_id))
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
