"""The store against a real redis-server."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.store import Store, ThreadRef, connect


def test_cached_value_is_loaded_once_while_fresh(store: Store) -> None:
    calls = []

    def loader() -> list[str]:
        calls.append(1)
        return ["a", "b"]

    assert store.cached("cats", loader, ttl=10, stale_ttl=10) == ["a", "b"]
    assert store.cached("cats", loader, ttl=10, stale_ttl=10) == ["a", "b"]
    assert len(calls) == 1


def test_cached_value_expires_after_ttl_plus_stale(store: Store) -> None:
    store.cached("short", lambda: 1, ttl=0.1, stale_ttl=0.1)
    assert store.peek("short") == 1
    time.sleep(0.35)
    assert store.peek("short") is None
    assert store.cached("short", lambda: 2, ttl=0.1, stale_ttl=0.1) == 2


def test_stale_value_is_served_at_once_while_one_refresh_runs(store: Store) -> None:
    store.cached("tags", lambda: "old", ttl=0.05, stale_ttl=60)
    time.sleep(0.1)
    release = threading.Event()
    refreshes = []

    def slow_loader() -> str:
        refreshes.append(1)
        release.wait(5)
        return "new"

    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(lambda _: store.cached("tags", slow_loader, ttl=60, stale_ttl=60), range(10))
        )
    assert time.monotonic() - started < 1.0
    assert answers == ["old"] * 10
    time.sleep(0.1)
    assert len(refreshes) == 1
    release.set()
    deadline = time.monotonic() + 5
    while store.peek("tags") != "new":
        assert time.monotonic() < deadline, "the refresh never landed"
        time.sleep(0.02)
    assert store.cached("tags", slow_loader, ttl=60, stale_ttl=60) == "new"
    assert len(refreshes) == 1


def test_failed_refresh_keeps_serving_the_stale_value(store: Store) -> None:
    store.cached("cats", lambda: "old", ttl=0.05, stale_ttl=60)
    time.sleep(0.1)

    def broken() -> str:
        raise RuntimeError("helpdesk down")

    assert store.cached("cats", broken, ttl=60, stale_ttl=60) == "old"
    time.sleep(0.2)
    assert store.peek("cats") == "old"


def test_thread_link_round_trip(store: Store) -> None:
    thread = ThreadRef("C1", "1700000000.000100")
    assert store.ticket_for_thread(thread) is None
    store.link_thread("42", thread)
    assert store.ticket_for_thread(thread) == "42"
    assert store.thread_for_ticket("42") == thread
    assert store.linked_tickets() == {"42"}


def test_dedupe_key_is_claimed_exactly_once_by_20_threads(store: Store) -> None:
    barrier = threading.Barrier(20)

    def claim(_: int) -> bool:
        barrier.wait()
        return store.claim("event:Ev1", ttl_seconds=600)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(claim, range(20)))
    assert results.count(True) == 1


def test_claim_expires(store: Store) -> None:
    assert store.claim("click", ttl_seconds=0.1)
    assert not store.claim("click", ttl_seconds=0.1)
    time.sleep(0.2)
    assert store.claim("click", ttl_seconds=0.1)


def test_twenty_threads_adding_news_to_one_ticket_open_one_burst(store: Store) -> None:
    barrier = threading.Barrier(20)

    def add(n: int) -> bool:
        barrier.wait()
        return store.add_news("7", [f"line {n}"], f"burst-{n}", {"job": f"job {n}"}, 60)

    with ThreadPoolExecutor(20) as pool:
        opened = list(pool.map(add, range(20)))
    assert opened.count(True) == 1
    assert store.redis.xlen(store.keys.outbox()) == 1  # the job written with the claim
    (burst,) = [f"burst-{n}" for n, did in enumerate(opened) if did]
    assert sorted(store.take_news("7", burst)) == sorted(f"line {n}" for n in range(20))


def test_a_burst_keeps_its_lines_for_a_retry_and_later_news_opens_the_next(store: Store) -> None:
    assert store.add_news("7", ["one", "two"], "first", {"job": "1"}, 60)
    assert store.take_news("7", "first") == ["one", "two"]

    assert store.add_news("7", ["three"], "second", {"job": "2"}, 60)  # the first one ended
    assert store.take_news("7", "first") == ["one", "two"]  # its retry: the same lines
    store.news_sent("first")
    assert store.take_news("7", "second") == ["three"]
    assert store.take_news("7", "second") == ["three"]
    store.news_sent("second")
    assert store.pending_news("7") == []


def test_every_key_is_under_the_prefix(store: Store, redis_prefix: str) -> None:
    store.cached("x", lambda: 1, ttl=10, stale_ttl=10)
    store.link_thread("7", ThreadRef("C1", "1.2"))
    store.claim("y", 10)
    keys = list(store.redis.scan_iter("*"))
    mine = [k for k in keys if k.startswith(redis_prefix + ":")]
    assert len(mine) == 5
    assert all(k.startswith(redis_prefix + ":") for k in store.redis.scan_iter(f"*{redis_prefix}*"))


def test_embedded_store_says_it_is_for_one_process(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    embedded = connect(None, "emb")
    assert embedded.claim("a", 10) and not embedded.claim("a", 10)
    assert embedded.cached("c", lambda: [1], ttl=1, stale_ttl=1) == [1]
    assert any("one process only" in r.getMessage() for r in caplog.records)


def test_real_store_from_url(redis_url: str, redis_prefix: str) -> None:
    real = connect(redis_url, redis_prefix)
    assert real.ping()
    real.redis.delete(real.keys.claim("z"))
    assert real.claim("z", 10)
    real.release("z")


def test_a_missing_value_is_loaded_once_by_concurrent_callers(store: Store) -> None:
    loads = []

    def slow_loader() -> str:
        loads.append(1)
        time.sleep(0.3)
        return "value"

    with ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(lambda _: store.cached("cold", slow_loader, ttl=60, stale_ttl=60), range(10))
        )
    assert answers == ["value"] * 10
    assert len(loads) == 1


def test_fingerprints_recognise_sent_text_despite_whitespace(store: Store) -> None:
    store.remember_sent("5", "Ada Lovelace: it works\nnow")
    assert store.was_sent("5", "Ada Lovelace:  it works now ")
    assert not store.was_sent("5", "Ada Lovelace: it fails")
    assert not store.was_sent("6", "Ada Lovelace: it works now")
