"""The elastic pool behind after_ack: few threads for quick work, stand-ins for stuck ones."""

from __future__ import annotations

import threading
import time

import pytest

from bot.runtime.thread_pool import ElasticPool

WAIT = 5.0


def wait_until(check: object, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_results_and_errors_reach_the_future() -> None:
    pool = ElasticPool("t", running=1, limit=2)

    def fail() -> None:
        raise ValueError("no")

    assert pool.submit(lambda: 42).result(WAIT) == 42
    error = pool.submit(fail).exception(WAIT)
    assert isinstance(error, ValueError)
    assert pool.submit(lambda: "still working").result(WAIT) == "still working"


def test_quick_work_stays_on_the_running_threads() -> None:
    """A burst of quick tasks does not start a thread per task (ThreadPoolExecutor would)."""
    pool = ElasticPool("t", running=2, limit=32, stuck_after=1.0)
    names: set[str] = set()

    def quick() -> None:
        names.add(threading.current_thread().name)
        sum(range(2000))

    futures = [pool.submit(quick) for _ in range(300)]
    for future in futures:
        future.result(WAIT)
    assert len(names) <= 2
    assert pool.threads <= 2


def test_threads_stuck_waiting_get_stand_ins_up_to_the_limit() -> None:
    pool = ElasticPool("t", running=2, limit=6, stuck_after=0.05)
    release = threading.Event()
    started = threading.Semaphore(0)
    inside = []

    def stuck() -> None:
        inside.append(1)
        started.release()
        release.wait(WAIT)

    futures = [pool.submit(stuck) for _ in range(10)]
    try:
        assert wait_until(lambda: len(inside) == 6), f"only {len(inside)} of 6 started"
        time.sleep(0.3)  # several watcher rounds: still no more than the limit
        assert len(inside) == 6
        assert pool.threads == 6
    finally:
        release.set()
    for future in futures:
        future.result(WAIT)
    assert len(inside) == 10


def test_stand_ins_retire_after_idling() -> None:
    pool = ElasticPool("t", running=1, limit=4, stuck_after=0.05, idle_for=0.2)
    release = threading.Event()
    futures = [pool.submit(lambda: release.wait(WAIT)) for _ in range(4)]
    assert wait_until(lambda: pool.threads == 4)
    release.set()
    for future in futures:
        future.result(WAIT)
    assert wait_until(lambda: pool.threads == 1), f"{pool.threads} threads left"
    assert pool.submit(lambda: "after retiring").result(WAIT) == "after retiring"


def test_running_must_fit_in_the_limit() -> None:
    with pytest.raises(ValueError, match="running <= limit"):
        ElasticPool("t", running=3, limit=2)
