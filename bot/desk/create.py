"""Creating a ticket: the submission goes to the outbox, a worker creates it and posts the card."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk.cards import Cards, ticket_state
from bot.desk.explain import explain, is_channel_problem
from bot.desk.lookups import Lookups
from bot.desk.modal import NewTicketModal
from bot.gateway import (
    GatewayError,
    NewTicket,
    OutcomeUnknown,
    Ticket,
    TicketGateway,
    ValidationFailed,
)
from bot.slack import ids
from bot.slack.client import FileTooLarge, download_file
from bot.slack.forms import Draft, ModalContext
from bot.slack.render import escape_mrkdwn
from bot.store import Store, ThreadRef
from bot.store.keys import create_claim
from bot.sync.outbox import CreateJob, Outbox

CREATE_CLAIM_TTL = 24 * 3600
#: Slack's own answers that say "not now" rather than "never"
SLACK_TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
#: helpdesk refusals of these domain fields are shown next to their block in the form
FIELD_BLOCKS = {
    "subject": ids.SUBJECT_BLOCK,
    "description": ids.DESCRIPTION_BLOCK,
    "category": ids.CATEGORY_BLOCK,
    "priority": ids.PRIORITY_BLOCK,
    "attachment": ids.ATTACHMENT_BLOCK,
}


class CardNotPosted(Exception):
    """The ticket exists but Slack did not take its card for now: the job is retried."""


@dataclass
class Creation:
    gateway: TicketGateway
    store: Store
    slack: WebClient
    lookups: Lookups
    modal: NewTicketModal
    cards: Cards
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
            self._announce(Ticket.model_validate_json(created), view_id, context)
            return
        claim = create_claim(view_id)
        if not self.store.claim(claim, CREATE_CLAIM_TTL):
            if redelivered:
                self._show_unknown(view_id, draft, context, OutcomeUnknown("create interrupted"))
            return  # the same submission again
        self.modal.save_draft(view_id, draft)
        try:
            ticket = self._create(draft, user_id, view_id)
        except ValidationFailed as exc:
            self.store.release(claim)
            self._show_refusal(view_id, draft, context, exc)
        except OutcomeUnknown as exc:
            self._show_unknown(view_id, draft, context, exc)
        except GatewayError as exc:
            self.store.release(claim)
            self.show_failure(view_id, draft, context, explain(exc))
        except FileTooLarge as exc:
            self.store.release(claim)
            self.show_failure(view_id, draft, context, f"{exc}.")
        else:
            # remembered before anything else can fail: a retried job posts the card
            # of this ticket instead of creating another
            self.store.remember_created(view_id, ticket.model_dump_json(), CREATE_CLAIM_TTL)
            self.store.remember_requester(ticket.id, self.lookups.person(user_id).name, user_id)
            self._announce(ticket, view_id, context)

    def gave_up(self, view_id: str, draft: Draft, context: ModalContext, reason: str) -> None:
        """The job is dead-lettered: say what became of the ticket."""
        created = self.store.created_ticket(view_id)
        if created is None:
            self.show_failure(view_id, draft, context, reason)
            return
        ticket_id = Ticket.model_validate_json(created).id
        headline = (
            f":warning: Ticket *#{escape_mrkdwn(ticket_id)}* was created, "
            "but its card was not posted."
        )
        self.modal.update_view(view_id, self.modal.result_view(context, headline, details=None))
        self.modal.tell(context, headline, details=escape_mrkdwn(reason))

    def _create(self, draft: Draft, user_id: str, view_id: str) -> Ticket:
        caps = self.gateway.capabilities
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
        text = f":x: The ticket was not created. {escape_mrkdwn(reason)}"
        self._show(view_id, draft, context, text)

    def _show_unknown(
        self, view_id: str, draft: Draft, context: ModalContext, exc: OutcomeUnknown
    ) -> None:
        self._show(view_id, draft, context, f":grey_question: {escape_mrkdwn(explain(exc))}")

    def _show(self, view_id: str, draft: Draft, context: ModalContext, headline: str) -> None:
        self.modal.update_view(view_id, self.modal.result_view(context, headline, draft=draft))
        self.modal.tell(context, headline, keep=draft)

    def _announce(self, ticket: Ticket, view_id: str, context: ModalContext) -> None:
        """Post the card and link it, once; `CardNotPosted` when Slack may take it later."""
        channel = self.ticket_channel or context.channel
        headline = f":white_check_mark: Ticket *#{ticket.id}* was created"
        details = None
        if self.store.thread_for_ticket(ticket.id) is not None:
            headline += " and posted."  # by an attempt that stopped right after
        elif not channel:
            headline += ", but I have no channel to post its card in."
            details = "Set TICKET_CHANNEL or use `/ticket new` in a channel."
        else:
            try:
                posted = self.slack.chat_postMessage(channel=channel, **self.cards.render(ticket))
            except SlackApiError as exc:
                data, status = exc.response.data, exc.response.status_code
                error = str(data.get("error", "")) if isinstance(data, dict) else ""
                if status >= 500 or error in SLACK_TRANSIENT:
                    raise CardNotPosted(f"Slack answered {status} {error}".strip()) from exc
                headline += ", but I could not post its card."
                details = _channel_advice(error, channel)
            except OSError as exc:  # Slack unreachable, after the client's own retries
                raise CardNotPosted(f"Slack could not be reached ({type(exc).__name__})") from exc
            else:
                self.store.link_thread(ticket.id, ThreadRef(posted["channel"], posted["ts"]))
                self.store.start_sync(ticket.id, *ticket_state(ticket))  # the poller
                headline += f" and posted in <#{channel}>."
        view = self.modal.result_view(context, headline, details=details)
        self.modal.update_view(view_id, view)
        if details:
            self.modal.tell(context, headline, details=details)


def _channel_advice(error: str, channel: str) -> str:
    if is_channel_problem(error):
        return (
            f"I am not a member of <#{channel}>. Invite me with `/invite @ticket-bot` "
            "in that channel, then the next tickets will be posted there."
        )
    return f"Slack answered `{escape_mrkdwn(error)}`."
