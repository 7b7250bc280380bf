"""The threads that run what listeners hand on after acking.

The app runs Bolt with `process_before_response=True`: a listener runs on the
request's thread and Slack gets its answer when the listener returns, so a job that
must be durable before Slack hears back (a reply for the outbox) is. A listener acks
and hands the rest on:

- work that waits on the helpdesk goes to `after_ack`, so it never holds an answer;
- the modal (`urgent`, bound to a trigger id that lives 3 s) runs on the request's own
  thread once the answer is sent (`answer_first`, bot/runtime/web.py): what a bare Bolt
  app does on its listener thread, with no hand-over between threads on the way to
  `views.open`. At most `MODAL_THREADS` requests do so at once; the next one's answer
  waits for one of them to finish, so a burst of commands cannot queue modals faster
  than they open. Outside an HTTP request (Socket Mode) the modal goes to `modals`,
  and the listener returns once a thread of that pool has *started* it.

Both are plain `ThreadPoolExecutor`s, created by the runtime for each process and shut
down, queued work first, before it closes its clients. The sizes, and the alternatives
measured: docs/performance.md, "Modal latency".
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

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

Job = Callable[[], None]
#: the modals a Slack request's listener left for its own thread, once the answer is
#: sent (`answer_first`); None outside a request served that way
_after_answer: contextvars.ContextVar[list[Job] | None] = contextvars.ContextVar(
    "after_answer", default=None
)


@contextmanager
def answer_first() -> Iterator[list[Job]]:
    """Around a listener that runs on the request's thread: an urgent `defer` inside it
    adds its work to the list yielded, which the caller runs on this same thread once the
    answer has been sent (bot/runtime/web.py), instead of handing it to a modal thread."""
    jobs: list[Job] = []
    token = _after_answer.set(jobs)
    try:
        yield jobs
    finally:
        _after_answer.reset(token)


def _nothing() -> None:
    pass


@dataclass
class Executors:
    """One process's executors; `defer` is what the desk and the listeners call (`Defer`)."""

    modals: Executor
    after_ack: Executor
    #: how many requests may open their modal after their answer at once (`answer_first`)
    request_threads: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(MODAL_THREADS)
    )

    @classmethod
    def create(cls) -> Executors:
        return cls(
            ThreadPoolExecutor(MODAL_THREADS, thread_name_prefix="modal"),
            ThreadPoolExecutor(AFTER_ACK_THREADS, thread_name_prefix="after-ack"),
        )

    def defer(self, work: Callable[[], object], *, urgent: bool = False) -> None:
        """Run `work` after the ack; `urgent` (a trigger id waits): on the request's thread
        after its answer, or this returns only once a modal thread has started it. Never
        raises, here or there: a listener that raised after its ack would turn the answer
        into an error (Bolt 1.30 resets the ack)."""
        started = threading.Event()

        def run() -> None:
            started.set()
            try:
                work()
            except Exception:
                log.exception("work after an ack failed")

        context = contextvars.copy_context()  # the request's log ids go along
        if urgent and self._after_answer(context, run):
            return
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

    def _after_answer(self, context: contextvars.Context, run: Job) -> bool:
        """Leave the modal to the request's own thread, after its answer (`answer_first`):
        no hand-over between threads on the way to `views.open`. At most `MODAL_THREADS`
        requests do so at once; the next one waits here, before its answer, for one of
        them to finish, as a bare Bolt app's ack waits for a free listener thread. That
        keeps a burst of commands from opening more modals at once than the GIL serves
        well, and a Slack slow to answer from holding every request thread."""
        jobs = _after_answer.get()
        if jobs is None:
            return False
        if self.request_threads.acquire(timeout=HAND_OVER_SECONDS):
            release: Callable[[], object] = self.request_threads.release
        else:
            log.warning("every modal thread busy for %.0f s; acked anyway", HAND_OVER_SECONDS)
            release = _nothing

        def job() -> None:
            try:
                context.run(run)
            finally:
                release()

        jobs.append(job)
        return True

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
