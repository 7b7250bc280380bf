"""A fresh PROMETHEUS_MULTIPROC_DIR for each `serve` start (bot/runtime/metrics.py).

Kept apart from the metrics module: this must run before prometheus_client is imported,
since prometheus_client chooses its multiprocess mode at import.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def fresh_multiprocess_dir() -> Iterator[str]:
    """An empty directory named in PROMETHEUS_MULTIPROC_DIR while the block runs, removed
    after: every gunicorn worker forked inside writes its figures there, and a restart
    does not count the last run's."""
    path = tempfile.mkdtemp(prefix="ticket-bot-metrics-")
    os.environ[MULTIPROC_ENV] = path
    creator = os.getpid()
    try:
        yield path
    finally:
        # a forked worker leaves through this block too: only the creator removes it
        if os.getpid() == creator:
            shutil.rmtree(path, ignore_errors=True)


def single_process() -> None:
    """One process counts in memory: a PROMETHEUS_MULTIPROC_DIR meant for gunicorn's
    workers (set for a whole container, say) would make it read and add up their files."""
    os.environ.pop(MULTIPROC_ENV, None)
