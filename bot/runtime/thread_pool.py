"""A thread pool that keeps few threads running Python and adds one per thread stuck waiting.

Why not `ThreadPoolExecutor`: it starts a new thread whenever none is idle, so a
burst of work that is quick (Slack answering in a millisecond) runs on dozens of
threads at once. They all want the GIL, and the request threads that must ack
within Slack's 3 s queue behind them: measured with bench/ack_latency.py, 32
such threads doubled the CPU a `/ticket new` costs. Work that waits on the
network (Slack or a helpdesk taking seconds) does need many threads, though.

So this pool runs `running` threads, and only when fewer than `running` have
been on their task for less than `stuck_after` seconds — the others waiting on a
socket, not computing — does it start a stand-in for each stuck thread, up to
`limit` threads. Threads beyond `running` retire after `idle_for` seconds
without work.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

Task = tuple[Callable[[], Any], "Future[Any]"]


class ElasticPool:
    def __init__(
        self,
        name: str,
        *,
        running: int,
        limit: int,
        stuck_after: float = 0.05,
        idle_for: float = 60.0,
    ) -> None:
        if not 1 <= running <= limit:
            raise ValueError("need 1 <= running <= limit")
        self.name = name
        self.running = running
        self.limit = limit
        self.stuck_after = stuck_after
        self.idle_for = idle_for
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # workers wait here for tasks
        self._watch = threading.Condition(self._lock)  # the watcher waits here for a queue
        self._queue: deque[Task] = deque()
        self._started_at: dict[int, float] = {}  # worker number -> when its task began
        self._threads = 0
        self._idle = 0
        self._numbers = itertools.count(1)
        self._watcher: threading.Thread | None = None

    @property
    def threads(self) -> int:
        with self._lock:
            return self._threads

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            self._queue.append((fn, future))
            if self._idle:
                self._work.notify()
            elif self._threads < self.running:
                self._start_worker()
            else:
                self._start_watcher()
                self._watch.notify()
        return future

    def _start_worker(self) -> None:
        self._threads += 1
        number = next(self._numbers)
        thread = threading.Thread(
            target=self._work_loop, args=(number,), name=f"{self.name}-{number}", daemon=True
        )
        thread.start()

    def _start_watcher(self) -> None:
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch_loop, name=f"{self.name}-watcher", daemon=True
            )
            self._watcher.start()

    def _work_loop(self, number: int) -> None:
        while True:
            with self._lock:
                task = self._next_task()
                if task is None:
                    self._threads -= 1
                    return
                self._started_at[number] = time.monotonic()
            fn, future = task
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)
            with self._lock:
                del self._started_at[number]

    def _next_task(self) -> Task | None:
        """The next task; None when this thread is one too many and has idled long enough."""
        deadline = time.monotonic() + self.idle_for
        while not self._queue:
            timeout = None
            if self._threads > self.running:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    return None
            self._idle += 1
            try:
                self._work.wait(timeout)
            finally:
                self._idle -= 1
        return self._queue.popleft()

    def _watch_loop(self) -> None:
        with self._lock:
            while True:
                if not self._queue:
                    self._watch.wait()
                    continue
                self._stand_in_for_stuck(time.monotonic())
                self._watch.wait(timeout=self.stuck_after / 2)

    def _stand_in_for_stuck(self, now: float) -> None:
        if self._idle:
            return
        stuck = sum(1 for began in self._started_at.values() if now - began >= self.stuck_after)
        moving = self._threads - stuck  # busy for a short while, or just started
        if moving >= self.running:
            return
        # one stand-in per stuck thread: while everything waits on a slow peer the pool
        # doubles every `stuck_after`, rather than crawling up while triggers expire
        for _ in range(min(stuck, len(self._queue), self.limit - self._threads)):
            self._start_worker()
