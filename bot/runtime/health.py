"""Health from a background probe: `GET /healthz` reads the last result, never waits.

A load balancer may ask `/healthz` many times a second; asking Redis and the
helpdesk inline would put a slow helpdesk between Slack's requests and the
threads that answer them. So one daemon thread per serving process checks both
every `every` seconds and keeps the result, failures included; a request only
reads it. Until the first check has finished the answer is "starting" (503).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from bot.gateway import GatewayError, TicketGateway
from bot.store import Store

log = logging.getLogger(__name__)

PROBE_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class Health:
    """One probe's result: healthy when `problems` is empty."""

    problems: tuple[str, ...]
    checked_at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        return "\n".join(self.problems) or "ok"


STARTING = Health(("starting: the first health check has not finished",), checked_at=0.0)


class HealthProbe:
    def __init__(
        self, store: Store, gateway: TicketGateway, every: float = PROBE_EVERY_SECONDS
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.every = every
        self.latest = STARTING
        self._stop = threading.Event()
        self._checked = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> HealthProbe:
        self._thread = threading.Thread(target=self._run, name="health-probe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def check_now(self) -> Health:
        """Probe once on this thread and keep the result."""
        problems = []
        if not self.store.ping():
            problems.append("redis: not answering")
        helpdesk = self._helpdesk_problem()
        if helpdesk:
            problems.append(f"helpdesk: {helpdesk}")
        with self._checked:
            self.latest = Health(tuple(problems))
            self._checked.notify_all()
        return self.latest

    def wait_for_check_after(self, moment: float, timeout: float) -> Health:
        """The first result checked after `moment` (for tests and start-up waits)."""
        with self._checked:
            self._checked.wait_for(lambda: self.latest.checked_at > moment, timeout)
            return self.latest

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check_now()
            except Exception as exc:  # a bug in a check must not end the probing
                log.warning("health check failed: %s", type(exc).__name__)
            self._stop.wait(self.every)

    def _helpdesk_problem(self) -> str | None:
        try:
            if self.gateway.capabilities.categories:
                self.gateway.list_categories()
            else:
                self.gateway.list_priorities()
        except GatewayError as exc:
            return type(exc).__name__
        return None
