"""How the desk and the listeners hand work to after the ack (the runtime supplies it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Defer(Protocol):
    def __call__(self, work: Callable[[], object], *, urgent: bool = False) -> None:
        """Run `work` soon on another thread; never raises, and neither does `work` there.
        `urgent` when a trigger id is waiting (the modal): returns once a thread has
        started it, so the ack waits for a free one, as a bare Bolt app's would."""
