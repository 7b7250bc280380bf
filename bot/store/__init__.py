"""Everything the bot keeps in Redis. The only package that knows key names (keys.py).

A lookup cache with stale-while-revalidate (cache.py), thread↔ticket links
(links.py), per-ticket poll state (poll.py), the outbox streams (streams.py), news
waiting for a requester's direct message (direct.py) and dedupe claims, all under
one configurable prefix. With no `REDIS_URL` the same class runs on an embedded
in-process Redis (fakeredis), good for a single process.
"""

from __future__ import annotations

import logging

import redis

from bot.store.base import JsonValue, StoreBase, StreamEntry, ThreadRef
from bot.store.cache import LookupCache
from bot.store.direct import PendingNews
from bot.store.keys import Keys
from bot.store.links import Links
from bot.store.outage import StoreOutage, is_unreachable
from bot.store.poll import PollState
from bot.store.streams import OUTBOX_GROUP, OutboxStreams

__all__ = [
    "OUTBOX_GROUP",
    "JsonValue",
    "Store",
    "StoreOutage",
    "StreamEntry",
    "ThreadRef",
    "connect",
    "is_unreachable",
]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5


class Store(LookupCache, Links, PollState, OutboxStreams, PendingNews, StoreBase):
    def __init__(self, client: redis.Redis, prefix: str = "ticket-bot") -> None:
        self.redis = client
        self.prefix = prefix
        self.keys = Keys(prefix)
        #: whether Redis is out of reach now, told once per outage
        self.outage = StoreOutage()
        self._start_cache()

    def ping(self) -> bool:
        try:
            answered = bool(self.redis.ping())
        except redis.RedisError as exc:
            self.outage.failed(exc)
            return False
        self.outage.answered()
        return answered

    def close(self) -> None:
        self._refreshers.shutdown(wait=False, cancel_futures=True)

    def claim(self, what: str, ttl_seconds: float) -> bool:
        """True for exactly one caller per `what` within `ttl_seconds`."""
        return bool(self.redis.set(self.keys.claim(what), "1", nx=True, px=int(ttl_seconds * 1000)))

    def release(self, what: str) -> None:
        self.redis.delete(self.keys.claim(what))


def connect(redis_url: str | None, prefix: str) -> Store:
    """A store on the Redis at `redis_url`, or on an embedded one when it is None."""
    if redis_url:
        client = redis.Redis.from_url(
            redis_url,
            decode_responses=True,
            health_check_interval=30,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,  # a black-holed host: no hang
        )
        return Store(client, prefix)
    import fakeredis

    log.info("REDIS_URL is unset: using an embedded in-process store, good for one process only")
    return Store(fakeredis.FakeRedis(decode_responses=True), prefix)
