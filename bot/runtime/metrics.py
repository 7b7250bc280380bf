"""Prometheus metrics: every metric the bot keeps, and the registry `/metrics` reads.

Names follow Prometheus conventions (`ticket_bot_…_seconds`, `…_total`); a label value
is always a bounded name (a Slack surface or method, a helpdesk operation, an error
class, a job kind), never user text or an id. docs/operations.md says what each means.

Under gunicorn every worker process writes its figures to files in
PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode, chosen when that
variable is set before prometheus_client is imported: `serve` sets it, see
bot/runtime/metrics_dir.py), and `/metrics` in any worker sums every worker's files once.
The outbox figures are read from Redis at each scrape (`OutboxCollector`): they are the
same whichever process answers.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator

import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.runtime.metrics_dir import MULTIPROC_ENV
from bot.store import Store
from bot.sync.observe import SyncObserver

log = logging.getLogger(__name__)

#: Slack gives 3 s to ack and a trigger_id lives about 3 s
FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
POLL_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
#: what a label value may look like; anything else is counted as "other"
_NAME = re.compile(r"[A-Za-z0-9_./-]{1,60}")

SLACK_REQUESTS = Counter(
    "ticket_bot_slack_requests_total",
    "Requests from Slack at /slack/events, by surface (command, interactivity, events; "
    "unverified when the signature failed), kind (the command, the payload or event type) "
    "and outcome (ok, rejected, error).",
    ["surface", "kind", "outcome"],
)
ACK_SECONDS = Histogram(
    "ticket_bot_slack_ack_seconds",
    "Time from a Slack request's arrival to its answer (the ack), by surface.",
    ["surface"],
    buckets=FAST_BUCKETS,
)
MODAL_SECONDS = Histogram(
    "ticket_bot_modal_open_seconds",
    "Time from a request carrying a trigger_id (a command, a shortcut, a button) to the "
    "views.open call it led to, by the request's surface.",
    ["surface"],
    buckets=FAST_BUCKETS,
)
SLACK_API_CALLS = Counter(
    "ticket_bot_slack_api_calls_total",
    "Slack Web API calls by method and error (Slack's error code, or the exception "
    "class when no answer came; none when ok).",
    ["method", "error"],
)
SLACK_API_SECONDS = Histogram(
    "ticket_bot_slack_api_call_seconds",
    "Slack Web API call duration by method, retries and their waits included.",
    ["method"],
    buckets=CALL_BUCKETS,
)
SLACK_RATE_LIMIT_WAITS = Histogram(
    "ticket_bot_slack_rate_limit_wait_seconds",
    "Waits after a 429 from Slack before retrying (Retry-After), by method; "
    "_count is the number of 429s retried.",
    ["method"],
    buckets=(1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
)
HELPDESK_CALLS = Counter(
    "ticket_bot_helpdesk_requests_total",
    "Helpdesk calls by backend, operation (the gateway method) and error (the gateway "
    "error class, e.g. Unavailable, NotFound; none when ok).",
    ["backend", "operation", "error"],
)
HELPDESK_SECONDS = Histogram(
    "ticket_bot_helpdesk_request_seconds",
    "Helpdesk call duration by backend and operation (a log-in on the way included).",
    ["backend", "operation"],
    buckets=CALL_BUCKETS,
)
DELIVERIES = Counter(
    "ticket_bot_outbox_deliveries_total",
    "Outbox entries by job kind and outcome: delivered, retry (an attempt failed), "
    "dead_letter, handed_back (unfinished at shutdown, kind any).",
    ["kind", "outcome"],
)
POLL_CYCLE_SECONDS = Histogram(
    "ticket_bot_poll_cycle_seconds",
    "Duration of each helpdesk poll cycle; _count is the number of cycles.",
    buckets=POLL_BUCKETS,
)
POLL_REQUESTS = Counter(
    "ticket_bot_poll_helpdesk_requests_total", "Requests the poll cycles made to the helpdesk."
)
POLL_CHANGES = Counter(
    "ticket_bot_poll_changes_total",
    "What the poll cycles found and posted into threads: conversation, status "
    "(a status or priority change).",
    ["change"],
)
WEBHOOKS = Counter(
    "ticket_bot_webhooks_total",
    "Helpdesk webhook requests at /hooks/<backend>/<secret>, by HTTP status answered.",
    ["status"],
)


def label(value: object) -> str:
    """`value` as a label value when it is a plain bounded name, else "other"."""
    text = str(value)
    return text if _NAME.fullmatch(text) else "other"


def outcome_of(status_line: str) -> str:
    code = status_line[:1]
    return "ok" if code in "23" else "rejected" if code == "4" else "error"


# --- the sync side's reports ---------------------------------------------------------


class SyncMetrics(SyncObserver):
    """Counts what the sync worker reports (bot/sync/observe.py)."""

    def delivery(self, kind: str, outcome: str) -> None:
        DELIVERIES.labels(label(kind), label(outcome)).inc()

    def poll_cycle(self, seconds: float, requests: int, posted: int, changes: int) -> None:
        POLL_CYCLE_SECONDS.observe(seconds)
        POLL_REQUESTS.inc(requests)
        POLL_CHANGES.labels("conversation").inc(posted)
        POLL_CHANGES.labels("status").inc(changes)

    def webhook(self, status: str) -> None:
        WEBHOOKS.labels(label(status)).inc()


# --- command → views.open ------------------------------------------------------------


class TriggerClock:
    """When each recent request carrying a trigger_id arrived, until the views.open it
    leads to goes out. Bounded: entries expire after `ttl` seconds (a trigger_id is
    dead after about 3 s) and the oldest go past `limit`."""

    def __init__(self, ttl: float = 30.0, limit: int = 10_000) -> None:
        self.ttl = ttl
        self.limit = limit
        self._arrivals: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def arrived(self, trigger_id: str, surface: str, at: float) -> None:
        with self._lock:
            self._arrivals[trigger_id] = (at, surface)
            self._expire(at)

    def opened(self, trigger_id: str, at: float) -> None:
        """A views.open for `trigger_id` goes out now: observe how long it took."""
        with self._lock:
            arrival = self._arrivals.pop(trigger_id, None)
        if arrival is not None:
            MODAL_SECONDS.labels(arrival[1]).observe(max(0.0, at - arrival[0]))

    def _expire(self, now: float) -> None:
        while self._arrivals:
            oldest, (at, _) = next(iter(self._arrivals.items()))
            if now - at <= self.ttl and len(self._arrivals) <= self.limit:
                return
            del self._arrivals[oldest]


#: this process's clock: the request middleware notes arrivals, the Web API client opens
TRIGGERS = TriggerClock()


# --- the outbox, read at scrape time -------------------------------------------------


class OutboxCollector(Collector):
    """The outbox's depth, pending entries, oldest entry's age and dead letters, read from
    Redis at each scrape; `ticket_bot_redis_up` 0 when Redis does not answer."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            figures = self.store.outbox_figures()
        except redis.RedisError as exc:
            log.warning("metrics: Redis did not answer (%s)", type(exc).__name__)
            yield GaugeMetricFamily("ticket_bot_redis_up", "Redis answered the scrape.", 0)
            return
        yield GaugeMetricFamily("ticket_bot_redis_up", "Redis answered the scrape.", 1)
        yield GaugeMetricFamily(
            "ticket_bot_outbox_depth",
            "Outbox entries not delivered yet (pending ones included).",
            figures.depth,
        )
        yield GaugeMetricFamily(
            "ticket_bot_outbox_pending",
            "Outbox entries read by a worker and not finished.",
            figures.pending,
        )
        yield GaugeMetricFamily(
            "ticket_bot_outbox_oldest_age_seconds",
            "Age of the oldest undelivered outbox entry; 0 when the outbox is empty.",
            figures.oldest_age,
        )
        yield GaugeMetricFamily(
            "ticket_bot_outbox_dead_letters",
            "Entries in the dead-letter stream (capped; see deliveries_total for the rate).",
            figures.dead_letters,
        )


class _ThisProcess(Collector):
    """The default registry's metrics (one process: no multiprocess directory)."""

    def collect(self) -> Iterable[object]:  # type: ignore[override]
        return REGISTRY.collect()


# --- exposition -----------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def registry_for(store: Store) -> CollectorRegistry:
    """What `/metrics` shows in this process: every worker's figures under gunicorn
    (multiprocess), else this process's, and the outbox figures from Redis."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(OutboxCollector(store))
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve_metrics(port: int, registry: CollectorRegistry) -> None:
    """`ticket-bot worker --metrics-port N`: GET /metrics on its own port, on a thread."""
    start_http_server(port, addr="0.0.0.0", registry=registry)  # noqa: S104 (scraped from outside)
    log.info("metrics at http://0.0.0.0:%d/metrics", port)
