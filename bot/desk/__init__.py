"""The use-cases: what happens when someone asks the bot for something.

Listeners parse Slack payloads and call these; the gateway does the helpdesk
work; templates give everything its look. Errors become plain sentences here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.desk.lookups import FormLists, Lookups
from bot.gateway import (
    Capabilities,
    GatewayError,
    LimitReached,
    NewTicket,
    NotFound,
    NotOwner,
    OutcomeUnknown,
    PriorityLevel,
    StatusKind,
    Ticket,
    TicketGateway,
    TicketStatus,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from bot.runtime.after_ack import after_ack
from bot.slack import ids
from bot.slack.client import FileTooLarge, download_file
from bot.slack.forms import Draft, ModalContext
from bot.slack.render import escape_mrkdwn, render
from bot.store import Store, ThreadRef
from bot.sync.outbox import CreateJob, Outbox

log = logging.getLogger(__name__)

Respond = Callable[..., Any]

FIELD_BLOCKS = {
    "subject": ids.SUBJECT_BLOCK,
    "description": ids.DESCRIPTION_BLOCK,
    "category": ids.CATEGORY_BLOCK,
    "priority": ids.PRIORITY_BLOCK,
    "attachment": ids.ATTACHMENT_BLOCK,
}
CHANNEL_PROBLEMS = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
DRAFT_TTL = 7 * 24 * 3600
CREATE_CLAIM_TTL = 24 * 3600
CLICK_CLAIM_TTL = 10
LIST_PAGE_SIZE = 10
SHOWN_CONVERSATIONS = 5


def explain(error: GatewayError) -> str:
    """A sentence for the person in Slack; never a traceback, never a secret."""
    if isinstance(error, OutcomeUnknown):
        return (
            "The helpdesk did not confirm the change in time; it may or may not have "
            "happened. Check with `/ticket list` before trying again."
        )
    if isinstance(error, Unavailable):
        return "The helpdesk is not answering right now. Please try again in a minute."
    if isinstance(error, LimitReached):
        return (
            "The helpdesk allows no more open tickets for this account right now: "
            "close one, or ask an agent."
        )
    if isinstance(error, Unauthorized):
        return (
            "The helpdesk refused the bot's credentials. An admin can run "
            "`ticket-bot check` to see what to fix."
        )
    if isinstance(error, NotOwner):
        return (
            "The helpdesk says this ticket belongs to another account, so the bot can't change it."
        )
    if isinstance(error, NotFound):
        return "The helpdesk does not know that ticket."
    return f"The helpdesk refused: {error.message}"


class Desk:
    def __init__(
        self,
        gateway: TicketGateway,
        store: Store,
        slack: WebClient,
        *,
        ticket_channel: str | None = None,
    ) -> None:
        self.gateway = gateway
        self.store = store
        self.slack = slack
        self.lookups = Lookups(gateway, store, slack)
        self.outbox = Outbox(store)
        self.ticket_channel = ticket_channel

    @property
    def capabilities(self) -> Capabilities:
        return self.gateway.capabilities

    # --- the new-ticket modal -------------------------------------------------

    def open_new_ticket(
        self, trigger_id: str, subject: str, context: ModalContext, respond: Respond
    ) -> None:
        """Open the form at once: filled when the lookups are cached, loading otherwise.

        Runs in the urgent after-ack pool; the slow part (filling a loading view
        from the helpdesk) goes to the ordinary one.
        """
        draft = Draft(subject=subject[: self.capabilities.max_subject_chars or None])
        try:
            lists = self.lookups.form_lists(cached_only=True)
            view = self.form_view(draft, context, lists) if lists else self.loading_view(context)
            opened = self.slack.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            self._modal_did_not_open(exc, respond)
            return
        except Exception:
            log.exception("opening the new-ticket modal failed")
            return
        if lists is None:
            view_id = opened["view"]["id"]
            self.save_draft(view_id, draft)
            after_ack(lambda: self.fill_form(view_id, draft, context))

    def _modal_did_not_open(self, exc: SlackApiError, respond: Respond) -> None:
        error = exc.response.get("error", "unknown")
        log.warning("views.open failed: %s", error)
        text = "Slack did not let me open the form"
        if error == "expired_trigger_id":
            text += " in time. Please type `/ticket new` again."
        else:
            text += f" ({escape_mrkdwn(error)}). Please try again."
        respond(**render("notice.json.j2", text=text, details=None), response_type="ephemeral")

    def fill_form(self, view_id: str, draft: Draft, context: ModalContext) -> None:
        """Replace the loading view with the form, or with a retry view if lookups fail."""
        try:
            view = self.form_view(draft, context)
        except GatewayError as exc:
            view = render(
                "lookup_failed_modal.json.j2", metadata=context.dump(), reason=explain(exc)
            )
        self._update_view(view_id, view)

    def retry_lookups(self, view_id: str, context: ModalContext) -> None:
        self._update_view(view_id, self.loading_view(context))
        self.fill_form(view_id, self.load_draft(view_id), context)

    def restore_form(self, view_id: str, context: ModalContext) -> None:
        self._update_view(view_id, self.form_view(self.load_draft(view_id), context))

    def loading_view(self, context: ModalContext) -> Any:
        return render("loading_modal.json.j2", metadata=context.dump())

    def form_view(
        self,
        draft: Draft,
        context: ModalContext,
        lists: FormLists | None = None,
        errors: dict[str, str] | None = None,
        notice: str | None = None,
    ) -> Any:
        """The new-ticket form; `lists` read from the helpdesk (through the cache) if not given."""
        caps = self.capabilities
        limit = caps.max_attachment_bytes if caps.attachments else None
        lists = lists or self.lookups.form_lists()
        assert lists is not None  # not cached_only: loaded when missing
        categories = lists.categories
        return render(
            "new_ticket_modal.json.j2",
            metadata=context.dump(),
            draft=draft,
            categories=categories,
            chosen_category=next((c for c in categories if c.id == draft.category_id), None),
            priorities=lists.priorities,
            chosen_priority=_chosen_priority(lists.priorities, draft.priority),
            max_subject_chars=caps.max_subject_chars,
            max_attachment_bytes=limit,
            max_attachment_label=_size_label(limit) if limit else "",
            errors=errors or {},
            notice=notice,
        )

    def validate(self, draft: Draft) -> dict[str, str]:
        """Problems Slack can show next to the fields (response_action: errors)."""
        errors: dict[str, str] = {}
        limit = self.capabilities.max_subject_chars
        if not draft.subject:
            errors[ids.SUBJECT_BLOCK] = "Please give the ticket a subject."
        elif limit and len(draft.subject) > limit:
            errors[ids.SUBJECT_BLOCK] = (
                f"The subject has {len(draft.subject)} characters; the helpdesk takes {limit}."
            )
        if not draft.description:
            errors[ids.DESCRIPTION_BLOCK] = "Please describe the problem."
        if self.capabilities.categories and not draft.category_id:
            errors[ids.CATEGORY_BLOCK] = "Please choose a category."
        max_bytes = self.capabilities.max_attachment_bytes
        for file in draft.files:
            size = file.get("size")
            if max_bytes and isinstance(size, int) and size > max_bytes:
                errors[ids.ATTACHMENT_BLOCK] = (
                    f"{file.get('name', 'The file')} is {_size_label(size)}; the helpdesk takes "
                    f"up to {_size_label(max_bytes)}."
                )
        return errors

    def pending_view(self, context: ModalContext) -> Any:
        return render(
            "result_modal.json.j2",
            metadata=context.dump(),
            headline=":hourglass_flowing_sand: Creating your ticket in the helpdesk…",
            details=None,
            draft=None,
        )

    # --- creating a ticket ------------------------------------------------------

    def enqueue_create(
        self, draft: Draft, user_id: str, view_id: str, context: ModalContext
    ) -> None:
        """Write the submission to the outbox (before the listener returns); a worker creates."""
        self.save_draft(view_id, draft)
        self.outbox.put(CreateJob(draft=draft, user_id=user_id, view_id=view_id, context=context))

    def create_ticket(
        self,
        draft: Draft,
        user_id: str,
        view_id: str,
        context: ModalContext,
        *,
        redelivered: bool = False,
    ) -> None:
        """In the worker: create once, post the card, tell the person.

        `redelivered`: a worker died while creating this one; if it had begun, the
        ticket may or may not exist, and sending the create again could double it.
        """
        if not self.store.claim(f"create:{view_id}", CREATE_CLAIM_TTL):
            if redelivered:
                self._show_failure(view_id, draft, context, OutcomeUnknown("create interrupted"))
            return  # the same submission again
        self.save_draft(view_id, draft)
        try:
            ticket = self._create(draft, user_id, view_id)
        except ValidationFailed as exc:
            self.store.release(f"create:{view_id}")
            self._show_refusal(view_id, draft, context, exc)
            return
        except (GatewayError, FileTooLarge) as exc:
            if not isinstance(exc, OutcomeUnknown):
                self.store.release(f"create:{view_id}")
            self._show_failure(view_id, draft, context, exc)
            return
        self._announce(ticket, user_id, view_id, context)

    def _create(self, draft: Draft, user_id: str, view_id: str) -> Ticket:
        caps = self.capabilities
        attachment = None
        if draft.files and caps.attachments:
            token = self.slack.token or ""
            attachment = download_file(draft.files[0], token, caps.max_attachment_bytes)
        return self.gateway.create_ticket(
            NewTicket(
                subject=draft.subject,
                description=draft.description,
                category_id=draft.category_id,
                priority=self.lookups.priority(draft.priority) if draft.priority else None,
                requester=self.lookups.person(user_id),
                attachment=attachment,
                reference=f"slack-{view_id}",
            )
        )

    def show_creation_failure(
        self, draft: Draft, view_id: str, context: ModalContext, reason: str
    ) -> None:
        """The outbox gave up on a creation: say so where the person is looking."""
        self._show_failure(view_id, draft, context, RuntimeError(reason))

    def _show_refusal(
        self, view_id: str, draft: Draft, context: ModalContext, exc: ValidationFailed
    ) -> None:
        on_fields = {f: " ".join(m) for f, m in exc.fields.items() if f in FIELD_BLOCKS}
        elsewhere = [f"{f}: {' '.join(m)}" for f, m in exc.fields.items() if f not in FIELD_BLOCKS]
        notice = "The helpdesk refused the ticket. Fix what is marked and press Create again."
        if elsewhere:
            notice += " " + "; ".join(elsewhere)
        self._update_view(view_id, self.form_view(draft, context, errors=on_fields, notice=notice))

    def _show_failure(
        self, view_id: str, draft: Draft, context: ModalContext, exc: Exception
    ) -> None:
        reason = explain(exc) if isinstance(exc, GatewayError) else f"{exc}."
        headline = f":x: The ticket was not created. {escape_mrkdwn(reason)}"
        if isinstance(exc, OutcomeUnknown):
            headline = f":grey_question: {escape_mrkdwn(reason)}"
        view = render(
            "result_modal.json.j2",
            metadata=context.dump(),
            headline=headline,
            details=None,
            draft=draft,
        )
        self._update_view(view_id, view)
        self._tell(context, headline, keep=draft)

    def _announce(self, ticket: Ticket, user_id: str, view_id: str, context: ModalContext) -> None:
        channel = self.ticket_channel or context.channel
        requester = self.lookups.person(user_id).name
        self.store.remember_requester(ticket.id, requester)
        headline = f":white_check_mark: Ticket *#{ticket.id}* was created"
        details = None
        try:
            if not channel:
                raise LookupError("no channel")
            posted = self.slack.chat_postMessage(channel=channel, **self.card(ticket))
            self.store.link_thread(ticket.id, ThreadRef(posted["channel"], posted["ts"]))
            self.store.start_sync(ticket.id, *ticket_state(ticket))  # poller
            headline += f" and posted in <#{channel}>."
        except SlackApiError as exc:
            details = _channel_advice(exc.response.get("error", ""), channel)
            headline += ", but I could not post its card."
        except LookupError:
            details = "Set TICKET_CHANNEL or use `/ticket new` in a channel."
            headline += ", but I have no channel to post its card in."
        self._update_view(
            view_id,
            render(
                "result_modal.json.j2",
                metadata=context.dump(),
                headline=headline,
                details=details,
                draft=None,
            ),
        )
        if details:
            self._tell(context, headline, details=details)

    # --- the card ---------------------------------------------------------------

    def card(self, ticket: Ticket, footer: str | None = None) -> Any:
        tags = self.lookups.tags()
        tag_names = [t.name for t in tags if t.id in ticket.tag_ids]
        return render(
            "ticket_card.json.j2",
            ticket=ticket,
            category_name=ticket.category_name or self.lookups.category_name(ticket.category_id),
            requester=self.store.requester_of(ticket.id),
            capabilities=self.capabilities,
            priorities=self.lookups.priorities(),
            tags=tags,
            tag_names=tag_names,
            footer=footer,
        )

    def change_status(
        self, ticket_id: str, closing: bool, user_id: str, thread: ThreadRef, respond: Respond
    ) -> None:
        """Close or Reopen: the helpdesk's own closing or reopening status."""
        caps = self.capabilities
        status = caps.closing_status() if closing else caps.reopening_status()
        verb = "closed" if closing else "reopened"
        if status is None:
            self._refuse(respond, f"This helpdesk has no status to mark a ticket {verb}.")
            return
        self._change(
            ticket_id,
            f"status:{status.id}",
            user_id,
            thread,
            respond,
            lambda: self.gateway.set_status(ticket_id, status),
            f"{verb} the ticket",
            status_set=status,
        )

    def change_priority(
        self, ticket_id: str, priority_id: str, user_id: str, thread: ThreadRef, respond: Respond
    ) -> None:
        priority = self.lookups.priority(priority_id)
        if priority is None:
            self._refuse(respond, "This helpdesk has no such priority any more.")
            return
        self._change(
            ticket_id,
            f"priority:{priority.id}",
            user_id,
            thread,
            respond,
            lambda: self.gateway.update_ticket(ticket_id, priority=priority),
            f"set the priority to {escape_mrkdwn(priority.label)}",
        )

    def change_tags(
        self, ticket_id: str, tag_ids: list[str], user_id: str, thread: ThreadRef, respond: Respond
    ) -> None:
        names = [t.name for t in self.lookups.tags() if t.id in tag_ids]
        self._change(
            ticket_id,
            "tags:" + ",".join(sorted(tag_ids)),
            user_id,
            thread,
            respond,
            lambda: self.gateway.update_ticket(ticket_id, tag_ids=tag_ids),
            "set the tags to " + (", ".join(names) or "none"),
        )

    def _change(
        self,
        ticket_id: str,
        what: str,
        user_id: str,
        thread: ThreadRef,
        respond: Respond,
        apply: Callable[[], None],
        done: str,
        status_set: TicketStatus | None = None,
    ) -> None:
        """One change per double click; the card updated in place; a line in the thread.

        `status_set`: the status just set, shown on the card when the helpdesk's
        answers do not say (capabilities.status_in False)."""
        claim = f"click:{ticket_id}:{what}"
        if not self.store.claim(claim, CLICK_CLAIM_TTL):
            return
        try:
            apply()
            ticket = self.gateway.get_ticket(ticket_id).ticket
            if status_set is not None and not self.capabilities.status_in:
                ticket = ticket.model_copy(update={"status": status_set})
            self.store.remember_ticket_state(ticket.id, *ticket_state(ticket))
        except GatewayError as exc:
            self.store.release(claim)
            self._refuse(respond, explain(exc))
            return
        self.slack.chat_update(channel=thread.channel, ts=thread.ts, **self.card(ticket))
        who = self.lookups.person(user_id).name
        self.note(thread, f"{escape_mrkdwn(who)} {done}.")

    def _refuse(self, respond: Respond, text: str) -> None:
        """An ephemeral warning to whoever clicked."""
        respond(
            **render("notice.json.j2", text=f":warning: {text}", details=None),
            response_type="ephemeral",
            replace_original=False,
        )

    def note(self, thread: ThreadRef, text: str) -> None:
        """A short line in a ticket's thread; `text` is mrkdwn, already escaped."""
        self.slack.chat_postMessage(
            channel=thread.channel, thread_ts=thread.ts, **render("thread_note.json.j2", text=text)
        )

    # --- looking tickets up -------------------------------------------------------

    def status_filter(self, word: str) -> TicketStatus | StatusKind | None:
        """What `/ticket list WORD` lists: `open`, `pending` or `closed` (every status of
        that kind), else one of the helpdesk's own statuses by name; None: neither."""
        statuses = self.capabilities.statuses
        folded = word.strip().casefold()
        kind = next((k for k in StatusKind if k.value == folded), None)
        if kind is not None and any(s.kind is kind for s in statuses):
            return kind
        return self.capabilities.status_by_word(word)

    def status_words(self) -> list[str]:
        """The words `/ticket list` takes: the kinds this helpdesk has, then its statuses."""
        statuses = self.capabilities.statuses
        kinds = [k.value for k in StatusKind if any(s.kind is k for s in statuses)]
        names = [s.name for s in statuses if s.name.casefold() not in kinds]
        return kinds + names

    def list_tickets(
        self, status_word: str | None, offset: int, respond: Respond, replace: bool = False
    ) -> None:
        status = self.status_filter(status_word) if status_word else None
        try:
            page = self.gateway.list_tickets(status=status, offset=offset, limit=LIST_PAGE_SIZE)
        except GatewayError as exc:
            respond(
                **render("notice.json.j2", text=f":warning: {explain(exc)}", details=None),
                response_type="ephemeral",
            )
            return
        message = render(
            "ticket_list.json.j2",
            page=page,
            status=status_word if status else None,
            status_name=status.name if isinstance(status, TicketStatus) else status,
            show_status=self.capabilities.status_in,
        )
        respond(**message, response_type="ephemeral", replace_original=replace)

    def show_ticket(self, ticket_id: str, respond: Respond) -> None:
        try:
            detail = self.gateway.get_ticket(ticket_id)
        except GatewayError as exc:
            text = f":warning: Ticket #{escape_mrkdwn(ticket_id)}: {explain(exc)}"
            respond(**render("notice.json.j2", text=text, details=None), response_type="ephemeral")
            return
        # internal notes stay in the helpdesk: whoever asked may be the requester
        public = [c for c in detail.conversations if c.public]
        respond(
            **render(
                "ticket_show.json.j2",
                detail=detail,
                show_status=self.capabilities.status_in,
                category_name=detail.ticket.category_name
                or self.lookups.category_name(detail.ticket.category_id),
                conversations=public[-SHOWN_CONVERSATIONS:],
                conversation_count=len(public),
                permalink=self._permalink(ticket_id),
            ),
            response_type="ephemeral",
        )

    def _permalink(self, ticket_id: str) -> str | None:
        thread = self.store.thread_for_ticket(ticket_id)
        if thread is None:
            return None
        try:
            return str(
                self.slack.chat_getPermalink(channel=thread.channel, message_ts=thread.ts)[
                    "permalink"
                ]
            )
        except SlackApiError:
            return None

    def help(self, unknown: str | None = None) -> Any:
        return render(
            "help.json.j2",
            capabilities=self.capabilities,
            status_words=[w.casefold() for w in self.status_words()],
            unknown=unknown,
        )

    def home(self) -> Any:
        return render("home.json.j2")

    # --- drafts and plumbing -------------------------------------------------------

    def save_draft(self, view_id: str, draft: Draft) -> None:
        self.store.save_draft(view_id, draft.model_dump_json(), DRAFT_TTL)

    def load_draft(self, view_id: str) -> Draft:
        raw = self.store.load_draft(view_id)
        return Draft.model_validate_json(raw) if raw else Draft()

    def _update_view(self, view_id: str, view: Any) -> None:
        try:
            self.slack.views_update(view_id=view_id, view=view)
        except SlackApiError as exc:
            # The person closed the modal: nothing to update, and the draft is kept.
            log.info("views.update of %s failed: %s", view_id, exc.response.get("error"))

    def _tell(
        self,
        context: ModalContext,
        text: str,
        *,
        details: str | None = None,
        keep: Draft | None = None,
    ) -> None:
        """An ephemeral message through the command's response_url, carrying the draft."""
        if not context.response_url:
            return
        if keep is not None:
            details = (
                f"What you typed:\n*{escape_mrkdwn(keep.subject)}*\n"
                f"{escape_mrkdwn(keep.description)}"
            )
        message = render("notice.json.j2", text=text, details=details)
        try:
            WebhookClient(context.response_url).send(response_type="ephemeral", **message)
        except Exception:  # a dead response_url must not hide the modal's own message
            log.warning("could not answer through the response_url")


def _channel_advice(error: str, channel: str | None) -> str:
    if error in CHANNEL_PROBLEMS:
        return (
            f"I am not a member of <#{channel}>. Invite me with `/invite @ticket-bot` "
            "in that channel, then the next tickets will be posted there."
        )
    return f"Slack answered `{escape_mrkdwn(error)}`."


def _size_label(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MiB"
    return f"{max(size // 1024, 1)} KiB"


def ticket_state(ticket: Ticket) -> tuple[str, str | None, bool]:
    """What the store keeps of a ticket's state: status id, priority id, closed or not."""
    priority = ticket.priority.id if ticket.priority else None
    return ticket.status.id, priority, ticket.status.is_closed


def _chosen_priority(priorities: list[PriorityLevel], chosen: str | None) -> PriorityLevel | None:
    """The draft's priority, else the middle of the helpdesk's list (its usual default)."""
    found = next((p for p in priorities if p.id == chosen), None)
    return found or (priorities[len(priorities) // 2] if priorities else None)
