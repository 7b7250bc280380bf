"""Work that runs after a listener has acked, off the request's thread.

The app runs Bolt with `process_before_response=True`: a listener runs on the
request's thread and Slack gets its answer when the listener returns. So every
listener acks, hands the rest to an `AfterAck` and returns at once. The work
never raises (Bolt 1.30 would otherwise turn a failure after the ack into an
error answer). Work bound to a trigger id, which dies 3 s after the command,
goes to its own pool so that it never queues behind slow helpdesk calls.

The runtime owns one per process and injects it (bot/runtime/wiring.py); the
desk and the listeners see it as a `bot.desk.deferred.Defer`.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait

from bot.runtime.thread_pool import ElasticPool

log = logging.getLogger(__name__)

#: how long a stopping process lets acked work finish before it exits or closes its clients
DRAIN_SECONDS = 10


class AfterAck:
    def __init__(self) -> None:
        #: few threads run at once (see thread_pool.py); one waiting on a helpdesk gets a stand-in
        self._workers = ElasticPool("after-ack", running=4, limit=64)
        #: for views.open: quick work, but Slack may be slow to answer, and a trigger lives 3 s
        self._urgent = ElasticPool("after-ack-urgent", running=2, limit=64)
        self._pending: set[Future[None]] = set()
        self._pending_lock = threading.Lock()

    def __call__(self, work: Callable[[], object], *, urgent: bool = False) -> None:
        """Run `work` soon; `urgent` for what must reach Slack within a trigger's life."""

        def run() -> None:
            try:
                work()
            except Exception:
                log.exception("work after an ack failed")

        context = contextvars.copy_context()  # the request's log ids go along
        future = (self._urgent if urgent else self._workers).submit(lambda: context.run(run))
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    def drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Wait up to `timeout` seconds for queued work, and for work that work queues
        (a loading view's form), before the process closes its clients."""
        deadline = time.monotonic() + timeout
        while True:
            with self._pending_lock:
                waiting = set(self._pending)
            left = deadline - time.monotonic()
            if not waiting or left <= 0:
                return
            wait(waiting, timeout=left)
