"""News for a ticket's requester, gathered in bursts: one direct message takes a burst.

The lines wait in a list per ticket. The first lines of a burst take the burst's claim
and write the outbox entry that will deliver them, in one transaction with the lines:
no line waits without a job to take it, and one job serves the whole burst. The job
takes every pending line at once (they move to a list of its own until the message is
posted, so a retried attempt sends the same lines) and ends the burst: later lines
start the next one. (A job delivered again after its message went, its acknowledgement
lost, takes the next burst's lines early: they still go once.)
"""

from __future__ import annotations

from typing import Any

from bot.store.base import StoreBase
from bot.store.keys import dm_burst_claim

#: lines not taken, or taken and not posted, are kept this long (a worker down for days)
NEWS_TTL = 7 * 24 * 3600


class PendingNews(StoreBase):
    def add_news(
        self,
        ticket_id: str,
        lines: list[str],
        burst: str,
        job_fields: dict[str, str],
        burst_ttl: float,
    ) -> bool:
        """Add `lines` to the ticket's pending news. When no burst is open, this opens
        one named `burst` (its claim lasts `burst_ttl` seconds at most) and writes
        `job_fields` as an outbox entry, in the same transaction. True when it did."""
        pending = self.keys.dm_pending(ticket_id)
        claim = self.keys.claim(dm_burst_claim(ticket_id))

        opened = False

        def add(pipe: Any) -> None:  # run again when the claim changed under it
            nonlocal opened
            opened = not pipe.exists(claim)
            pipe.multi()
            pipe.rpush(pending, *lines)
            pipe.expire(pending, NEWS_TTL)
            if opened:
                pipe.set(claim, burst, px=max(1, int(burst_ttl * 1000)))
                pipe.xadd(self.keys.outbox(), job_fields)

        self.redis.transaction(add, claim)
        return opened

    def take_news(self, ticket_id: str, burst: str) -> list[str]:
        """The lines of `burst`'s message: on its first attempt every pending line, the
        burst ended; on a retried attempt the lines it took then."""
        pending = self.keys.dm_pending(ticket_id)
        taken = self.keys.dm_sending(burst)
        claim = self.keys.claim(dm_burst_claim(ticket_id))

        def take(pipe: Any) -> None:
            first_attempt = not pipe.exists(taken)
            has_lines = bool(pipe.exists(pending))
            ours = pipe.get(claim) == burst  # a claim that expired may be a newer burst's
            pipe.multi()
            if first_attempt and has_lines:
                pipe.rename(pending, taken)
                pipe.expire(taken, NEWS_TTL)
            if ours:
                pipe.delete(claim)

        self.redis.transaction(take, taken, pending, claim)
        return [str(line) for line in self.redis.lrange(taken, 0, -1)]

    def news_sent(self, burst: str) -> None:
        """`burst`'s message is posted: its lines are done with."""
        self.redis.delete(self.keys.dm_sending(burst))

    def pending_news(self, ticket_id: str) -> list[str]:
        """Lines waiting for the ticket's next direct message."""
        return [str(line) for line in self.redis.lrange(self.keys.dm_pending(ticket_id), 0, -1)]
