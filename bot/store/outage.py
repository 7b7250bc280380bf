"""Redis out of reach: recognised, and told once per outage rather than once per request.

A request, a job or the health probe that cannot reach Redis calls `failed`;
the first call of an outage logs one line, later ones stay quiet. A successful
ping (the health probe's, every few seconds) ends the outage with one line more.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

log = logging.getLogger(__name__)

#: what "Redis cannot be reached" looks like (BusyLoadingError, ReadOnlyError: a restarting
#: or failing-over server, also out of reach for now)
UNREACHABLE: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.ReadOnlyError,
)


def is_unreachable(error: BaseException | None) -> bool:
    """Whether `error`, or what it was raised from, says Redis is out of reach."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, UNREACHABLE):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


class StoreOutage:
    def __init__(self, where: str = "Redis (REDIS_URL)") -> None:
        self.where = where
        self._lock = threading.Lock()
        self._since: float | None = None

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> bool:
        """Record a failure; True (and one log line) only for the first one of an outage."""
        with self._lock:
            if self._since is not None:
                return False
            self._since = time.monotonic()
        log.error(
            "cannot reach %s (%s); requests that need the store are refused until it answers",
            self.where,
            type(error).__name__,
        )
        return True

    def answered(self) -> None:
        with self._lock:
            since, self._since = self._since, None
        if since is not None:
            log.warning("%s answers again after %.0f s", self.where, time.monotonic() - since)
