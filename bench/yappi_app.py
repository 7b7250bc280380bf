"""A WSGI app profiled with yappi (CPU clock, every thread) between two marks: for
bench/ack_profile.py, which serves both apps of bench/ack_latency.py through it.

PROF_APP names the app (`module:attr`, or `module:factory()`); the profile starts when
the file PROF_CTL says `start` and is saved when it says `stop`, as pstats files under
PROF_OUT: `<n>.<thread id>.pstat` (n counts the stops) and `<n>.threads.tsv`. yappi is a
tool, not a dependency: `.venv/bin/pip install yappi`.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import yappi


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    if attr.endswith("()"):
        return getattr(importlib.import_module(module), attr[:-2])()
    return getattr(importlib.import_module(module), attr)


def _save(out: Path, n: int) -> None:
    threads = list(yappi.get_thread_stats())
    lines = [f"{t.name}\t{t.id}\t{t.ttot:.4f}\t{t.sched_count}\n" for t in threads]
    (out / f"{n}.threads.tsv").write_text("".join(lines))
    for thread in threads:
        yappi.get_func_stats(ctx_id=thread.id).save(str(out / f"{n}.{thread.id}.pstat"), "pstat")


def _watch(control: Path, out: Path) -> None:
    running, stops = False, 0
    while True:
        time.sleep(0.05)
        try:
            command = control.read_text().strip()
        except OSError:
            continue
        if command == "start" and not running:
            yappi.set_clock_type("cpu")
            yappi.clear_stats()
            yappi.start(builtins=False, profile_threads=True)
            running = True
        elif command == "stop" and running:
            yappi.stop()
            running, stops = False, stops + 1
            _save(out, stops)


app = _load(os.environ["PROF_APP"])
threading.Thread(
    target=_watch,
    args=(Path(os.environ["PROF_CTL"]), Path(os.environ["PROF_OUT"])),
    daemon=True,
    name="yappi-control",
).start()
