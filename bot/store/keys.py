"""Every Redis key and claim name the bot uses: the only place that spells them.

Keys live under one configurable prefix (`REDIS_PREFIX`). A claim is a key that
exactly one caller can take (`SET NX`); its name says what it guards.
"""

from __future__ import annotations


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # lookup cache (bot/store/cache.py)
    def cache(self, name: str) -> str:
        return self._key("cache", name)

    def cache_lock(self, name: str) -> str:
        return self._key("lock", "cache", name)

    # links, requesters, drafts, fingerprints (bot/store/links.py)
    def thread_link(self, channel: str, ts: str) -> str:
        return self._key("link", "thread", channel, ts)

    def ticket_link(self, ticket_id: str) -> str:
        return self._key("link", "ticket", ticket_id)

    def card_link(self, ticket_id: str) -> str:
        """Where a ticket's card is when it is a reply inside its thread (intake tickets)."""
        return self._key("link", "card", ticket_id)

    def agents_thread_link(self, channel: str, ts: str) -> str:
        """The ticket whose announcement in TICKET_AGENT_CHANNEL is this message: apart
        from `thread_link`, so that nothing takes the agents' thread for the requester's."""
        return self._key("link", "agents-thread", channel, ts)

    def agents_link(self, ticket_id: str) -> str:
        """Where a ticket's announcement in TICKET_AGENT_CHANNEL is."""
        return self._key("link", "agents", ticket_id)

    def linked(self) -> str:
        return self._key("linked")

    def requester(self, ticket_id: str) -> str:
        return self._key("requester", ticket_id)

    def requester_id(self, ticket_id: str) -> str:
        return self._key("requester-id", ticket_id)

    def requested_by(self, user_id: str) -> str:
        """The tickets created for one Slack user (a sorted set, scored by creation time)."""
        return self._key("requested", user_id)

    def dm_off(self, user_id: str) -> str:
        """Set when `user_id` switched off direct messages about their tickets (App Home)."""
        return self._key("dm-off", user_id)

    def dm_pending(self, ticket_id: str) -> str:
        """News for a ticket's requester not yet taken by a direct message (a list)."""
        return self._key("dm", "pending", ticket_id)

    def dm_sending(self, burst: str) -> str:
        """The lines one direct message took, kept until it is posted (a list)."""
        return self._key("dm", "sending", burst)

    def created(self, view_id: str) -> str:
        return self._key("created", view_id)

    def draft(self, view_id: str) -> str:
        return self._key("draft", view_id)

    def sent(self, ticket_id: str) -> str:
        return self._key("sent", ticket_id)

    # poll state (bot/store/poll.py)
    def poll_lease(self, ticket_id: str) -> str:
        return self._key("poll", "lease", ticket_id)

    def poll_cursor(self, ticket_id: str) -> str:
        return self._key("poll", "cursor", ticket_id)

    def poll_state(self, ticket_id: str) -> str:
        return self._key("poll", "state", ticket_id)

    def poll_retired(self) -> str:
        return self._key("poll", "retired")

    def poll_feed(self) -> str:
        """The helpdesk's change-feed cursor, one for the whole helpdesk."""
        return self._key("poll", "feed")

    # the outbox (bot/store/streams.py)
    def outbox(self) -> str:
        return self._key("outbox")

    def outbox_dead(self) -> str:
        return self._key("outbox", "dead")

    def outbox_attempts(self) -> str:
        return self._key("outbox", "attempts")

    def message_state(self, channel: str, ts: str) -> str:
        return self._key("outbox", "msg", channel, ts)

    # claims
    def claim(self, name: str) -> str:
        return self._key("claim", name)

    # --- a ticket's keys together ------------------------------------------------------

    def per_ticket(
        self,
        ticket_id: str,
        thread: tuple[str, str] | None,
        card: tuple[str, str] | None = None,
        agents: tuple[str, str] | None = None,
    ) -> list[str]:
        """Every key that belongs to one ticket, given its thread: they expire together
        once it retires from polling. A new per-ticket key must be listed here, unless it
        expires on its own (the sent fingerprints: 30 days after the last write; the lease)."""
        keys = [
            self.ticket_link(ticket_id),
            self.requester(ticket_id),
            self.requester_id(ticket_id),
            self.poll_cursor(ticket_id),
            self.poll_state(ticket_id),
        ]
        if thread is not None:
            keys.append(self.thread_link(*thread))
        if card is not None and card != thread:  # a card inside its thread (intake tickets)
            keys += [self.card_link(ticket_id), self.thread_link(*card)]
        if agents is not None:  # its announcement in the agents' channel
            keys += [self.agents_link(ticket_id), self.agents_thread_link(*agents)]
        return keys


# --- claim names: what each claim guards ---------------------------------------------


def create_claim(view_id: str) -> str:
    """One creation per modal submission."""
    return f"create:{view_id}"


def intake_claim(channel: str, ts: str) -> str:
    """One ticket per Slack message turned into a ticket (a reaction, an intake channel)."""
    return f"intake:{channel}:{ts}"


def click_claim(interaction: str) -> str:
    """One handling per click: `interaction` is the user and Slack's action_ts of it."""
    return f"click:{interaction}"


def card_change_lock(ticket_id: str) -> str:
    """One change at a time per ticket, so a double click's second one sees the first done."""
    return f"card-change:{ticket_id}"


def dm_burst_claim(ticket_id: str) -> str:
    """One direct message job per burst of a ticket's news; its value names the burst."""
    return f"dm-burst:{ticket_id}"


def event_claim(event_id: str) -> str:
    """One handling per Slack event id (Slack retries deliveries)."""
    return f"event:{event_id}"


def message_claim(channel: str, ts: str) -> str:
    """One mirrored reply per Slack message (the same message may come under two event ids)."""
    return f"msg:{channel}:{ts}"


def edit_claim(channel: str, ts: str, version: str) -> str:
    return f"edit:{channel}:{ts}:{version}"


def delete_claim(channel: str, ts: str) -> str:
    return f"delete:{channel}:{ts}"


def note_claim(note: str, channel: str, ts: str) -> str:
    """One thread note of the kind `note` per message or thread."""
    return f"{note}:{channel}:{ts}"
