"""What the metrics cost: the request middleware per Slack request, and one scrape.

Run by hand, never as a test:

    python bench/metrics_overhead.py [--requests 20000] [--workers 2]

The middleware in front of a WSGI app that only answers 200, against the same app
bare, for a slash command's form body (parsed, its trigger_id noted) and an event's
JSON body; the per-request difference is what counting costs. Then one `/metrics`
render in multiprocess mode, with `--workers` processes' files in a fresh
PROMETHEUS_MULTIPROC_DIR, each having counted the same requests (the outbox figures
left out: that is one Redis round trip).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COMMAND = urlencode(
    {"command": "/ticket", "text": "new Printer", "trigger_id": "1.2.abc", "user_id": "U1"}
).encode()
EVENT = json.dumps(
    {"type": "event_callback", "event": {"type": "message", "text": "x" * 200}}
).encode()


def bare(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    environ["wsgi.input"].read()
    start_response("200 OK", [])
    return [b""]


def per_request(app: Any, body: bytes, content_type: str, count: int) -> float:
    started = time.perf_counter()
    for n in range(count):
        environ = {
            "PATH_INFO": "/slack/events",
            "REQUEST_METHOD": "POST",
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body.replace(b"1.2.abc", f"1.2.{n}".encode())),
        }
        app(environ, lambda *args: None)
    return (time.perf_counter() - started) / count


def count_in_child(count: int) -> None:
    from prometheus_client import CollectorRegistry

    from bot.runtime.metrics_web import MetricsMiddleware

    middleware = MetricsMiddleware(bare, CollectorRegistry())
    per_request(middleware, COMMAND, "application/x-www-form-urlencoded", count)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")

    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    from bot.runtime.metrics_web import MetricsMiddleware

    middleware = MetricsMiddleware(bare, CollectorRegistry())
    for name, body, kind in (
        ("command", COMMAND, "application/x-www-form-urlencoded"),
        ("event", EVENT, "application/json"),
    ):
        without = per_request(bare, body, kind, args.requests)
        with_metrics = per_request(middleware, body, kind, args.requests)
        print(
            f"{name:8} bare {without * 1e6:6.1f} µs  with metrics {with_metrics * 1e6:6.1f} µs"
            f"  cost {(with_metrics - without) * 1e6:6.1f} µs a request"
        )

    children = [
        multiprocessing.get_context("fork").Process(target=count_in_child, args=(1000,))
        for _ in range(args.workers)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    started = time.perf_counter()
    text = generate_latest(registry)
    took = time.perf_counter() - started
    files = len(os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    print(
        f"scrape   {took * 1000:6.1f} ms for {files} files of {args.workers + 1} processes, "
        f"{len(text)} bytes"
    )


if __name__ == "__main__":
    main()
