"""The lookup cache: stale-while-revalidate, one load at a time per value."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from bot.store.base import JsonValue, StoreBase

log = logging.getLogger(__name__)

REFRESH_LOCK_MS = 30_000
WAIT_POLL_SECONDS = 0.05


class LookupCache(StoreBase):
    _refreshers: ThreadPoolExecutor
    _loading: dict[str, Future[Any]]
    _loading_lock: threading.Lock

    def _start_cache(self) -> None:
        self._refreshers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cache-refresh")
        self._loading = {}  # loads under way in this process
        self._loading_lock = threading.Lock()

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

    def cached_only(
        self, loaders: dict[str, Callable[[], JsonValue]], *, ttl: float, stale_ttl: float
    ) -> list[JsonValue] | None:
        """The values under the names of `loaders`, read in one round trip, never waiting for
        a load: None when one is missing; a stale one is refreshed in the background."""
        if not loaders:
            return []
        raws = self.redis.mget([self.keys.cache(name) for name in loaders])
        values = []
        now = time.time()
        for (name, loader), raw in zip(loaders.items(), raws, strict=True):
            if raw is None:
                return None
            entry = json.loads(raw)
            if entry["fresh_until"] <= now:
                self._refresh_in_background(name, loader, ttl, stale_ttl)
            values.append(entry["value"])
        return values

    def cached_or_warm(
        self, name: str, loader: Callable[[], JsonValue], *, ttl: float, stale_ttl: float
    ) -> JsonValue | None:
        """The value under `name`, fresh or stale, never waiting for a load: None when
        there is none yet, while one caller loads it in the background for next time."""
        entry = self._read_entry(name)
        if entry is None or entry["fresh_until"] <= time.time():
            self._refresh_in_background(name, loader, ttl, stale_ttl)
        return None if entry is None else entry["value"]

    def peek(self, name: str) -> JsonValue | None:
        """The cached value, fresh or stale, without loading anything."""
        entry = self._read_entry(name)
        return None if entry is None else entry["value"]

    def _read_entry(self, name: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.cache(name))
        return None if raw is None else dict(json.loads(raw))

    def _load(self, name: str, loader: Callable[[], JsonValue], ttl: float, stale: float) -> Any:
        value = loader()
        entry = {"value": value, "fresh_until": time.time() + ttl}
        self.redis.set(self.keys.cache(name), json.dumps(entry), px=int((ttl + stale) * 1000))
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
        lock = self.keys.cache_lock(name)
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
        lock = self.keys.cache_lock(name)
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
