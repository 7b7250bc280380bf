"""The sync worker: drains the outbox (and runs the helpdesk poller) in one process.

`OutboxWorker` reads the stream through the consumer group (XREADGROUP), hands
each entry to a *lane* chosen by the entry's ticket, so that one ticket's
replies reach the helpdesk in order while other tickets go ahead concurrently,
and acknowledges an entry (XACK, then XDEL) once delivered. A failure that may
pass (`Unavailable`: 5xx, timeouts, connection errors) is retried with
exponential backoff and jitter, holding its lane; after `max_attempts`
attempts or `max_age` seconds the entry moves to the dead-letter stream and the
thread shows it (bot/sync/delivery.py). Entries a dead worker left pending are
taken over with XAUTOCLAIM once idle for `claim_idle_ms`; a living worker
keeps its own entries fresh (XCLAIM … JUSTID, a heartbeat), so nobody takes
them from it however long a backoff lasts.

An entry whose ticket has an earlier entry still in the stream (read by another
worker, or taken over from a dead one) is held aside the same way for a moment and
looked at again, so that one ticket's jobs go out in order across workers.

An entry written with a time it is due (`Outbox.fields(job, due)`: a direct message
waiting for the rest of its burst) is held aside until then, pending and kept
fresh like the others but in no lane: the lane goes on with other entries, and an
entry taken over from a dead worker waits for the same time.

Every timing is an `OUTBOX_*` variable (see `OutboxSettings`); tests make them tiny.
"""

from __future__ import annotations

import heapq
import logging
import os
import queue
import random
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable

import redis
from pydantic_settings import BaseSettings, SettingsConfigDict
from slack_sdk import WebClient

from bot.desk import build_desk
from bot.desk.deferred import Defer
from bot.desk.explain import explain
from bot.gateway import GatewayError, TicketGateway, Unavailable
from bot.log_context import log_ids
from bot.runtime.settings import Settings, load_section
from bot.slack.client import build_client
from bot.store import Store, StreamEntry
from bot.sync.delivery import Delivery, Retry
from bot.sync.observe import SyncObserver
from bot.sync.outbox import Entry, Outbox
from bot.sync.poller import Poller

log = logging.getLogger(__name__)

RETRYABLE = (Unavailable, Retry, redis.RedisError)
#: at shutdown, how long lanes may finish the deliveries under way before the rest is
#: handed back to the stream
DRAIN_SECONDS = 5.0
#: how long an entry waits before looking again for an earlier one of its ticket that
#: another worker (or another lane here) is delivering
ORDER_WAIT = 0.02


class OutboxSettings(BaseSettings):
    """How the outbox worker paces itself; each field is `OUTBOX_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="OUTBOX_", env_file=".env", extra="ignore")

    #: entries delivered concurrently (one thread each); one ticket always uses one lane
    lanes: int = 8
    #: entries read ahead per lane
    read_ahead: int = 4
    #: longest wait in XREADGROUP for new entries
    block_ms: int = 1000
    #: an entry pending this long on a silent consumer is taken over
    claim_idle_ms: int = 30_000
    #: seconds between scans for such entries
    claim_every: float = 5.0
    #: backoff before retry n: a random wait in [d/2, d], d = min(cap, base * 2**(n-1))
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    #: give up after this many attempts, or this many seconds after the entry was written
    max_attempts: int = 12
    max_age: float = 3600.0

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


class OutboxWorker:
    def __init__(
        self,
        store: Store,
        delivery: Delivery,
        settings: OutboxSettings | None = None,
        consumer: str | None = None,
        observe: SyncObserver | None = None,
    ) -> None:
        self.store = store
        self.observe = observe or SyncObserver()
        self.outbox = Outbox(store)
        self.delivery = delivery
        self.settings = settings or load_section(OutboxSettings)
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._lanes: list[queue.Queue[StreamEntry]] = [
            queue.Queue() for _ in range(max(1, self.settings.lanes))
        ]
        self._held: set[str] = set()  # read by this consumer and not finished
        #: held entries not due yet, soonest first: (due, entry id, entry)
        self._later: list[tuple[float, str, StreamEntry]] = []
        self._held_lock = threading.Lock()
        self._stop = threading.Event()
        #: set once the lanes have drained and what is unfinished is handed back
        self._finished = threading.Event()
        self._claim_cursor = "0-0"

    # --- the loop ----------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """Read, dispatch and deliver until `stop` is set; what is unfinished stays pending."""
        self._stop = stop
        self._ensure_group()
        threads = [
            threading.Thread(target=self._lane, args=(q,), name=f"outbox-lane-{n}", daemon=True)
            for n, q in enumerate(self._lanes)
        ]
        threads.append(threading.Thread(target=self._heartbeat, name="outbox-beat", daemon=True))
        for thread in threads:
            thread.start()
        log.info("outbox worker %s: %d lanes", self.consumer, len(self._lanes))
        try:
            self._read_until(stop)
            deadline = time.monotonic() + DRAIN_SECONDS
            for thread in threads[:-1]:  # the lanes; the heartbeat goes on while they drain
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
            self._hand_back()
        finally:
            self._finished.set()

    def _read_until(self, stop: threading.Event) -> None:
        next_claim = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_claim:
                    self._take_over_idle()
                    next_claim = time.monotonic() + self.settings.claim_every
                self._release_due()
                self._read_new()
                self.store.outage.answered()
            except redis.RedisError as exc:
                self.store.outage.failed(exc)  # one log line per outage, not one a second
                stop.wait(1.0)

    def _hand_back(self) -> None:
        """Entries read but not finished (queued in a lane, waiting for a retry, or still
        under way past the drain) are made idle at once, so the next worker's scan takes
        them now rather than after `claim_idle_ms`; their ids and order are kept."""
        with self._held_lock:
            held = sorted(self._held, key=_stream_order)
        if not held:
            return
        try:
            self.store.outbox_release(self.consumer, held)
        except redis.RedisError as exc:
            log.warning("outbox: could not hand back %d entries (%s)", len(held), exc)
            return
        log.info("outbox: handed %d unfinished entries back to the stream", len(held))
        for _ in held:
            self.observe.delivery("any", "handed_back")

    def _ensure_group(self) -> None:
        while not self._stop.is_set():
            try:
                self.store.outbox_ensure_group()
                return
            except redis.RedisError as exc:
                self.store.outage.failed(exc)
                self._stop.wait(1.0)

    def _read_new(self) -> None:
        with self._held_lock:  # entries waiting until they are due take no lane's room
            busy = len(self._held) - len(self._later)
            next_due = self._later[0][0] if self._later else None
        room = len(self._lanes) * self.settings.read_ahead - busy
        if room <= 0:
            self._stop.wait(0.005)
            return
        block_ms = max(1, self.settings.block_ms)
        if next_due is not None:  # wake up for it
            block_ms = max(1, min(block_ms, int((next_due - time.time()) * 1000) + 1))
        for raw in self.store.outbox_read(self.consumer, room, block_ms):
            self._dispatch(raw)

    def _take_over_idle(self) -> None:
        cursor, entries = self.store.outbox_claim_idle(
            self.consumer, self.settings.claim_idle_ms, self._claim_cursor
        )
        self._claim_cursor = cursor
        for raw in entries:
            with self._held_lock:
                mine = raw.id in self._held
            if not mine:
                log.info("outbox: took over entry %s left by a silent worker", raw.id)
                self._dispatch(raw)

    def _dispatch(self, raw: StreamEntry) -> None:
        due = Outbox.due_of(raw)
        with self._held_lock:
            self._held.add(raw.id)
        if due > time.time():
            self._hold_aside(raw, due)
        else:
            self._lanes[_lane_number(raw, len(self._lanes))].put(raw)

    def _hold_aside(self, raw: StreamEntry, until: float) -> None:
        """Held (pending, kept fresh) but in no lane until `until`."""
        with self._held_lock:
            heapq.heappush(self._later, (until, raw.id, raw))

    def _release_due(self) -> None:
        """Entries held aside whose time has come go to their lanes."""
        now = time.time()
        with self._held_lock:
            due = []
            while self._later and self._later[0][0] <= now:
                due.append(heapq.heappop(self._later)[2])
        for raw in due:
            self._lanes[_lane_number(raw, len(self._lanes))].put(raw)

    def _heartbeat(self) -> None:
        """Keeps this worker's entries fresh until it has finished with them: also while
        the lanes drain after the stop, or another worker would take over a delivery
        still under way here and send it again."""
        every = max(0.005, self.settings.claim_idle_ms / 3000)
        while not self._finished.wait(every):
            with self._held_lock:
                held = list(self._held)
            try:
                self.store.outbox_touch(self.consumer, held)
            except redis.RedisError as exc:
                self.store.outage.failed(exc)

    # --- one lane ----------------------------------------------------------------

    def _lane(self, entries: queue.Queue[StreamEntry]) -> None:
        while not self._stop.is_set():
            try:
                raw = entries.get(timeout=0.1)
            except queue.Empty:
                continue
            if self._waits_its_turn(raw):
                self._hold_aside(raw, time.time() + ORDER_WAIT)
                continue
            settled = False
            try:
                settled = self.process(raw)
            except Exception:
                log.exception("outbox entry %s: unexpected failure; left pending", raw.id)
            finally:
                if settled or not self._stop.is_set():  # else handed back at the stop
                    with self._held_lock:
                        self._held.discard(raw.id)

    def _waits_its_turn(self, raw: StreamEntry) -> bool:
        try:
            return self.outbox.waits_behind_older(raw)
        except redis.RedisError as exc:
            self.store.outage.failed(exc)
            return True  # looked at again once Redis answers

    def process(self, raw: StreamEntry) -> bool:
        """Deliver one entry: done, retried with backoff, or dead-lettered. False when the
        worker stopped first: the entry is still pending."""
        entry = self.outbox.parse(raw)
        if entry is None:
            return True
        if self._stop.is_set():
            return False  # read ahead but not started
        with log_ids(job_id=entry.id, ticket_id=getattr(entry.job, "ticket_id", None)):
            return self._deliver(entry)

    def _deliver(self, entry: Entry) -> bool:
        attempt = self.store.outbox_attempt(entry.id)
        while not self._stop.is_set():
            try:
                self.delivery.deliver(entry, attempt)
            except RETRYABLE as exc:
                if self._exhausted(entry, attempt):
                    self._give_up(entry, _reason(exc, attempt))
                    return True
                log.info("outbox entry %s: attempt %d failed (%s)", entry.id, attempt, exc)
                self.observe.delivery(entry.job.kind, "retry")
                if self._stop.wait(self.settings.backoff(attempt)):
                    return False  # stopping: the entry stays pending for the next worker
                attempt = self.store.outbox_attempt(entry.id)
            except GatewayError as exc:
                self._give_up(entry, explain(exc))
                return True
            except Exception:
                log.exception("outbox entry %s failed", entry.id)
                self._give_up(entry, "the bot failed on it; an admin can find it in its log.")
                return True
            else:
                self.store.outbox_done(entry.id)
                self.observe.delivery(entry.job.kind, "delivered")
                return True
        return False

    def _exhausted(self, entry: Entry, attempt: int) -> bool:
        too_old = time.time() - entry.enqueued_at >= self.settings.max_age
        return attempt >= self.settings.max_attempts or too_old

    def _give_up(self, entry: Entry, reason: str) -> None:
        log.warning("outbox entry %s (%s) dead-lettered: %s", entry.id, entry.job.kind, reason)
        self.store.outbox_dead_letter(entry.id, entry.fields, reason)
        self.observe.delivery(entry.job.kind, "dead_letter")
        self.delivery.give_up(entry, reason)


def _stream_order(entry_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in entry_id.split("-"))


def _lane_number(raw: StreamEntry, lanes: int) -> int:
    entry_lane = Outbox.lane_of(raw)
    return zlib.crc32(entry_lane.encode()) % lanes


def _reason(exc: Exception, attempts: int) -> str:
    """Why an entry was given up after retries, in a sentence for the thread."""
    if isinstance(exc, GatewayError):
        detail = exc.message.rpartition(": ")[2]  # "HTTP 503", "timed out (ReadTimeout)"
        return f"the helpdesk is not answering ({detail}, {attempts} attempts)."
    if isinstance(exc, Retry):
        return f"{exc} ({attempts} attempts)."
    return "the bot's Redis is not answering."


# --- the worker process ------------------------------------------------------------


class SyncWorker:
    """The outbox worker and the helpdesk poller, each on a thread of this process."""

    def __init__(
        self,
        settings: Settings,
        gateway: TicketGateway,
        store: Store,
        *,
        client: WebClient | None = None,
        outbox: OutboxSettings | None = None,
        poll: bool = True,
        after_ack: Defer | None = None,
        observe: SyncObserver | None = None,
    ) -> None:
        client = client or build_client(
            settings.SLACK_BOT_TOKEN.get_secret_value(), settings.SLACK_API_URL
        )
        desk = build_desk(
            gateway,
            store,
            client,
            after_ack or _inline,
            ticket_channel=settings.TICKET_CHANNEL,
            dm_window=settings.TICKET_DM_WINDOW,
            agent_channel=settings.TICKET_AGENT_CHANNEL,
        )
        # webhooks' sync jobs run the poller's code even where the poll loop does not run
        self.poller = Poller(settings, gateway, store, client, desk.cards, observe=observe)
        delivery = Delivery(
            gateway,
            store,
            client,
            desk.lookups,
            desk.cards,
            desk.creation,
            desk.threads,
            self.poller.sync_ticket,
            intake=desk.intake,
            agents=desk.agents,
        )
        self.outbox = OutboxWorker(store, delivery, outbox, observe=observe)
        self.stop_event = threading.Event()
        self._runners = [self.outbox.run_forever]
        if poll:
            self._runners.append(self.poller.run_forever)
        self._threads: list[threading.Thread] = []

    def start(self) -> SyncWorker:
        for runner in self._runners:
            thread = threading.Thread(target=runner, args=(self.stop_event,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def wait(self) -> None:
        """Block until stopped (SIGTERM or SIGINT in bot/runtime/serving.py's `run_worker`)."""
        while not self.stop_event.wait(0.5):
            pass


def _inline(work: Callable[[], object], *, urgent: bool = False) -> None:
    """The worker defers nothing: what its desk services hand on runs on the same thread."""
    work()
