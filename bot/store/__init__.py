"""Everything the bot keeps in Redis. The only module that knows key names.

A lookup cache with stale-while-revalidate, thread↔ticket links and dedupe
claims, all under one configurable prefix. With no `REDIS_URL` the same class
runs on an embedded in-process Redis (fakeredis), good for a single process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

import redis

log = logging.getLogger(__name__)

JsonValue = Any
REFRESH_LOCK_MS = 30_000
WAIT_POLL_SECONDS = 0.05
#: the outbox's consumer group; every worker process reads through it
OUTBOX_GROUP = "delivery"
MESSAGE_STATE_TTL = 30 * 24 * 3600


class ThreadRef(NamedTuple):
    channel: str
    ts: str


class StreamEntry(NamedTuple):
    id: str
    fields: dict[str, str]


class Store:
    def __init__(self, client: redis.Redis, prefix: str = "ticket-bot") -> None:
        self.redis = client
        self.prefix = prefix
        self._refreshers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cache-refresh")
        self._loading: dict[str, Future[Any]] = {}  # loads under way in this process
        self._loading_lock = threading.Lock()

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
        """Load a missing value; concurrent callers wait for one load instead of each loading:
        threads of this process on the load's future, other processes on its Redis lock."""
        with self._loading_lock:
            under_way = self._loading.get(name)
            if under_way is None:
                mine: Future[Any] = Future()
                self._loading[name] = mine
        if under_way is not None:
            return under_way.result(timeout=REFRESH_LOCK_MS / 1000)
        try:
            value = self._load_across_processes(name, loader, ttl, stale)
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        else:
            mine.set_result(value)
            return value
        finally:
            with self._loading_lock:
                del self._loading[name]

    def _load_across_processes(
        self, name: str, loader: Callable[[], JsonValue], ttl: float, stale: float
    ) -> Any:
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

    # --- poller -------------------------------------------------------------
    # Helpdesk → Slack, per linked ticket: a lease (`SET NX PX`, the poller's id
    # as its value) so that one poller at a time reads and posts the ticket; a
    # cursor, the highest conversation id posted or skipped ("" before any); the
    # status and priority last seen, also written by the desk after a change it
    # made itself so that the poller does not announce it; and the set of closed
    # tickets retired from polling.

    def take_poll_lease(self, ticket_id: str, owner: str, ttl_ms: int) -> bool:
        """True when `owner` now holds the ticket's lease: it was free, or `owner`'s."""
        lease = self.key("poll", "lease", ticket_id)
        if self.redis.set(lease, owner, nx=True, px=ttl_ms):
            return True
        return self.hold_poll_lease(ticket_id, owner, ttl_ms)

    def hold_poll_lease(self, ticket_id: str, owner: str, ttl_ms: int) -> bool:
        """Give the lease `ttl_ms` more (0: end it) if `owner` still holds it."""
        lease = self.key("poll", "lease", ticket_id)

        def extend(pipe: Any) -> None:
            if ttl_ms > 0:
                pipe.pexpire(lease, ttl_ms)
            else:
                pipe.delete(lease)

        return self._as_lease_holder(ticket_id, owner, extend)

    def advance_poll_cursor(self, ticket_id: str, owner: str, conversation_id: str) -> bool:
        """Move the cursor, only while `owner` holds the lease (False otherwise)."""
        cursor = self.key("poll", "cursor", ticket_id)
        return self._as_lease_holder(ticket_id, owner, lambda p: p.set(cursor, conversation_id))

    def _as_lease_holder(self, ticket_id: str, owner: str, write: Callable[[Any], object]) -> bool:
        lease = self.key("poll", "lease", ticket_id)
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
        pipe.get(self.key("link", "ticket", ticket_id))
        pipe.get(self.key("poll", "cursor", ticket_id))
        pipe.hgetall(self.key("poll", "state", ticket_id))
        raw_thread, cursor, state = pipe.execute()
        thread = None if raw_thread is None else ThreadRef(*json.loads(raw_thread))
        return thread, None if cursor is None else str(cursor), dict(state)

    def start_sync(self, ticket_id: str, status: str, priority: str | None, closed: bool) -> None:
        """A ticket just linked: every conversation it gets from now on is new."""
        self.redis.set(self.key("poll", "cursor", ticket_id), "", nx=True)
        self.remember_ticket_state(ticket_id, status, priority, closed)

    def remember_ticket_state(
        self, ticket_id: str, status: str, priority: str | None, closed: bool
    ) -> None:
        """The status and priority (ids) the thread shows now (the poller announces other
        ones); `closed_at` is set while the status is of kind closed."""
        state = self.key("poll", "state", ticket_id)
        pipe = self.redis.pipeline()
        pipe.hset(state, mapping={"status": str(status), "priority": str(priority or "")})
        if closed:
            pipe.hsetnx(state, "closed_at", str(time.time()))
        else:
            pipe.hdel(state, "closed_at")
            pipe.srem(self.key("poll", "retired"), ticket_id)
        pipe.execute()

    def poll_states(self, ticket_ids: list[str]) -> list[dict[str, str]]:
        """The last state seen of each ticket, in order ({} when none)."""
        pipe = self.redis.pipeline(transaction=False)
        for ticket_id in ticket_ids:
            pipe.hgetall(self.key("poll", "state", ticket_id))
        return [dict(state) for state in pipe.execute()]

    def tickets_to_poll(self) -> set[str]:
        """Linked tickets that are not retired from polling."""
        retired = self.key("poll", "retired")
        return {str(member) for member in self.redis.sdiff([self.key("linked"), retired])}

    def retire_from_polling(self, ticket_id: str) -> None:
        self.redis.sadd(self.key("poll", "retired"), ticket_id)

    # The helpdesk's change feed (backends that have one): the position after the
    # last change every poller has read; one for the whole helpdesk.

    def feed_cursor(self) -> str | None:
        value = self.redis.get(self.key("poll", "feed"))
        return None if value is None else str(value)

    def advance_feed_cursor(self, old: str | None, new: str) -> bool:
        """Set the cursor to `new` if it is still `old` (None: unset); False otherwise, so
        that pollers racing on one Redis never move it back."""
        key = self.key("poll", "feed")
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

    # --- dedupe -------------------------------------------------------------

    def claim(self, what: str, ttl_seconds: float) -> bool:
        """True for exactly one caller per `what` within `ttl_seconds`."""
        return bool(
            self.redis.set(self.key("claim", what), "1", nx=True, px=int(ttl_seconds * 1000))
        )

    def release(self, what: str) -> None:
        self.redis.delete(self.key("claim", what))

    # --- outbox ---
    # A Redis Stream read through one consumer group: replies, edits, deletions
    # and ticket creations written by listeners, delivered by the workers. What
    # cannot be delivered moves to a dead-letter stream. Per Slack message, a small
    # hash remembers what happened to it (queued, delivered, dead, deleted, the
    # text last sent), so that deliveries are idempotent and edits find their reply.

    def outbox_stream(self) -> str:
        return self.key("outbox")

    def outbox_dead_stream(self) -> str:
        return self.key("outbox", "dead")

    def outbox_ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.outbox_stream(), OUTBOX_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def outbox_add(self, fields: dict[str, str]) -> str:
        return str(self.redis.xadd(self.outbox_stream(), fields))  # type: ignore[arg-type]

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
        return int(self.redis.hincrby(self.key("outbox", "attempts"), entry_id, 1))

    def outbox_done(self, entry_id: str) -> None:
        pipe = self.redis.pipeline()
        pipe.xack(self.outbox_stream(), OUTBOX_GROUP, entry_id)
        pipe.xdel(self.outbox_stream(), entry_id)
        pipe.hdel(self.key("outbox", "attempts"), entry_id)
        pipe.execute()

    def outbox_dead_letter(self, entry_id: str, fields: dict[str, str], reason: str) -> None:
        dead = {**fields, "entry": entry_id, "reason": reason, "failed_at": f"{time.time():.3f}"}
        pipe = self.redis.pipeline()
        pipe.xadd(self.outbox_dead_stream(), dead)  # type: ignore[arg-type]
        pipe.xack(self.outbox_stream(), OUTBOX_GROUP, entry_id)
        pipe.xdel(self.outbox_stream(), entry_id)
        pipe.hdel(self.key("outbox", "attempts"), entry_id)
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

    def message_state(self, channel: str, ts: str) -> dict[str, str]:
        """What happened to one Slack message the bot mirrors; empty when unknown."""
        state: dict[str, str] = self.redis.hgetall(self.key("outbox", "msg", channel, ts))  # type: ignore[assignment]
        return dict(state)

    def set_message_state(self, channel: str, ts: str, **fields: str) -> None:
        key = self.key("outbox", "msg", channel, ts)
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.expire(key, MESSAGE_STATE_TTL)
        pipe.execute()


def _entry(entry_id: Any, fields: Any) -> StreamEntry:
    return StreamEntry(str(entry_id), {str(k): str(v) for k, v in dict(fields).items()})


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
