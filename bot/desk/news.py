"""News for a ticket's requester, told in a direct message: one message per burst.

An agent's reply or a status change read from the helpdesk (bot/sync/poller.py), and
an agent's status or priority change on the card (cards.py), add lines to the ticket's
pending news in the store. The first lines of a burst also write the outbox job that
takes every line gathered by then, `window` seconds (TICKET_DM_WINDOW) later, and posts
them as one message (bot/sync/delivery.py). Nothing for the requester's own changes,
nothing when they switched direct messages off on App Home. Internal notes never come
here (invariant 9).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from bot.store import Store, ThreadRef
from bot.sync.outbox import DirectMessageJob, Outbox

#: TICKET_DM_WINDOW's default, in seconds
DEFAULT_WINDOW = 60.0
#: a burst whose job has not taken its lines this long past the window (a worker down):
#: the next news opens another burst, whose job then takes the lines of both
BURST_GRACE = 3600.0


@dataclass
class RequesterNews:
    store: Store
    #: seconds from a burst's first line to its direct message
    window: float = DEFAULT_WINDOW

    def tell(
        self, ticket_id: str, thread: ThreadRef, lines: list[str], *, by: str | None = None
    ) -> None:
        """Add `lines` (plain text) to the requester's next direct message about the ticket;
        `by`: the Slack user who made this change (no news to themselves)."""
        user_id = self.store.requester_id_of(ticket_id)
        if not lines or user_id is None or user_id == by:
            return
        if not self.store.wants_direct_messages(user_id):
            return
        job = DirectMessageJob(
            ticket_id=ticket_id,
            user_id=user_id,
            channel=thread.channel,
            thread_ts=thread.ts,
            burst=uuid.uuid4().hex,
        )
        due = time.time() + self.window
        fields = Outbox.fields(job, due)
        self.store.add_news(ticket_id, lines, job.burst, fields, self.window + BURST_GRACE)
