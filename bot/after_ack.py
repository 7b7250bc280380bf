"""Work that runs after a listener has acked, off Bolt's listener thread.

Bolt (1.30) resets an ack when its listener raises afterwards, so a listener
that fails after `ack()` can leave Slack waiting 3 s for nothing. Listeners
therefore ack and hand everything else to `after_ack`, which never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

_workers = ThreadPoolExecutor(max_workers=64, thread_name_prefix="after-ack")


def after_ack(work: Callable[[], object]) -> None:
    def run() -> None:
        try:
            work()
        except Exception:
            log.exception("work after an ack failed")

    _workers.submit(run)
