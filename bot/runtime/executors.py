"""The threads that run what listeners hand on after acking.

The app runs Bolt with `process_before_response=True`: a listener runs on the
request's thread and Slack gets its answer when the listener returns, so a job that
must be durable before Slack hears back (a reply for the outbox) is. A listener acks
and hands the rest on:

- work that waits on the helpdesk goes to `after_ack`, so it never holds an answer;
- the modal (`urgent`, bound to a trigger id that lives 3 s) goes to `modals`, and
  the listener returns once a thread of that pool has *started* it. That is what a bare
  Bolt app does (its `listener_executor` thread acks, then opens the modal), without
  Bolt's 10 ms ack polling: with every thread busy opening modals, the next ack waits
  for one, so a burst of commands cannot queue modals faster than they open. Handing
  the modal over without waiting measured 4-7x the bare app's views.open p99 in
  bench/ack_latency.py, because the acks ran ahead of the modals.

Both are plain `ThreadPoolExecutor`s, created by the runtime for each process and shut
down, queued work first, before it closes its clients. The sizes, and the alternatives
measured: docs/performance.md, "Modal latency".
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Bolt's own listener_executor has 5. Few threads keep the GIL for the threads that ack
#: (measured 1.3-2x the bare app's views.open p99 with 5-8, 2.5x with 16, 3x with 32);
#: 8 still opens 16 modals within a trigger's 3 s while Slack takes 0.8 s to answer each.
MODAL_THREADS = 8
#: helpdesk-bound work: mostly waiting on a socket, so many may wait at once
AFTER_ACK_THREADS = 32
#: how long a listener waits for a modal thread before it acks anyway: Slack wants the
#: ack within 3 s (the modal then most likely finds its trigger expired, and says so)
HAND_OVER_SECONDS = 2.0
#: how long a stopping process lets acked work finish before it closes its clients
DRAIN_SECONDS = 10.0


@dataclass
class Executors:
    """One process's executors; `defer` is what the desk and the listeners call (`Defer`)."""

    modals: Executor
    after_ack: Executor

    @classmethod
    def create(cls) -> Executors:
        return cls(
            ThreadPoolExecutor(MODAL_THREADS, thread_name_prefix="modal"),
            ThreadPoolExecutor(AFTER_ACK_THREADS, thread_name_prefix="after-ack"),
        )

    def defer(self, work: Callable[[], object], *, urgent: bool = False) -> None:
        """Run `work` on another thread; `urgent` (a trigger id waits) returns only once a
        modal thread has started it. Never raises, here or there: a listener that raised
        after its ack would turn the answer into an error (Bolt 1.30 resets the ack)."""
        started = threading.Event()

        def run() -> None:
            started.set()
            try:
                work()
            except Exception:
                log.exception("work after an ack failed")

        context = contextvars.copy_context()  # the request's log ids go along
        try:
            (self.modals if urgent else self.after_ack).submit(context.run, run)
        except RuntimeError:
            # the process is stopping and the executor takes no more work (at exit,
            # ThreadPoolExecutor refuses new work even before our shutdown runs): do it
            # on this thread, which the exit waits for, rather than drop acked work
            # such as the form a loading view waits for
            run()
            return
        if urgent and not started.wait(HAND_OVER_SECONDS):
            log.warning("every modal thread busy for %.0f s; acked anyway", HAND_OVER_SECONDS)

    def shutdown(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Let queued work finish, for at most `timeout` seconds; True when it all did.
        Modals first: a loading view hands its form to `after_ack`."""

        def drain() -> None:
            self.modals.shutdown(wait=True)
            self.after_ack.shutdown(wait=True)

        drainer = threading.Thread(target=drain, name="drain-executors", daemon=True)
        drainer.start()
        drainer.join(timeout)
        if drainer.is_alive():
            log.warning("work after an ack still running after %.0f s; stopping anyway", timeout)
            return False
        return True
