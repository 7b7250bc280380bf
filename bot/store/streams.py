"""The outbox: a Redis Stream read through one consumer group, its dead letters,
and what happened to each Slack message the bot mirrors."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import redis

from bot.store.base import StoreBase, StreamEntry

#: the outbox's consumer group; every worker process reads through it
OUTBOX_GROUP = "delivery"
MESSAGE_STATE_TTL = 30 * 24 * 3600
#: an entry handed back at shutdown looks this idle (ms): past any claim_idle_ms
RELEASED_IDLE_MS = 10 * 24 * 3600 * 1000


class OutboxFigures(NamedTuple):
    #: entries not delivered yet (delivered ones are deleted), pending ones included
    depth: int
    #: read by some worker and not acknowledged
    pending: int
    #: seconds since the oldest undelivered entry was written; 0 when there is none
    oldest_age: float
    #: entries in the dead-letter stream
    dead_letters: int


#: the dead letters kept, newest first (XADD MAXLEN ~: Redis trims whole nodes, so a few
#: more may stay); each is a job that could not be delivered and was told in its thread
DEAD_LETTERS_KEPT = 10_000


class OutboxStreams(StoreBase):
    # A Redis Stream read through one consumer group: replies, edits, deletions
    # and ticket creations written by listeners, delivered by the workers. What
    # cannot be delivered moves to a dead-letter stream. Per Slack message, a small
    # hash remembers what happened to it (queued, delivered, dead, deleted, the
    # text last sent), so that deliveries are idempotent and edits find their reply.

    def outbox_stream(self) -> str:
        return self.keys.outbox()

    def outbox_dead_stream(self) -> str:
        return self.keys.outbox_dead()

    def outbox_ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.outbox_stream(), OUTBOX_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def outbox_add(self, fields: dict[str, str]) -> str:
        return str(self.redis.xadd(self.outbox_stream(), fields))  # type: ignore[arg-type]

    def outbox_before(self, entry_id: str, count: int) -> list[StreamEntry]:
        """Up to `count` entries written just before `entry_id` and not yet done (done
        ones are deleted from the stream), nearest first."""
        entries: list[Any] = self.redis.xrevrange(  # type: ignore[assignment]
            self.outbox_stream(), f"({entry_id}", "-", count=count
        )
        return [_entry(i, f) for i, f in entries]

    def outbox_read(self, consumer: str, count: int, block_ms: int) -> list[StreamEntry]:
        """New entries for `consumer`, waiting up to `block_ms` for the first one."""
        try:
            reply = self.redis.xreadgroup(
                OUTBOX_GROUP, consumer, {self.outbox_stream(): ">"}, count=count, block=block_ms
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.outbox_ensure_group()  # the stream was deleted under us
            return []
        streams: list[Any] = reply or []  # type: ignore[assignment]
        return [_entry(i, f) for _, entries in streams for i, f in entries]

    def outbox_claim_idle(
        self, consumer: str, min_idle_ms: int, cursor: str = "0-0", count: int = 100
    ) -> tuple[str, list[StreamEntry]]:
        """Entries pending on any consumer for `min_idle_ms`, now `consumer`'s (XAUTOCLAIM)."""
        reply = self.redis.xautoclaim(
            self.outbox_stream(),
            OUTBOX_GROUP,
            consumer,
            min_idle_time=min_idle_ms,
            start_id=cursor,
            count=count,
        )
        answer: list[Any] = reply  # type: ignore[assignment, unused-ignore]
        return str(answer[0]), [_entry(i, f) for i, f in answer[1] if f]

    def outbox_touch(self, consumer: str, entry_ids: list[str]) -> None:
        """Reset the idle time of entries this consumer still works on (a heartbeat)."""
        if entry_ids:
            self.redis.xclaim(
                self.outbox_stream(),
                OUTBOX_GROUP,
                consumer,
                0,
                list[Any](entry_ids),
                justid=True,
            )

    def outbox_attempt(self, entry_id: str) -> int:
        """Count one more delivery attempt of an entry; the count survives a crash."""
        return int(self.redis.hincrby(self.keys.outbox_attempts(), entry_id, 1))

    def outbox_done(self, entry_id: str) -> None:
        pipe = self.redis.pipeline()
        pipe.xack(self.outbox_stream(), OUTBOX_GROUP, entry_id)
        pipe.xdel(self.outbox_stream(), entry_id)
        pipe.hdel(self.keys.outbox_attempts(), entry_id)
        pipe.execute()

    def outbox_dead_letter(self, entry_id: str, fields: dict[str, str], reason: str) -> None:
        dead = {**fields, "entry": entry_id, "reason": reason, "failed_at": f"{time.time():.3f}"}
        pipe = self.redis.pipeline()
        pipe.xadd(
            self.outbox_dead_stream(),
            dead,  # type: ignore[arg-type]
            maxlen=DEAD_LETTERS_KEPT,
            approximate=True,
        )
        pipe.xack(self.outbox_stream(), OUTBOX_GROUP, entry_id)
        pipe.xdel(self.outbox_stream(), entry_id)
        pipe.hdel(self.keys.outbox_attempts(), entry_id)
        pipe.execute()

    def outbox_dead_letters(self) -> list[StreamEntry]:
        entries: list[Any] = self.redis.xrange(self.outbox_dead_stream())  # type: ignore[assignment]
        return [_entry(i, f) for i, f in entries]

    def outbox_pending(self) -> int:
        """Entries read by some worker and not yet acknowledged."""
        try:
            summary = self.redis.xpending(self.outbox_stream(), OUTBOX_GROUP)
        except redis.ResponseError:
            return 0
        return int(summary["pending"])

    def outbox_release(self, consumer: str, entry_ids: list[str]) -> None:
        """Hand entries `consumer` holds back: idle long enough for any worker's take-over
        scan (XAUTOCLAIM) to claim them at once."""
        if entry_ids:
            self.redis.xclaim(
                self.outbox_stream(),
                OUTBOX_GROUP,
                consumer,
                0,
                list[Any](entry_ids),
                idle=RELEASED_IDLE_MS,
                justid=True,
            )

    def outbox_figures(self) -> OutboxFigures:
        """How the outbox stands, for the metrics (read at each scrape)."""
        pipe = self.redis.pipeline()
        pipe.xlen(self.outbox_stream())
        pipe.xrange(self.outbox_stream(), count=1)
        pipe.xlen(self.outbox_dead_stream())
        depth, first, dead = pipe.execute()
        oldest = 0.0
        if first:
            written_ms = int(str(first[0][0]).split("-")[0])
            oldest = max(0.0, time.time() - written_ms / 1000)
        return OutboxFigures(int(depth), self.outbox_pending(), oldest, int(dead))

    def message_state(self, channel: str, ts: str) -> dict[str, str]:
        """What happened to one Slack message the bot mirrors; empty when unknown."""
        state: dict[str, str] = self.redis.hgetall(self.keys.message_state(channel, ts))  # type: ignore[assignment]
        return dict(state)

    def set_message_state(self, channel: str, ts: str, **fields: str) -> None:
        key = self.keys.message_state(channel, ts)
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.expire(key, MESSAGE_STATE_TTL)
        pipe.execute()


def _entry(entry_id: Any, fields: Any) -> StreamEntry:
    return StreamEntry(str(entry_id), {str(k): str(v) for k, v in dict(fields).items()})
