"""Where bench/ack_latency.py's two servers spend their CPU under its load.

    .venv/bin/pip install py-spy yappi      # tools for this script, into the venv only
    .venv/bin/python bench/ack_profile.py threads [ack_latency.py's options]
    .venv/bin/python bench/ack_profile.py yappi [ack_latency.py's options]

Runs ack_latency.py unchanged and adds, after its report:

- `threads`: the CPU seconds (user + system, /proc/<pid>/task) of each gunicorn worker's
  threads per phase, grouped by thread name (`modal`, `after-ack`, `outbox-lane`,
  `ThreadPoolExecutor-0` = gunicorn's request threads, `ThreadPoolExecutor-1` = the bare
  app's Bolt listener executor, …); the names come from `py-spy dump` at the phase's end;
- `yappi`: both apps served through bench/yappi_app.py, profiled with yappi's CPU clock in
  the warm `/ticket new` phases only; prints each app's functions by cumulative CPU time
  over those phases (a deterministic profiler: it slows the servers several times, and
  inflates code made of many small calls, such as a template; read it for proportions).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ack_latency

TICKS = os.sysconf("SC_CLK_TCK")
VENV_BIN = Path(sys.executable).parent
#: phase name -> thread name -> CPU seconds, over the rounds
BY_THREAD: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)


def thread_cpu(pid: int) -> dict[int, float]:
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            found[int(task.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    return found


def thread_names(pid: int) -> dict[int, str]:
    """OS thread id -> Python thread name, numbered suffixes dropped (modal_3 -> modal)."""
    dump = subprocess.run(
        [str(VENV_BIN / "py-spy"), "dump", "--pid", str(pid), "--json", "--nonblocking"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    with contextlib.suppress(ValueError):
        return {
            t["os_thread_id"]: re.sub(r"[-_]\d+$", "", t.get("thread_name") or "?")
            for t in json.loads(dump)
        }
    return {}


def by_thread(meter_phase: Any) -> Any:
    @contextlib.contextmanager
    def phase(self: ack_latency.CpuMeter, name: str) -> Iterator[None]:
        pids = [pid for server in self.servers.values() for pid in server.children()]
        before = {pid: thread_cpu(pid) for pid in pids}
        with meter_phase(self, name):
            yield
        for pid in pids:
            names = thread_names(pid)
            for tid, seconds in thread_cpu(pid).items():
                spent = seconds - before[pid].get(tid, 0.0)
                if spent > 0:
                    BY_THREAD[name][names.get(tid, "(ended)")] += spent

    return phase


def print_threads() -> None:
    print("\n5. CPU seconds by thread, per phase (both servers' workers, all rounds)")
    for name, spent in BY_THREAD.items():
        parts = ", ".join(f"{thread} {seconds:.2f}" for thread, seconds in spent.most_common())
        print(f"  {name}: {parts}")


def with_yappi(workdir: Path, stops: list[str]) -> None:
    serve, meter_phase = ack_latency.gunicorn, ack_latency.CpuMeter.phase

    def gunicorn(
        name: str, app: str, port: int, workers: int, env: dict[str, str], cwd: Path, *extra: str
    ) -> ack_latency.Server:
        out = workdir / name
        out.mkdir()
        env = {**env, "PROF_APP": app, "PROF_CTL": str(workdir / "control"), "PROF_OUT": str(out)}
        bench = str(Path(__file__).resolve().parent)
        return serve(name, "yappi_app:app", port, workers, env, cwd, *extra, "--pythonpath", bench)

    @contextlib.contextmanager
    def phase(self: ack_latency.CpuMeter, name: str) -> Iterator[None]:
        warm = "warm" in name
        if warm:
            (workdir / "control").write_text("start")
            time.sleep(0.2)  # the servers look every 50 ms
        with meter_phase(self, name):
            yield
        if warm:
            (workdir / "control").write_text("stop")
            stops.append(name.rpartition("-> ")[2])
            time.sleep(0.5)

    ack_latency.gunicorn = gunicorn  # type: ignore[assignment]
    ack_latency.CpuMeter.phase = phase  # type: ignore[method-assign]


def print_yappi(workdir: Path, stops: list[str]) -> None:
    for app in (ack_latency.BOT, ack_latency.BARE):
        files = [
            str(path)
            for n, loaded in enumerate(stops, start=1)
            if loaded == app
            for path in sorted((workdir / app).glob(f"{n}.*.pstat"))
        ]
        if not files:
            continue
        print(f"\n6. {app}, warm /ticket new phases: functions by cumulative CPU (yappi)")
        stats = pstats.Stats(files[0])
        for file in files[1:]:
            stats.add(file)
        stats.files = []  # not the list of one file per thread
        stats.sort_stats("cumulative").print_stats(40)


def main() -> int:
    mode = sys.argv.pop(1) if len(sys.argv) > 1 else ""
    if mode not in {"threads", "yappi"}:
        print(__doc__)
        return 2
    if mode == "threads":
        ack_latency.CpuMeter.phase = by_thread(ack_latency.CpuMeter.phase)  # type: ignore[method-assign]
        try:
            return ack_latency.main()
        finally:
            print_threads()
    stops: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ack-profile-") as scratch:
        workdir = Path(scratch)
        with_yappi(workdir, stops)
        try:
            return ack_latency.main()
        finally:
            print_yappi(workdir, stops)


if __name__ == "__main__":
    sys.exit(main())
