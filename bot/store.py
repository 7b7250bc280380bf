"""Everything the bot keeps in Redis. The only module that knows key names.

A lookup cache with stale-while-revalidate, thread↔ticket links and dedupe
claims, all under one configurable prefix. With no `REDIS_URL` the same class
runs on an embedded in-process Redis (fakeredis), good for a single process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import redis

log = logging.getLogger(__name__)

JsonValue = Any
REFRESH_LOCK_MS = 30_000
WAIT_POLL_SECONDS = 0.05


class ThreadRef(NamedTuple):
    channel: str
    ts: str


class Store:
    def __init__(self, client: redis.Redis, prefix: str = "ticket-bot") -> None:
        self.redis = client
        self.prefix = prefix
        self._refreshers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cache-refresh")

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._refreshers.shutdown(wait=False, cancel_futures=True)

    # --- lookup cache -------------------------------------------------------

    def cached(
        self,
        name: str,
        loader: Callable[[], JsonValue],
        *,
        ttl: float,
        stale_ttl: float,
        load_if_missing: bool = True,
    ) -> JsonValue:
        """The value under `name`: fresh from the cache, stale while one caller
        refreshes it in the background, or loaded now when there is none
        (None instead, without waiting, when `load_if_missing` is False)."""
        entry = self._read_entry(name)
        if entry is None:
            if not load_if_missing:
                return None
            return self._load_once(name, loader, ttl, stale_ttl)
        if entry["fresh_until"] <= time.time():
            self._refresh_in_background(name, loader, ttl, stale_ttl)
        return entry["value"]

    def peek(self, name: str) -> JsonValue | None:
        """The cached value, fresh or stale, without loading anything."""
        entry = self._read_entry(name)
        return None if entry is None else entry["value"]

    def forget(self, name: str) -> None:
        self.redis.delete(self.key("cache", name))

    def _read_entry(self, name: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.key("cache", name))
        return None if raw is None else dict(json.loads(raw))

    def _load(self, name: str, loader: Callable[[], JsonValue], ttl: float, stale: float) -> Any:
        value = loader()
        entry = {"value": value, "fresh_until": time.time() + ttl}
        self.redis.set(self.key("cache", name), json.dumps(entry), px=int((ttl + stale) * 1000))
        return value

    def _load_once(
        self, name: str, loader: Callable[[], JsonValue], ttl: float, stale: float
    ) -> Any:
        """Load a missing value; concurrent callers wait for one load instead of each loading."""
        lock = self.key("lock", "cache", name)
        if self.redis.set(lock, "1", nx=True, px=REFRESH_LOCK_MS):
            try:
                return self._load(name, loader, ttl, stale)
            finally:
                self.redis.delete(lock)
        deadline = time.monotonic() + REFRESH_LOCK_MS / 1000
        while time.monotonic() < deadline and self.redis.exists(lock):
            time.sleep(WAIT_POLL_SECONDS)
        entry = self._read_entry(name)  # read after the lock is gone: the load wrote first
        if entry is not None:
            return entry["value"]
        return self._load(name, loader, ttl, stale)  # the other loader failed or vanished

    def _refresh_in_background(
        self, name: str, loader: Callable[[], JsonValue], ttl: float, stale: float
    ) -> None:
        lock = self.key("lock", "cache", name)
        if not self.redis.set(lock, "1", nx=True, px=REFRESH_LOCK_MS):
            return  # someone else is refreshing it already

        def refresh() -> None:
            try:
                self._load(name, loader, ttl, stale)
            except Exception:
                log.warning("refreshing cached %s failed; serving the stale value", name)
            finally:
                self.redis.delete(lock)

        self._refreshers.submit(refresh)

    # --- thread ↔ ticket links ----------------------------------------------

    def link_thread(self, ticket_id: str, thread: ThreadRef) -> None:
        pipe = self.redis.pipeline()
        pipe.set(self.key("link", "thread", thread.channel, thread.ts), ticket_id)
        pipe.set(self.key("link", "ticket", ticket_id), json.dumps(list(thread)))
        pipe.sadd(self.key("linked"), ticket_id)
        pipe.execute()

    def ticket_for_thread(self, thread: ThreadRef) -> str | None:
        value = self.redis.get(self.key("link", "thread", thread.channel, thread.ts))
        return None if value is None else str(value)

    def thread_for_ticket(self, ticket_id: str) -> ThreadRef | None:
        raw = self.redis.get(self.key("link", "ticket", ticket_id))
        return None if raw is None else ThreadRef(*json.loads(raw))

    def linked_tickets(self) -> set[str]:
        return {str(member) for member in self.redis.smembers(self.key("linked"))}

    def remember_requester(self, ticket_id: str, name: str) -> None:
        self.redis.set(self.key("requester", ticket_id), name)

    def requester_of(self, ticket_id: str) -> str | None:
        value = self.redis.get(self.key("requester", ticket_id))
        return None if value is None else str(value)

    # --- drafts: what someone typed into a modal, so nothing is lost ---------

    def save_draft(self, view_id: str, draft_json: str, ttl_seconds: int) -> None:
        self.redis.set(self.key("draft", view_id), draft_json, ex=ttl_seconds)

    def load_draft(self, view_id: str) -> str | None:
        value = self.redis.get(self.key("draft", view_id))
        return None if value is None else str(value)

    # --- fingerprints of what the bot wrote into the helpdesk ---------------
    # The helpdesk returns no id for a conversation the bot adds, so the poller
    # recognises the bot's own conversations by a hash of their text.

    def remember_sent(self, ticket_id: str, text: str, ttl_seconds: int = 30 * 24 * 3600) -> None:
        key = self.key("sent", ticket_id)
        pipe = self.redis.pipeline()
        pipe.sadd(key, _fingerprint(text))
        pipe.expire(key, ttl_seconds)
        pipe.execute()

    def was_sent(self, ticket_id: str, text: str) -> bool:
        return bool(self.redis.sismember(self.key("sent", ticket_id), _fingerprint(text)))

    # --- dedupe -------------------------------------------------------------

    def claim(self, what: str, ttl_seconds: float) -> bool:
        """True for exactly one caller per `what` within `ttl_seconds`."""
        return bool(
            self.redis.set(self.key("claim", what), "1", nx=True, px=int(ttl_seconds * 1000))
        )

    def release(self, what: str) -> None:
        self.redis.delete(self.key("claim", what))


def _fingerprint(text: str) -> str:
    normalized = " ".join(text.split())
    return hashlib.sha256(normalized.encode()).hexdigest()[:32]


def connect(redis_url: str | None, prefix: str) -> Store:
    """A store on the Redis at `redis_url`, or on an embedded one when it is None."""
    if redis_url:
        client = redis.Redis.from_url(redis_url, decode_responses=True, health_check_interval=30)
        return Store(client, prefix)
    import fakeredis

    log.info("REDIS_URL is unset: using an embedded in-process store, good for one process only")
    return Store(fakeredis.FakeRedis(decode_responses=True), prefix)
