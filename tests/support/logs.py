"""The process's logging sent, as JSON lines, to a buffer a test reads; put back after."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator

from bot.runtime import logs


@contextlib.contextmanager
def json_logs_written(secrets: list[str] | None = None) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    written = io.StringIO()
    logs.configure("INFO", secrets or [], "json", stream=written)
    try:
        yield written
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def lines(written: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in written.getvalue().splitlines()]
