"""Helpdesk → Slack: new conversations and status changes come back into the threads.

Every `TICKET_SYNC_INTERVAL` seconds the poller reads the detailed view of each
linked ticket that is not closed; a closed one every `closed_every`-th cycle,
for `TICKET_SYNC_CLOSED_DAYS` after the bot first saw it closed, then no more
(until the bot reopens it). Requests to the helpdesk share one token bucket
(`TICKET_SYNC_RATE` a second) across a small thread pool.

Per ticket, in Redis (bot.store, "poller"): a cursor, the highest conversation
id already posted or skipped, and the status and priority the thread last
showed. A ticket the desk linked starts with an empty cursor (every
conversation is new); one linked before any poller saw it starts at the
conversations it has at first sight, which are not posted. A conversation
whose text the bot itself wrote (`store.was_sent`) is never posted back.

Several pollers on one Redis: a poller polls a ticket only while it holds the
ticket's lease (`SET NX PX`, its own id as the value); it renews the lease
before each post, and advances the cursor right after each conversation,
only while it still holds the lease. After a poll the lease is kept for a
rest (`REST_FRACTION` of the interval): other pollers leave the ticket alone,
its holder polls it again next cycle, and if the holder dies another poller
takes over within an interval. What can still double: a conversation whose
post reached Slack but whose cursor write did not happen (a crash or a Redis
failure in that one round trip, or a post that succeeded after the Slack
client gave up on it) is posted again next time; a long text split over
several messages is then posted again whole, as it is when Slack refuses one
of its later messages. A file Slack refuses gets a thread note instead.

With a backend that has a change feed (`change_feed` in its capabilities, the
`ChangeFeed` protocol: RT's transaction ids), a cycle first asks which tickets
changed after the feed cursor (one request when nothing did) and polls only those
linked tickets, and the ones never seen yet; the first cycle, with no cursor yet,
polls every linked ticket once. The feed cursor moves only after a cycle in which
every changed ticket was read by this poller without error, with a compare-and-set
so that pollers sharing Redis never move it back; a ticket that failed or that
another poller held is read again next cycle. The per-ticket cursors above still
decide what is posted, so reading a ticket twice posts nothing twice. Internal
notes (`Conversation.public` False) are never posted into the ticket's thread nor
told in a direct message: with TICKET_AGENT_CHANNEL set they are posted in the
thread of the ticket's announcement there (bot/desk/agents.py), else nowhere.

Changes made with the card's buttons are recorded by the desk
(`store.remember_ticket_state`) and not announced again; a poll that read the
helpdesk between the helpdesk write and that record (one helpdesk round trip)
still announces it, unless the record lands before the card update.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk.cards import Cards, ticket_state
from bot.desk.explain import explain
from bot.desk.news import RequesterNews
from bot.gateway import (
    Attachment,
    Conversation,
    FileUpload,
    GatewayError,
    OutcomeUnknown,
    Ticket,
    TicketDetail,
    TicketGateway,
    Unauthorized,
    Unavailable,
)
from bot.gateway.base import ChangeFeed
from bot.log_context import log_ids
from bot.runtime.settings import Settings
from bot.slack.render import render
from bot.store import Store, ThreadRef, is_unreachable
from bot.sync.observe import SyncObserver
from bot.sync.rate import TokenBucket

log = logging.getLogger(__name__)

#: the lease outlives the slowest step (a Slack call with its retries, a download)
LEASE_MS = 120_000
#: after a poll, other pollers leave the ticket alone for this part of the interval
REST_FRACTION = 0.8
POLL_WORKERS = 8
CLOSED_EVERY = 10
#: escaped characters per section (Slack allows 3000), per message, per conversation
SECTION_CHARS = 2900
SECTIONS_PER_MESSAGE = 4
MAX_SECTIONS = 20
#: helpdesk errors after which a poll is tried again next time instead of going on
TRANSIENT = (Unavailable, OutcomeUnknown, Unauthorized)


@dataclass(frozen=True)
class FeedStep:
    """One read of the change feed: from `old` to `new`, and the tickets it named."""

    old: str | None
    new: str
    changed: set[str] | None


@dataclass
class PollReport:
    """What one cycle did; counts of tickets, conversations and requests."""

    due: int = 0  # tickets due this cycle
    polled: int = 0  # tickets whose detailed view was read
    resting: int = 0  # closed tickets not due this cycle
    leased_elsewhere: int = 0  # held by another poller
    baselined: int = 0  # first sight: existing conversations taken as seen
    posted: int = 0  # conversations posted into threads
    echoes: int = 0  # the bot's own conversations, not posted back
    internal: int = 0  # internal notes: only into the agents' channel, if anywhere
    files: int = 0  # attachments uploaded
    changes: int = 0  # status or priority changes announced
    retired: int = 0  # closed long enough: no longer polled
    requests: int = 0  # requests to the helpdesk
    errors: int = 0  # tickets whose poll failed

    @property
    def eventful(self) -> bool:
        """Whether the cycle changed or announced anything, or failed somewhere."""
        return any(
            (self.baselined, self.posted, self.files, self.changes, self.retired, self.errors)
        )

    def add(self, other: PollReport) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


#: how much of an agent's reply a direct message to the requester quotes
DM_REPLY_CHARS = 200


class Poller:
    def __init__(
        self,
        settings: Settings,
        gateway: TicketGateway,
        store: Store,
        slack: WebClient,
        cards: Cards,
        *,
        workers: int = POLL_WORKERS,
        closed_every: int = CLOSED_EVERY,
        clock: Callable[[], float] = time.time,
        observe: SyncObserver | None = None,
    ) -> None:
        self.gateway = gateway
        self.observe = observe or SyncObserver()
        self.store = store
        self.slack = slack
        self.cards = cards
        self.news = RequesterNews(store, settings.TICKET_DM_WINDOW)
        self.agent_channel = settings.TICKET_AGENT_CHANNEL
        self.interval = float(settings.TICKET_SYNC_INTERVAL)
        self.closed_retention = settings.TICKET_SYNC_CLOSED_DAYS * 24 * 3600
        self.closed_every = max(1, closed_every)
        self.workers = workers
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._cycle = 0
        self._stop = threading.Event()
        self.limiter = TokenBucket(settings.TICKET_SYNC_RATE, sleep=lambda s: self._stop.wait(s))

    @property
    def rest_ms(self) -> int:
        return max(1, int(self.interval * REST_FRACTION * 1000))

    # --- the loop ---------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """A cycle every interval (at once when one took longer) until `stop` is set."""
        self._stop = stop
        while not stop.is_set():
            started = time.monotonic()
            try:
                report = self.poll_once()
                # idle is quiet: a cycle that found nothing new is a DEBUG line, not an INFO
                # line every TICKET_SYNC_INTERVAL for the life of the process
                log.log(
                    logging.INFO if report.eventful else logging.DEBUG, "poll cycle: %s", report
                )
                seconds = time.monotonic() - started
                self.observe.poll_cycle(seconds, report.requests, report.posted, report.changes)
            except Exception as exc:
                if is_unreachable(exc):
                    self.store.outage.failed(exc)  # one log line per outage
                else:
                    log.exception("a poll cycle failed")
            stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def poll_once(self) -> PollReport:
        """One cycle over the tickets due now, `workers` at a time."""
        report = PollReport()
        caps = self.gateway.capabilities
        if not caps.ticket_detail or not (caps.conversations_in or caps.status_in):
            return report  # nothing the helpdesk says can come back
        feed = None
        if caps.change_feed and isinstance(self.gateway, ChangeFeed):
            feed = self._read_feed(self.gateway, report)
            if feed is None:
                return report  # no answer from the helpdesk: the next cycle asks again
        changed = None
        if feed is not None:  # no cursor yet: every linked ticket once, closed ones too
            changed = feed.changed if feed.changed is not None else self.store.tickets_to_poll()
        due = self._due_tickets(self._cycle, report, changed)
        self._cycle += 1
        with ThreadPoolExecutor(self.workers, thread_name_prefix="poller") as pool:
            for one in pool.map(self._poll_leased, due):
                report.add(one)
        if feed is not None:
            self._advance_feed(feed, report)
        return report

    # --- the change feed ------------------------------------------------------------

    def _read_feed(self, gateway: ChangeFeed, report: PollReport) -> FeedStep | None:
        """Which linked tickets changed (`changed` None: no cursor yet, so every ticket is
        due once); None when the helpdesk did not answer or the poller is stopping."""
        old = self.store.feed_cursor()
        try:
            answer = self._request(report, lambda: gateway.changes_since(old))
        except GatewayError as exc:
            report.errors += 1
            log.warning("reading the helpdesk's changes failed: %s", _reason(exc))
            return None
        if answer is None:
            return None
        new, changed = answer
        return FeedStep(old, new, None if old is None else set(changed))

    def _advance_feed(self, feed: FeedStep, report: PollReport) -> None:
        """Past this cycle's changes only when every changed ticket was read here: a
        ticket that failed, or that another poller holds, is read again next cycle."""
        if report.errors or report.leased_elsewhere or self._stop.is_set():
            return
        if feed.new != feed.old:
            self.store.advance_feed_cursor(feed.old, feed.new)

    def _due_tickets(
        self, cycle: int, report: PollReport, changed: set[str] | None = None
    ) -> list[str]:
        """With a change feed: the changed tickets, and those never seen. Without: open
        tickets; closed ones every `closed_every`-th cycle (staggered); retire old."""
        ticket_ids = sorted(self.store.tickets_to_poll(), key=_order)
        now = self._clock()
        due = []
        for ticket_id, state in zip(ticket_ids, self.store.poll_states(ticket_ids), strict=True):
            if changed is not None:
                if ticket_id in changed or not state:
                    due.append(ticket_id)
                else:
                    report.resting += 1
            elif not state.get("closed_at"):  # set while the status is of kind closed
                due.append(ticket_id)
            elif now - float(state.get("closed_at") or now) > self.closed_retention:
                self.store.retire_from_polling(ticket_id)
                report.retired += 1
            elif (cycle + zlib.crc32(ticket_id.encode())) % self.closed_every == 0:
                due.append(ticket_id)
            else:
                report.resting += 1
        report.due = len(due)
        return due

    # --- one ticket -------------------------------------------------------------

    def _poll_leased(self, ticket_id: str) -> PollReport:
        """Poll one ticket while holding its lease; failures stay with this ticket."""
        report = PollReport()
        if self._stop.is_set():
            return report
        if not self.store.take_poll_lease(ticket_id, self.owner, LEASE_MS):
            report.leased_elsewhere += 1
            return report
        try:
            with log_ids(ticket_id=ticket_id):
                self._poll(ticket_id, report)
        except (GatewayError, SlackApiError) as exc:
            report.errors += 1
            log.warning("polling ticket %s failed: %s", ticket_id, _reason(exc))
        except Exception:
            report.errors += 1
            log.exception("polling ticket %s failed", ticket_id)
        finally:
            self.store.rest_poll_lease(ticket_id, self.owner, self.rest_ms)
        return report

    def sync_ticket(self, ticket_id: str) -> PollReport | None:
        """A webhook said this ticket changed: poll it now with the poll's own code,
        under its lease, taking over a lease that only rests (bot/sync/webhooks.py).
        None when another poller is reading it at this moment (try again shortly).
        Gateway errors are raised, for the outbox to retry or give up."""
        report = PollReport()
        if not self.store.take_poll_lease(ticket_id, self.owner, LEASE_MS, over_rest=True):
            return None
        try:
            self._poll(ticket_id, report)
        finally:
            self.store.rest_poll_lease(ticket_id, self.owner, self.rest_ms)
        return report

    def _poll(self, ticket_id: str, report: PollReport) -> None:
        detail = self._request(report, lambda: self.gateway.get_ticket(ticket_id))
        if detail is None:
            return
        report.polled += 1
        thread, cursor, state = self.store.poll_position(ticket_id)
        if thread is None:
            return
        if cursor is None:
            self._baseline(detail, report)
            return
        news: list[str] = []
        if self._post_new(detail, thread, cursor, report, news):
            self._announce_changes(detail.ticket, thread, state, report, news)
        self._tell_requester(ticket_id, thread, news)

    def _tell_requester(self, ticket_id: str, thread: ThreadRef, news: list[str]) -> None:
        """All this read found joins the requester's next direct message (bot/desk/news.py).
        Internal notes and the requester's own replies (echoes) are not news, and neither
        are changes made with the card's buttons (the state has them; the desk tells an
        agent's)."""
        self.news.tell(ticket_id, thread, news)

    def _request(self, report: PollReport, call: Callable[[], Any]) -> Any:
        """`call` to the helpdesk within the rate; None when the poller is stopping."""
        self.limiter.acquire()
        if self._stop.is_set():
            return None
        report.requests += 1
        return call()

    def _baseline(self, detail: TicketDetail, report: PollReport) -> None:
        """First sight of a ticket linked before the poller: what it has now is not new."""
        ticket = detail.ticket
        ids = [c.id for c in detail.conversations]
        last = max(ids, key=_order) if ids else ""
        if self.store.advance_poll_cursor(ticket.id, self.owner, last):
            self.store.remember_ticket_state(ticket.id, *ticket_state(ticket))
            report.baselined += 1

    def _post_new(
        self,
        detail: TicketDetail,
        thread: ThreadRef,
        cursor: str,
        report: PollReport,
        news: list[str],
    ) -> bool:
        """Post the conversations after `cursor` in order; False when the lease was lost."""
        ticket_id = detail.ticket.id
        fresh = sorted(
            (c for c in detail.conversations if _is_after(c.id, cursor)),
            key=lambda c: _order(c.id),
        )
        for conversation in fresh:
            if not self.store.hold_poll_lease(ticket_id, self.owner, LEASE_MS):
                return False
            if self.store.was_sent(ticket_id, conversation.text):
                report.echoes += 1  # the bot's own, public or internal
            elif not conversation.public:
                report.internal += 1
                if not self._post_internal(ticket_id, conversation, report):
                    return False
            elif not self._post_conversation(ticket_id, thread, conversation, report):
                return False
            else:
                news.append(_reply_line(conversation))
            if not self.store.advance_poll_cursor(ticket_id, self.owner, conversation.id):
                return False
        return True

    def _post_internal(
        self, ticket_id: str, conversation: Conversation, report: PollReport
    ) -> bool:
        """Internal stays internal: an internal note goes to the thread of the ticket's
        announcement in the agents' channel only; where there is none, nowhere."""
        announcement = self.store.agents_thread_for_ticket(ticket_id)
        if self.agent_channel is None or announcement is None:
            return True
        return self._post_conversation(ticket_id, announcement, conversation, report, internal=True)

    def _post_conversation(
        self,
        ticket_id: str,
        thread: ThreadRef,
        conversation: Conversation,
        report: PollReport,
        *,
        internal: bool = False,
    ) -> bool:
        """Its text, then its files. Files are fetched first: a helpdesk that is down
        stops the poll before anything is posted, and the next poll tries again."""
        files = []
        for attachment in conversation.attachments:
            fetched = self._fetch(attachment, report)
            if fetched is None:  # stopping
                return False
            files.append((attachment, fetched))
        for message in reply_messages(conversation, ticket_id, internal=internal):
            self.slack.chat_postMessage(channel=thread.channel, thread_ts=thread.ts, **message)
        for attachment, fetched in files:
            self._upload(thread, attachment, fetched, report)
        report.posted += 1
        return True

    def _fetch(
        self, attachment: Attachment, report: PollReport
    ) -> FileUpload | GatewayError | None:
        """The file, or the helpdesk's lasting refusal to give it; transient errors raise."""
        try:
            upload: FileUpload | None = self._request(
                report, lambda: self.gateway.download_attachment(attachment.id)
            )
            return upload
        except TRANSIENT:
            raise
        except GatewayError as exc:
            return exc

    def _upload(
        self,
        thread: ThreadRef,
        attachment: Attachment,
        fetched: FileUpload | GatewayError,
        report: PollReport,
    ) -> None:
        if isinstance(fetched, GatewayError):
            name = attachment.filename or f"attachment {attachment.id}"
            self.cards.note(
                thread,
                f":warning: I could not fetch the file {name} from the helpdesk: "
                f"{explain(fetched)}",
            )
            return
        try:
            self.slack.files_upload_v2(
                channel=thread.channel,
                thread_ts=thread.ts,
                file=fetched.content,
                filename=fetched.filename,
                title=fetched.filename,
            )
        except SlackApiError as exc:
            # The text is in the thread already: trying again would post it twice.
            error = exc.response.get("error", "an error")
            self.cards.note(
                thread,
                f":warning: Slack refused the file {fetched.filename} "
                f"({error}); it is in the helpdesk.",
            )
            return
        report.files += 1

    def _announce_changes(
        self,
        ticket: Ticket,
        thread: ThreadRef,
        state: dict[str, str],
        report: PollReport,
        news: list[str],
    ) -> None:
        """Card updated in place and a line per change, unless the thread shows it already."""
        lines = _change_lines(ticket, state) if state else []
        if not lines:
            if not state:  # a state never recorded: nothing to compare with yet
                self.store.remember_ticket_state(ticket.id, *ticket_state(ticket))
            return
        if not self.store.hold_poll_lease(ticket.id, self.owner, LEASE_MS):
            return
        # A click on the card may have made this very change since the state was read.
        if not _change_lines(ticket, self.store.poll_states([ticket.id])[0]):
            return
        card = self.store.card_for_ticket(ticket.id) or thread
        self.slack.chat_update(channel=card.channel, ts=card.ts, **self.cards.render(ticket))
        for line in lines:
            self.cards.note(thread, line)
        self.store.remember_ticket_state(ticket.id, *ticket_state(ticket))
        report.changes += len(lines)
        news.extend(lines)


def _reply_line(conversation: Conversation) -> str:
    """A direct message's line for an agent's reply: who, and how it starts."""
    text = " ".join(conversation.text.split())
    if len(text) > DM_REPLY_CHARS:
        text = text[:DM_REPLY_CHARS] + "…"
    return f"{conversation.author or 'An agent'} replied: {text}"


def _change_lines(ticket: Ticket, state: dict[str, str]) -> list[str]:
    """mrkdwn lines, the helpdesk's names escaped."""
    lines = []
    status = ticket.status
    if state.get("status") != status.id:
        if status.is_closed:
            lines.append(f"{status.name} in the helpdesk.")
        elif state.get("closed_at"):
            lines.append("Reopened in the helpdesk.")
        else:
            lines.append(f"Set to {status.name} in the helpdesk.")
    priority = ticket.priority.id if ticket.priority else ""
    if state.get("priority", "") != priority:
        lines.append(
            f"Priority set to {ticket.priority.label} in the helpdesk."
            if ticket.priority
            else "Priority cleared in the helpdesk."
        )
    return lines


# --- long texts ------------------------------------------------------------------


def reply_messages(
    conversation: Conversation, ticket_id: str, *, internal: bool = False
) -> list[Any]:
    """A conversation as thread messages: split into sections that fit Slack once
    escaped, a few sections a message, cut with a note past `MAX_SECTIONS`;
    `internal`: an internal note, for the agents' channel."""
    text = conversation.text.strip()
    spans = split_text(text, SECTION_CHARS)
    kept = spans[:MAX_SECTIONS]
    cut = len(text) - sum(len(s) for s in kept)
    chunks = [s.strip() for s in kept if s.strip()]
    groups = [
        chunks[i : i + SECTIONS_PER_MESSAGE] for i in range(0, len(chunks), SECTIONS_PER_MESSAGE)
    ] or [[]]
    return [
        render(
            "agent_reply.json.j2",
            author=conversation.author,
            chunks=group,
            part=number,
            parts=len(groups),
            files=len(conversation.attachments),
            cut_chars=cut if number == len(groups) else 0,
            ticket_id=ticket_id,
            internal=internal,
        )
        for number, group in enumerate(groups, start=1)
    ]


def split_text(text: str, limit: int) -> list[str]:
    """Consecutive pieces of `text`, each at most `limit` long once mrkdwn-escaped
    (in UTF-16 units, as Slack counts), cut at a line break or space when one is
    in the second half of the piece."""
    pieces = []
    start = 0
    while start < len(text):
        end, used = start, 0
        while end < len(text) and used + _cost(text[end]) <= limit:
            used += _cost(text[end])
            end += 1
        if end < len(text):
            space = max(text.rfind("\n", start, end), text.rfind(" ", start, end))
            if space > start + (end - start) // 2:
                end = space + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def _cost(char: str) -> int:
    if char == "&":
        return 5  # &amp;
    if char in "<>":
        return 4  # &lt; &gt;
    return 2 if ord(char) > 0xFFFF else 1


# --- conversation order -------------------------------------------------------------


def _order(conversation_id: str) -> tuple[int, int, str]:
    """Numeric ids by value, others after them by text."""
    if conversation_id.isdigit():
        return (0, int(conversation_id), "")
    return (1, 0, conversation_id)


def _is_after(conversation_id: str, cursor: str) -> bool:
    return cursor == "" or _order(conversation_id) > _order(cursor)


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack answered {exc.response.get('error', 'an error')}"
    return str(exc)
