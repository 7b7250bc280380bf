"""LOG_FORMAT=json: one JSON object a line, with the ids where known, secrets masked."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from bot.log_context import log_ids
from bot.runtime import logs
from bot.runtime.executors import Executors
from bot.runtime.settings import ConfigError, load_settings
from tests.support.logs import json_logs_written, lines

SECRET = "xoxb-1234-secret-token"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    with json_logs_written([SECRET]) as written:
        yield written


def test_a_line_is_one_json_object_with_the_ids_bound_and_no_secret(
    json_logs: io.StringIO,
) -> None:
    with log_ids(job_id="1700000000000-0", ticket_id="42", slack_request_id=None):
        logging.getLogger("bot.sync.worker").warning("sending with %s failed", SECRET)
    logging.getLogger("bot.x").info("no ids here")

    first, second = lines(json_logs)
    assert first["level"] == "WARNING" and first["logger"] == "bot.sync.worker"
    assert first["message"] == "sending with *** failed"
    assert (first["job_id"], first["ticket_id"]) == ("1700000000000-0", "42")
    assert "slack_request_id" not in first and SECRET not in json.dumps(first)
    assert str(first["time"]).endswith("+00:00")
    assert "job_id" not in second


def test_an_exception_is_a_field_of_its_line(json_logs: io.StringIO) -> None:
    try:
        raise RuntimeError(f"token {SECRET}")
    except RuntimeError:
        logging.getLogger("bot").exception("it failed")
    [line] = lines(json_logs)
    assert "RuntimeError" in str(line["exception"]) and SECRET not in str(line["exception"])


def test_work_handed_on_after_the_ack_keeps_the_requests_id(
    json_logs: io.StringIO,
) -> None:
    executors, done = Executors.create(), threading.Event()

    def work() -> None:
        logging.getLogger("bot.desk").info("on another thread")
        done.set()

    with log_ids(slack_request_id="Ev042"):
        executors.defer(work)
    assert done.wait(5)
    assert executors.shutdown(5)
    [line] = lines(json_logs)
    assert line["slack_request_id"] == "Ev042"


def test_log_format_takes_text_or_json_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.problems == [
        "LOG_FORMAT is malformed: text, or json (one JSON object a line)"
    ]


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_slack_sdk_formats_its_debug_lines_only_at_debug(level: str) -> None:
    """slack_sdk builds its debug lines (whole request bodies) when its logger's own level
    is unset or DEBUG, whatever the root's level: set, it does so only at LOG_LEVEL=DEBUG."""
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    try:
        logs.configure(level, [SECRET], stream=io.StringIO())
        for name in logs.SLACK_SDK_LOGGERS:
            builds_lines = logging.getLogger(name).level <= logging.DEBUG  # slack_sdk's test
            assert builds_lines == (level == "DEBUG")
    finally:
        for name in logs.SLACK_SDK_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(root_level)
