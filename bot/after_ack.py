"""Work that runs after a listener has acked, off the request's thread.

The app runs Bolt with `process_before_response=True`: a listener runs on the
request's thread and Slack gets its answer when the listener returns. So every
listener acks, hands the rest to `after_ack` and returns at once. The work
never raises (Bolt 1.30 would otherwise turn a failure after the ack into an
error answer). Work bound to a trigger id, which dies 3 s after the command,
goes to its own pool so that it never queues behind slow helpdesk calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

_workers = ThreadPoolExecutor(max_workers=64, thread_name_prefix="after-ack")
_urgent = ThreadPoolExecutor(max_workers=32, thread_name_prefix="after-ack-urgent")


def after_ack(work: Callable[[], object], *, urgent: bool = False) -> None:
    """Run `work` soon; `urgent` for what must reach Slack within a trigger's life."""

    def run() -> None:
        try:
            work()
        except Exception:
            log.exception("work after an ack failed")

    (_urgent if urgent else _workers).submit(run)
