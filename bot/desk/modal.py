"""The new-ticket modal: open it at once, fill a loading view, validate, keep the draft."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.desk.deferred import Defer
from bot.desk.explain import explain, size_label, store_down
from bot.desk.lookups import FormLists, Lookups
from bot.gateway import Capabilities, GatewayError, PriorityLevel, TicketGateway
from bot.slack import ids
from bot.slack.client import file_url, token_may_fetch
from bot.slack.forms import Draft, ModalContext, offers_message_files, read_draft
from bot.slack.render import fill, placeholder, render, render_text
from bot.store import Store, is_unreachable

log = logging.getLogger(__name__)

DRAFT_TTL = 7 * 24 * 3600
NEW_TICKET_FORM = "new_ticket_modal.json.j2"
LOADING_VIEW = "loading_modal.json.j2"
#: what differs between two people's fresh forms over the same lists
SUBJECT, METADATA = placeholder("subject"), placeholder("metadata")

Respond = Any  # Bolt's respond(): text and blocks to the command's response_url
#: finishes a prefilled draft once the modal is open (the message shortcut's permalink)
Complete = Callable[[Draft, ModalContext], tuple[Draft, ModalContext]]


@dataclass
class NewTicketModal:
    gateway: TicketGateway
    store: Store
    slack: WebClient
    lookups: Lookups
    after_ack: Defer
    #: the fresh form rendered for these lists and capabilities, by whether it has a subject
    _fresh_forms: tuple[FormLists, Capabilities, dict[bool, str]] | None = field(
        default=None, init=False, repr=False
    )
    #: the loading view, rendered once: a cold `/ticket new` only fills in its metadata
    _loading_text: str | None = field(default=None, init=False, repr=False)

    def open(self, trigger_id: str, subject: str, context: ModalContext, respond: Respond) -> None:
        """Open the form at once: filled when the lookups are cached, loading otherwise.

        Runs on a modal thread right after the ack (`urgent`); the lists come from the
        cache in one Redis round trip; the slow part (filling a loading view from the
        helpdesk) goes to `after_ack`.
        """
        draft = Draft(subject=subject[: self.gateway.capabilities.max_subject_chars or None])
        self.open_prefilled(trigger_id, draft, context, respond)

    def open_prefilled(
        self,
        trigger_id: str,
        draft: Draft,
        context: ModalContext,
        respond: Respond,
        complete: Complete | None = None,
    ) -> None:
        """`open` with a draft already written; `complete`, when given, finishes it after
        the modal is open (what needs Slack or the helpdesk must not hold `views.open`),
        and the form is updated with what it gives, unless the modal moved on meanwhile."""
        try:
            lists = self.lookups.form_lists(cached_only=True)
            view = self._first_view(draft, context, lists)
            opened = self.slack.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            self._did_not_open(exc, respond)
            return
        except Exception as exc:
            if not is_unreachable(exc):
                log.exception("opening the new-ticket modal failed")
                return
            self.store.outage.failed(exc)  # logged once per outage
            respond(
                **render("notice.json.j2", text=store_down("cannot open the form"), details=None),
                response_type="ephemeral",
            )
            return
        view_id = opened["view"]["id"]
        if lists is None:
            self.save_draft(view_id, draft)
            self.after_ack(lambda: self.fill_form(view_id, *_completed(complete, draft, context)))
        elif complete is not None:
            self.save_draft(view_id, draft)  # the offered files, read back at submission
            shown = str(opened["view"].get("hash") or "")
            self.after_ack(lambda: self._complete(view_id, shown, draft, context, complete))

    def _first_view(self, draft: Draft, context: ModalContext, lists: FormLists | None) -> Any:
        """What `views.open` shows: the form when the lists are cached (the one rendered
        once for them when the draft is new), else the loading view."""
        if lists is None:
            return self.loading_view(context)
        if draft == Draft(subject=draft.subject):
            return self.fresh_form(draft, context, lists)
        return self.form_view(draft, context, lists)  # prefilled from a message

    def _complete(
        self, view_id: str, shown: str, draft: Draft, context: ModalContext, complete: Complete
    ) -> None:
        draft, context = complete(draft, context)
        self.update_view(view_id, self.form_view(draft, context), view_hash=shown)

    def _did_not_open(self, exc: SlackApiError, respond: Respond) -> None:
        error = exc.response.get("error", "unknown")
        log.warning("views.open failed: %s", error)
        text = "Slack did not let me open the form"
        if error == "expired_trigger_id":
            text += " in time. Please type `/ticket new` again."
        else:
            text += f" ({error}). Please try again."
        respond(**render("notice.json.j2", text=text, details=None), response_type="ephemeral")

    def fill_form(self, view_id: str, draft: Draft, context: ModalContext) -> None:
        """Replace the loading view with the form, or with a retry view if lookups fail."""
        try:
            view = self.form_view(draft, context)
        except GatewayError as exc:
            view = render(
                "lookup_failed_modal.json.j2", metadata=context.dump(), reason=explain(exc)
            )
        self.update_view(view_id, view)

    def retry_lookups(self, view_id: str, context: ModalContext) -> None:
        self.update_view(view_id, self.loading_view(context))
        self.fill_form(view_id, self.load_draft(view_id), context)

    def restore_form(self, view_id: str, context: ModalContext) -> None:
        self.update_view(view_id, self.form_view(self.load_draft(view_id), context))

    def loading_view(self, context: ModalContext) -> Any:
        if self._loading_text is None:
            self._loading_text = render_text(LOADING_VIEW, metadata=METADATA)
        return fill(LOADING_VIEW, self._loading_text, {METADATA: context.dump()})

    def form_view(
        self,
        draft: Draft,
        context: ModalContext,
        lists: FormLists | None = None,
        errors: dict[str, str] | None = None,
        notice: str | None = None,
    ) -> Any:
        """The new-ticket form; `lists` read from the helpdesk (through the cache) if not given."""
        lists = lists or self.lookups.form_lists()
        assert lists is not None  # not cached_only: loaded when missing
        values = self._form_values(draft, context.dump(), lists, errors, notice)
        return render(NEW_TICKET_FORM, **values)

    def fresh_form(self, draft: Draft, context: ModalContext, lists: FormLists) -> Any:
        """`form_view` of a new draft (a subject at most), rendered once for the same lists:
        the template is most of the CPU a warm `/ticket new` spends before `views.open`."""
        caps = self.gateway.capabilities
        forms = self._fresh_forms
        if forms is None or forms[0] is not lists or forms[1] is not caps:
            forms = self._fresh_forms = (lists, caps, {})
        has_subject = bool(draft.subject)
        text = forms[2].get(has_subject)
        if text is None:
            fresh = Draft(subject=SUBJECT if has_subject else "")
            text = render_text(NEW_TICKET_FORM, **self._form_values(fresh, METADATA, lists))
            forms[2][has_subject] = text
        return fill(NEW_TICKET_FORM, text, {SUBJECT: draft.subject, METADATA: context.dump()})

    def _form_values(
        self,
        draft: Draft,
        metadata: str,
        lists: FormLists,
        errors: dict[str, str] | None = None,
        notice: str | None = None,
    ) -> dict[str, Any]:
        caps = self.gateway.capabilities
        limit = caps.max_attachment_bytes if caps.attachments else None
        categories = lists.categories
        return dict(
            metadata=metadata,
            draft=draft,
            categories=categories,
            chosen_category=next((c for c in categories if c.id == draft.category_id), None),
            priorities=lists.priorities,
            chosen_priority=_chosen_priority(lists.priorities, draft.priority),
            max_subject_chars=caps.max_subject_chars,
            max_attachment_bytes=limit,
            max_attachment_label=size_label(limit) if limit else "",
            errors=errors or {},
            notice=notice,
        )

    def validate(self, draft: Draft) -> dict[str, str]:
        """Problems Slack can show next to the fields (response_action: errors)."""
        caps = self.gateway.capabilities
        errors: dict[str, str] = {}
        limit = caps.max_subject_chars
        if not draft.subject:
            errors[ids.SUBJECT_BLOCK] = "Please give the ticket a subject."
        elif limit and len(draft.subject) > limit:
            errors[ids.SUBJECT_BLOCK] = (
                f"The subject has {len(draft.subject)} characters; the helpdesk takes {limit}."
            )
        if not draft.description:
            errors[ids.DESCRIPTION_BLOCK] = "Please describe the problem."
        if caps.categories and not draft.category_id:
            errors[ids.CATEGORY_BLOCK] = "Please choose a category."
        max_bytes = caps.max_attachment_bytes
        for file in draft.files:
            if not token_may_fetch(file_url(file), self.slack.base_url):
                errors[ids.ATTACHMENT_BLOCK] = (
                    f"{file.get('name', 'The file')} is not stored in Slack; "
                    "attach a file uploaded to Slack."
                )
                continue
            size = file.get("size")
            if max_bytes and isinstance(size, int) and size > max_bytes:
                errors[ids.ATTACHMENT_BLOCK] = (
                    f"{file.get('name', 'The file')} is {size_label(size)}; the helpdesk takes "
                    f"up to {size_label(max_bytes)}."
                )
        return errors

    def pending_view(self, context: ModalContext) -> Any:
        return self.result_view(
            context, ":hourglass_flowing_sand: Creating your ticket in the helpdesk…"
        )

    def result_view(
        self,
        context: ModalContext,
        headline: str,
        *,
        details: str | None = None,
        draft: Draft | None = None,
    ) -> Any:
        """The modal after a submission: what happened, and the draft when it failed."""
        return render(
            "result_modal.json.j2",
            metadata=context.dump(),
            headline=headline,
            details=details,
            draft=draft,
        )

    # --- drafts, and telling the person ---------------------------------------------

    def save_draft(self, view_id: str, draft: Draft) -> None:
        self.store.save_draft(view_id, draft.model_dump_json(), DRAFT_TTL)

    def load_draft(self, view_id: str) -> Draft:
        raw = self.store.load_draft(view_id)
        return Draft.model_validate_json(raw) if raw else Draft()

    def read(self, view: dict[str, Any]) -> Draft:
        """The submitted form; the message files it offered come from its kept draft."""
        if not offers_message_files(view):
            return read_draft(view)
        return read_draft(view, self.load_draft(str(view["id"])).message_files)

    def update_view(self, view_id: str, view: Any, view_hash: str | None = None) -> None:
        """`view_hash`: update only the view Slack showed with it (else it moved on)."""
        try:
            self.slack.views_update(view_id=view_id, view=view, hash=view_hash)
        except SlackApiError as exc:
            # The person closed the modal: nothing to update, and the draft is kept.
            log.info("views.update of %s failed: %s", view_id, exc.response.get("error"))

    def tell(
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
            details = f"What you typed:\n*{keep.subject}*\n{keep.description}"
        message = render("notice.json.j2", text=text, details=details)
        try:
            WebhookClient(context.response_url).send(response_type="ephemeral", **message)
        except Exception:  # a dead response_url must not hide the modal's own message
            log.warning("could not answer through the response_url")


def _completed(
    complete: Complete | None, draft: Draft, context: ModalContext
) -> tuple[Draft, ModalContext]:
    return complete(draft, context) if complete else (draft, context)


def _chosen_priority(priorities: list[PriorityLevel], chosen: str | None) -> PriorityLevel | None:
    """The draft's priority, else the middle of the helpdesk's list (its usual default)."""
    found = next((p for p in priorities if p.id == chosen), None)
    return found or (priorities[len(priorities) // 2] if priorities else None)
