"""What every part of the store shares: the Redis client, the key names, the value types."""

from __future__ import annotations

from typing import Any, NamedTuple

import redis

from bot.store.keys import Keys

JsonValue = Any


class ThreadRef(NamedTuple):
    channel: str
    ts: str


class StreamEntry(NamedTuple):
    id: str
    fields: dict[str, str]


class StoreBase:
    redis: redis.Redis
    keys: Keys
