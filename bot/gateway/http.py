"""One pooled HTTP client per gateway, with retries that never repeat a write blindly.

Reads (idempotent requests) are retried on connection errors, timeouts and 5xx
with capped exponential backoff and full jitter. Writes are retried only when
nothing can have reached the server; once a write may have been received, a
missing or failed answer becomes `OutcomeUnknown` so that the caller can look
for the result instead of sending it twice.

Error messages carry the method, the path and a short reason: never a header,
a body or the base URL, so no secret can leak through them.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bot.gateway.errors import OutcomeUnknown, Unavailable

log = logging.getLogger(__name__)

#: the request never left this process, so sending it again cannot duplicate it
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: the request was (at least partly) received; the server may have acted on it
MAYBE_RECEIVED = (httpx.TimeoutException, httpx.ReadError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class Timeouts:
    """Seconds; `pool` is the wait for a free connection from the pool."""

    connect: float = 5.0
    read: float = 20.0
    write: float = 20.0
    pool: float = 5.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` counts the first try; delays are drawn from [0, min(cap, base * 2**n)]."""

    attempts: int = 3
    base: float = 0.25
    cap: float = 4.0

    def delay(self, retry_number: int) -> float:
        return random.uniform(0.0, min(self.cap, self.base * 2**retry_number))


class HttpTransport:
    """A shared `httpx.Client` plus the retry rules above."""

    def __init__(
        self,
        base_url: str,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 10,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._client = httpx.Client(
            # paths are relative ("support/…"): without the slash httpx would drop the
            # base URL's last segment, the API version
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            timeout=(timeouts or Timeouts()).to_httpx(),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
            follow_redirects=False,
        )

    def request(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        """Send; return any response below 500, raise `Unavailable`/`OutcomeUnknown` otherwise."""
        attempts = max(1, self.retry.attempts)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = self._client.request(method, path, **kwargs)
            except NOT_SENT as exc:
                if last:
                    raise Unavailable(_message(method, path, _reason(exc))) from None
            except MAYBE_RECEIVED as exc:
                if not idempotent:
                    raise OutcomeUnknown(_message(method, path, _reason(exc))) from None
                if last:
                    raise Unavailable(_message(method, path, _reason(exc))) from None
            except httpx.TransportError as exc:
                if not idempotent or last:
                    raise Unavailable(_message(method, path, _reason(exc))) from None
            else:
                log.debug("%s -> %s", _where(method, path), response.status_code)
                if response.status_code < 500:
                    return response
                reason = f"HTTP {response.status_code}"
                if not idempotent:
                    raise OutcomeUnknown(_message(method, path, reason))
                if last:
                    raise Unavailable(_message(method, path, reason))
            log.debug(
                "%s: attempt %d of %d failed, retrying",
                _where(method, path),
                attempt,
                attempts,
            )
            self._sleep(self.retry.delay(attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def get_bounded(
        self, path: str, limit: int, **kwargs: Any
    ) -> tuple[httpx.Response, bytes | None]:
        """A GET whose body is read while streaming; None instead of the body once it
        passes `limit` bytes (the rest is not read). One attempt: a download is cheap to
        ask for again later."""
        try:
            with self._client.stream("GET", path, **kwargs) as response:
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        return response, None
                    chunks.append(chunk)
        except httpx.TransportError as exc:
            raise Unavailable(_message("GET", path, _reason(exc))) from None
        if response.status_code >= 500:
            raise Unavailable(_message("GET", path, f"HTTP {response.status_code}"))
        return response, b"".join(chunks)

    def close(self) -> None:
        self._client.close()


def _reason(exc: httpx.TransportError) -> str:
    # The class name only: httpx messages may quote the URL, and a URL may hold credentials.
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return f"transport error ({type(exc).__name__})"


def _where(method: str, path: str) -> str:
    return f"{method} {path.split('?', 1)[0]}"  # the query string left out


def _message(method: str, path: str, reason: str) -> str:
    return f"{_where(method, path)}: {reason}"
