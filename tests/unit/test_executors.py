"""The runtime's executors: the modal hand-over, never raising, draining on shutdown."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.runtime.executors import Executors


def one_modal_thread() -> Executors:
    return Executors(ThreadPoolExecutor(1), ThreadPoolExecutor(2))


def test_urgent_work_returns_only_once_a_modal_thread_has_started_it() -> None:
    """With the only modal thread busy, the listener (and so the ack) waits for it."""
    executors = one_modal_thread()
    gate, first_done, seen_when_returned = threading.Event(), threading.Event(), []

    def first() -> None:
        gate.wait(10)
        first_done.set()

    executors.defer(first, urgent=True)

    def listener() -> None:
        executors.defer(lambda: None, urgent=True)
        seen_when_returned.append(first_done.is_set())

    waiting = threading.Thread(target=listener)
    waiting.start()
    waiting.join(0.2)  # a wrong hand-over would have returned by now; a right one never does
    assert waiting.is_alive()
    gate.set()
    waiting.join(10)
    assert seen_when_returned == [True]
    assert executors.shutdown(10)


def test_work_that_raises_is_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    executors = one_modal_thread()
    with caplog.at_level(logging.ERROR, logger="bot.runtime.executors"):
        executors.defer(lambda: 1 / 0)
        executors.defer(lambda: 1 / 0, urgent=True)
        assert executors.shutdown(10)
    assert [r.getMessage() for r in caplog.records] == ["work after an ack failed"] * 2


def test_shutdown_finishes_queued_work_and_what_it_hands_on() -> None:
    """A loading view's form, handed on by the modal's work while the process stops."""
    executors = one_modal_thread()
    done: list[str] = []

    def modal() -> None:
        done.append("modal")
        executors.defer(lambda: done.append("form"))

    executors.defer(modal, urgent=True)
    assert executors.shutdown(10)
    assert done == ["modal", "form"]


def test_work_deferred_after_shutdown_runs_on_the_callers_thread() -> None:
    executors = one_modal_thread()
    assert executors.shutdown(10)
    ran_on: list[threading.Thread] = []
    executors.defer(lambda: ran_on.append(threading.current_thread()))
    assert ran_on == [threading.current_thread()]
