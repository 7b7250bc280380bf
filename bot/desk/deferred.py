"""How the desk and the listeners hand work to after the ack (the runtime supplies it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Defer(Protocol):
    def __call__(self, work: Callable[[], object], *, urgent: bool = False) -> None:
        """Run `work` soon, after the ack; never raises, and neither does `work` there.
        `urgent` when a trigger id is waiting (the modal): it runs on the request's own
        thread once the answer is sent, or the call returns once another thread has
        started it, so the next ack waits for a free thread, as a bare Bolt app's would."""
