"""Creating a ticket: the submission goes to the outbox, a worker creates it and posts the card."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk.cards import Cards
from bot.desk.explain import explain, is_channel_problem
from bot.desk.intake import INTAKE_CLAIM_TTL, made_in_slack_by
from bot.desk.lookups import Lookups
from bot.desk.modal import NewTicketModal
from bot.desk.threads import (
    CardNotPosted,
    Threads,
    raise_if_transient,
    ticket_of_thread,
)
from bot.gateway import (
    GatewayError,
    NewTicket,
    OutcomeUnknown,
    Ticket,
    TicketGateway,
    ValidationFailed,
)
from bot.slack import ids
from bot.slack.client import FileRefused, FileTooLarge, download_file
from bot.slack.forms import Draft, MessageSource, ModalContext
from bot.slack.render import Mrkdwn
from bot.store import Store, ThreadRef
from bot.store.keys import create_claim, intake_claim
from bot.sync.outbox import CreateJob, Outbox

__all__ = ["CardNotPosted", "Creation"]

CREATE_CLAIM_TTL = 24 * 3600
#: helpdesk refusals of these domain fields are shown next to their block in the form
FIELD_BLOCKS = {
    "subject": ids.SUBJECT_BLOCK,
    "description": ids.DESCRIPTION_BLOCK,
    "category": ids.CATEGORY_BLOCK,
    "priority": ids.PRIORITY_BLOCK,
    "attachment": ids.ATTACHMENT_BLOCK,
}


@dataclass
class Creation:
    gateway: TicketGateway
    store: Store
    slack: WebClient
    lookups: Lookups
    modal: NewTicketModal
    cards: Cards
    threads: Threads
    ticket_channel: str | None = None

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.store)

    def enqueue(self, draft: Draft, user_id: str, view_id: str, context: ModalContext) -> None:
        """Write the submission to the outbox (before the listener returns); a worker creates."""
        self.modal.save_draft(view_id, draft)
        self.outbox.put(CreateJob(draft=draft, user_id=user_id, view_id=view_id, context=context))

    def create(
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
        created = self.store.created_ticket(view_id)
        if created is not None:  # an earlier attempt created it: its card is what is left
            self._announce(Ticket.model_validate_json(created), view_id, draft, context)
            return
        claim = create_claim(view_id)
        if not self.store.claim(claim, CREATE_CLAIM_TTL):
            if redelivered:
                self._show_unknown(view_id, draft, context, OutcomeUnknown("create interrupted"))
            return  # the same submission again
        self.modal.save_draft(view_id, draft)
        source = context.source
        taken = self._taken(source)
        if taken is not None:
            self.store.release(claim)
            self._show(view_id, draft, context, f":information_source: {taken}")
            return
        claims = [claim] + ([intake_claim(source.channel, source.ts)] if source else [])
        requester = source.author if source and source.author else user_id
        try:
            ticket = self._create(draft, user_id, requester, view_id, source)
        except ValidationFailed as exc:
            self._release(claims)
            self._show_refusal(view_id, draft, context, exc)
        except OutcomeUnknown as exc:
            self._show_unknown(view_id, draft, context, exc)
        except GatewayError as exc:
            self._release(claims)
            self.show_failure(view_id, draft, context, explain(exc))
        except (FileTooLarge, FileRefused) as exc:
            self._release(claims)
            self.show_failure(view_id, draft, context, f"{exc}.")
        else:
            # remembered before anything else can fail: a retried job posts the card
            # of this ticket instead of creating another
            self.store.remember_created(view_id, ticket.model_dump_json(), CREATE_CLAIM_TTL)
            self.store.remember_requester(ticket.id, self.lookups.person(requester).name, requester)
            self._announce(ticket, view_id, draft, context)

    def _taken(self, source: MessageSource | None) -> str | None:
        """Why a ticket cannot be made of the shortcut's message now, if it cannot: its
        thread became a ticket's after the modal opened, or one is being made of it."""
        if source is None:
            return None
        ticket_id = ticket_of_thread(self.store, ThreadRef(*source.thread))
        if ticket_id is not None:
            return f"That message's thread belongs to ticket #{ticket_id} already."
        if not self.store.claim(intake_claim(source.channel, source.ts), INTAKE_CLAIM_TTL):
            return "A ticket is being made of that message already."
        return None

    def _release(self, claims: list[str]) -> None:
        for claim in claims:
            self.store.release(claim)

    def gave_up(self, view_id: str, draft: Draft, context: ModalContext, reason: str) -> None:
        """The job is dead-lettered: say what became of the ticket."""
        created = self.store.created_ticket(view_id)
        if created is None:
            self.show_failure(view_id, draft, context, reason)
            return
        ticket_id = Ticket.model_validate_json(created).id
        headline = f":warning: Ticket *#{ticket_id}* was created, but its card was not posted."
        self.modal.update_view(view_id, self.modal.result_view(context, headline, details=None))
        self.modal.tell(context, headline, details=reason)

    def _create(
        self,
        draft: Draft,
        user_id: str,
        requester: str,
        view_id: str,
        source: MessageSource | None,
    ) -> Ticket:
        caps = self.gateway.capabilities
        attachment = None
        if draft.files and caps.attachments:
            attachment = download_file(self.slack, draft.files[0], caps.max_attachment_bytes)
        description = draft.description
        if source is not None:
            description = self._of_message(description, source, user_id)
        return self.gateway.create_ticket(
            NewTicket(
                subject=draft.subject,
                description=description,
                category_id=draft.category_id,
                priority=self.lookups.priority(draft.priority) if draft.priority else None,
                requester=self.lookups.person(requester),
                attachment=attachment,
                reference=f"slack-{view_id}",
            )
        )

    def _show_refusal(
        self, view_id: str, draft: Draft, context: ModalContext, exc: ValidationFailed
    ) -> None:
        on_fields = {
            FIELD_BLOCKS[f]: " ".join(m) for f, m in exc.fields.items() if f in FIELD_BLOCKS
        }
        elsewhere = [f"{f}: {' '.join(m)}" for f, m in exc.fields.items() if f not in FIELD_BLOCKS]
        notice = "The helpdesk refused the ticket. Fix what is marked and press Create again."
        if elsewhere:
            notice += " " + "; ".join(elsewhere)
        view = self.modal.form_view(draft, context, errors=on_fields, notice=notice)
        self.modal.update_view(view_id, view)

    def show_failure(self, view_id: str, draft: Draft, context: ModalContext, reason: str) -> None:
        """The ticket was not created, for `reason`: say so where the person is looking."""
        text = f":x: The ticket was not created. {reason}"
        self._show(view_id, draft, context, text)

    def _show_unknown(
        self, view_id: str, draft: Draft, context: ModalContext, exc: OutcomeUnknown
    ) -> None:
        self._show(view_id, draft, context, f":grey_question: {explain(exc)}")

    def _show(self, view_id: str, draft: Draft, context: ModalContext, headline: str) -> None:
        self.modal.update_view(view_id, self.modal.result_view(context, headline, draft=draft))
        self.modal.tell(context, headline, keep=draft)

    def _of_message(self, description: str, source: MessageSource, user_id: str) -> str:
        """The description of a ticket made with the shortcut: what the form held, the
        message's permalink (unless kept there), and who made the ticket."""
        permalink = source.permalink or self.threads.permalink(source.channel, source.ts)
        if permalink and permalink not in description:
            description = f"{description}\n\n{permalink}"
        return f"{description}\n\n{made_in_slack_by(self.lookups.person(user_id).name)}"

    def _announce(self, ticket: Ticket, view_id: str, draft: Draft, context: ModalContext) -> None:
        """Post the card and link it, once; `CardNotPosted` when Slack may take it later.
        A ticket made of a message has its card in that message's thread."""
        source = context.source
        channel = source.channel if source else self.ticket_channel or context.channel
        headline = Mrkdwn(":white_check_mark: Ticket *#{}* was created").format(ticket.id)
        details = None
        if self.store.thread_for_ticket(ticket.id) is not None:
            headline += " and posted."  # by an attempt that stopped right after
        elif not channel:
            headline += ", but I have no channel to post its card in."
            details = "Set TICKET_CHANNEL or use `/ticket new` in a channel."
        else:
            thread_ts = source.thread[1] if source else None
            try:
                posted = self.slack.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, **self.cards.render(ticket)
                )
            except SlackApiError as exc:
                raise_if_transient(exc)
                headline += ", but I could not post its card."
                details = _channel_advice(str(exc.response.get("error", "")), channel)
            except OSError as exc:  # Slack unreachable, after the client's own retries
                raise CardNotPosted(f"Slack could not be reached ({type(exc).__name__})") from exc
            else:
                card = ThreadRef(posted["channel"], posted["ts"])
                thread = ThreadRef(*source.thread) if source else card
                self.threads.link(ticket, thread, card, made_of=_made_of(source, draft))
                headline += Mrkdwn(" and posted in <#{}>.").format(channel)
        view = self.modal.result_view(context, headline, details=details)
        self.modal.update_view(view_id, view)
        if details:
            self.modal.tell(context, headline, details=details)


def _made_of(source: MessageSource | None, draft: Draft) -> dict[str, Any] | None:
    """The message a ticket was made of, for `Threads.link`: not a reply to add, save for
    the files the ticket could not take with it (a new ticket takes one)."""
    if source is None:
        return None
    offered = {f.id for f in draft.message_files}
    extra = [f for f in draft.files[1:] if f.get("id") in offered]
    return {"ts": source.ts, "user": source.author, "text": "", "files": extra}


def _channel_advice(error: str, channel: str) -> str:
    if is_channel_problem(error):
        return Mrkdwn(
            "I am not a member of <#{}>. Invite me with `/invite @ticket-bot` "
            "in that channel, then the next tickets will be posted there."
        ).format(channel)
    return f"Slack answered `{error}`."
