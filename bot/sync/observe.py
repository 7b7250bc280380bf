"""What the sync side reports as it works: deliveries, poll cycles, webhook hits.

`SyncObserver` reports nowhere; the runtime passes one that counts them
(bot/runtime/metrics.py), so the sync code knows nothing of Prometheus. Every value
passed is a bounded name (a job kind, an outcome, a status code), never user text or an id.
"""

from __future__ import annotations


class SyncObserver:
    def delivery(self, kind: str, outcome: str) -> None:
        """An outbox entry of `kind` (reply, edit, delete, create, sync) was `outcome`:
        delivered, retry (an attempt failed, it waits), dead_letter; handed_back (kind "any")
        at shutdown."""

    def poll_cycle(self, seconds: float, requests: int, posted: int, changes: int) -> None:
        """A poll cycle took `seconds`, made `requests` to the helpdesk, posted `posted`
        conversations into threads and announced `changes` status or priority changes."""

    def webhook(self, status: str) -> None:
        """A webhook was answered with HTTP `status` ("202", "404", …)."""
