"""Per-ticket poll state: leases, cursors, the state last shown, retirement."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import redis

from bot.store.base import StoreBase, ThreadRef

#: how long a retired ticket's keys (links, poll state, cursor, requester) outlive its
#: retirement: its card's buttons work until then
RETIRED_KEYS_TTL = 90 * 24 * 3600
#: the suffix of a poll lease kept for a rest after a poll (its owner's id before it)
LEASE_RESTING = "|resting"


class PollState(StoreBase):
    # Helpdesk → Slack, per linked ticket: a lease (`SET NX PX`, the poller's id
    # as its value) so that one poller at a time reads and posts the ticket; a
    # cursor, the highest conversation id posted or skipped ("" before any); the
    # status and priority last seen, also written by the desk after a change it
    # made itself so that the poller does not announce it; and the set of closed
    # tickets retired from polling.

    def take_poll_lease(
        self, ticket_id: str, owner: str, ttl_ms: int, *, over_rest: bool = False
    ) -> bool:
        """True when `owner` now holds the ticket's lease: it was free, or `owner`'s
        (active or resting), or `over_rest` and another poller's lease was only resting
        (a webhook said the ticket changed: it is read now, not after the rest)."""
        lease = self.keys.poll_lease(ticket_id)
        if self.redis.set(lease, owner, nx=True, px=ttl_ms):
            return True
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(lease)  # type: ignore[no-untyped-call]
                held = pipe.get(lease)
                mine = held in (owner, owner + LEASE_RESTING)
                resting = held is not None and str(held).endswith(LEASE_RESTING)
                if held is not None and not mine and not (over_rest and resting):
                    return False
                pipe.multi()
                pipe.set(lease, owner, px=ttl_ms)
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def rest_poll_lease(self, ticket_id: str, owner: str, ttl_ms: int) -> bool:
        """After a poll: `owner` keeps the lease `ttl_ms` as a resting one, which other
        pollers leave alone but a webhook's sync may take (`take_poll_lease(over_rest)`)."""
        lease = self.keys.poll_lease(ticket_id)
        return self._as_lease_holder(
            ticket_id, owner, lambda pipe: pipe.set(lease, owner + LEASE_RESTING, px=ttl_ms)
        )

    def hold_poll_lease(self, ticket_id: str, owner: str, ttl_ms: int) -> bool:
        """Give the lease `ttl_ms` more (0: end it) if `owner` still holds it."""
        lease = self.keys.poll_lease(ticket_id)

        def extend(pipe: Any) -> None:
            if ttl_ms > 0:
                pipe.pexpire(lease, ttl_ms)
            else:
                pipe.delete(lease)

        return self._as_lease_holder(ticket_id, owner, extend)

    def advance_poll_cursor(self, ticket_id: str, owner: str, conversation_id: str) -> bool:
        """Move the cursor, only while `owner` holds the lease (False otherwise)."""
        cursor = self.keys.poll_cursor(ticket_id)
        return self._as_lease_holder(ticket_id, owner, lambda p: p.set(cursor, conversation_id))

    def _as_lease_holder(self, ticket_id: str, owner: str, write: Callable[[Any], object]) -> bool:
        lease = self.keys.poll_lease(ticket_id)
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(lease)  # type: ignore[no-untyped-call]
                if pipe.get(lease) != owner:
                    return False
                pipe.multi()
                write(pipe)
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def poll_position(self, ticket_id: str) -> tuple[ThreadRef | None, str | None, dict[str, str]]:
        """The ticket's thread, its cursor (None: never polled) and its last state seen."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.keys.ticket_link(ticket_id))
        pipe.get(self.keys.poll_cursor(ticket_id))
        pipe.hgetall(self.keys.poll_state(ticket_id))
        raw_thread, cursor, state = pipe.execute()
        thread = None if raw_thread is None else ThreadRef(*json.loads(raw_thread))
        return thread, None if cursor is None else str(cursor), dict(state)

    def start_sync(self, ticket_id: str, status: str, priority: str | None, closed: bool) -> None:
        """A ticket just linked: every conversation it gets from now on is new."""
        self.redis.set(self.keys.poll_cursor(ticket_id), "", nx=True)
        self.remember_ticket_state(ticket_id, status, priority, closed)

    def remember_ticket_state(
        self, ticket_id: str, status: str, priority: str | None, closed: bool
    ) -> None:
        """The status and priority (ids) the thread shows now (the poller announces other
        ones); `closed_at` is set while the status is of kind closed."""
        state = self.keys.poll_state(ticket_id)
        pipe = self.redis.pipeline()
        pipe.hset(state, mapping={"status": str(status), "priority": str(priority or "")})
        if closed:
            pipe.hsetnx(state, "closed_at", str(time.time()))
            pipe.execute()
            return
        pipe.hdel(state, "closed_at")
        pipe.srem(self.keys.poll_retired(), ticket_id)
        if pipe.execute()[-1]:  # it was retired: its keys are kept for good again
            self._expire_ticket_keys(ticket_id, None)

    def poll_states(self, ticket_ids: list[str]) -> list[dict[str, str]]:
        """The last state seen of each ticket, in order ({} when none)."""
        pipe = self.redis.pipeline(transaction=False)
        for ticket_id in ticket_ids:
            pipe.hgetall(self.keys.poll_state(ticket_id))
        return [dict(state) for state in pipe.execute()]

    def tickets_to_poll(self) -> set[str]:
        """Linked tickets that are not retired from polling."""
        retired = self.keys.poll_retired()
        return {str(member) for member in self.redis.sdiff([self.keys.linked(), retired])}

    def retire_from_polling(self, ticket_id: str, keep_seconds: int = RETIRED_KEYS_TTL) -> None:
        """No more polling; the ticket's keys expire in `keep_seconds` unless it comes back
        first (reopened: remember_ticket_state un-retires it and keeps its keys again)."""
        self.redis.sadd(self.keys.poll_retired(), ticket_id)
        self._expire_ticket_keys(ticket_id, keep_seconds)

    def _expire_ticket_keys(self, ticket_id: str, seconds: int | None) -> None:
        """Give every per-ticket key a time to live (None: no expiry again)."""
        raw_thread = self.redis.get(self.keys.ticket_link(ticket_id))
        thread = None if raw_thread is None else ThreadRef(*json.loads(raw_thread))
        raw_card = self.redis.get(self.keys.card_link(ticket_id))
        card = None if raw_card is None else ThreadRef(*json.loads(raw_card))
        raw_agents = self.redis.get(self.keys.agents_link(ticket_id))
        agents = None if raw_agents is None else ThreadRef(*json.loads(raw_agents))
        pipe = self.redis.pipeline(transaction=False)
        for key in self.keys.per_ticket(ticket_id, thread, card, agents):
            if seconds is None:
                pipe.persist(key)
            else:
                pipe.expire(key, seconds)
        pipe.execute()

    # The helpdesk's change feed (backends that have one): the position after the
    # last change the pollers have all read.

    def feed_cursor(self) -> str | None:
        value = self.redis.get(self.keys.poll_feed())
        return None if value is None else str(value)

    def advance_feed_cursor(self, old: str | None, new: str) -> bool:
        """Set the cursor to `new` if it is still `old` (None: unset); False otherwise, so
        that pollers racing on one Redis never move it back."""
        key = self.keys.poll_feed()
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                current = pipe.get(key)
                if (None if current is None else str(current)) != old:
                    return False
                pipe.multi()
                pipe.set(key, new)
                pipe.execute()
            except redis.WatchError:
                return False
        return True
