"""The message shortcut "Create ticket": the new-ticket modal, prefilled from a message.

It opens at once, as `/ticket new` does (bot/desk/modal.py): the subject and the
description come from the message's text with the names the cache knows; once
the modal is open, the permalink (and any name the cache did not know) fill in.
The message's files are offered when the helpdesk takes files, and only those the
bot may fetch. The submission takes the modal's way (bot/desk/create.py), which
makes the message's author the requester and posts the card in its thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.desk.explain import size_label
from bot.desk.intake import subject_of
from bot.desk.lookups import Lookups
from bot.desk.modal import NewTicketModal, Respond
from bot.desk.outage import telling_store_outage
from bot.desk.threads import CardNotPosted, Threads, ticket_of_thread
from bot.gateway import TicketGateway
from bot.slack.client import file_url, token_may_fetch
from bot.slack.forms import Draft, MessageSource, ModalContext, SharedFile
from bot.slack.render import Mrkdwn, link, render
from bot.slack.text import to_plain_text
from bot.store import Store, ThreadRef

log = logging.getLogger(__name__)

#: a checkbox group holds 10 options at most
MAX_OFFERED_FILES = 10


@dataclass
class MessageShortcut:
    gateway: TicketGateway
    store: Store
    slack: WebClient
    lookups: Lookups
    modal: NewTicketModal
    threads: Threads

    def used(
        self,
        trigger_id: str,
        source: MessageSource,
        message: dict[str, Any],
        response_url: str | None,
        respond: Respond,
    ) -> None:
        """On a modal thread right after the ack: the form, or (when the message's
        thread is a ticket's already) a link to that ticket's card."""
        with telling_store_outage(self.store, respond, "cannot open the form"):
            ticket_id = ticket_of_thread(self.store, ThreadRef(*source.thread))
            if ticket_id is not None:
                self._point_to(ticket_id, respond)
            else:
                self._open(trigger_id, source, message, response_url, respond)

    def _open(
        self,
        trigger_id: str,
        source: MessageSource,
        message: dict[str, Any],
        response_url: str | None,
        respond: Respond,
    ) -> None:
        context = ModalContext(channel=source.channel, response_url=response_url, source=source)
        draft = self._draft(message, self.lookups.known_name)
        self.modal.open_prefilled(
            trigger_id,
            draft,
            context,
            respond,
            complete=lambda draft, context: self._complete(message, draft, context),
        )

    def _draft(self, message: dict[str, Any], name: Callable[[str], str | None]) -> Draft:
        text = to_plain_text(message.get("text") or "", lambda user: name(user) or user).strip()
        offered, left_out = self._files(message)
        return Draft(
            subject=subject_of(text, self.gateway.capabilities.max_subject_chars),
            description=text,
            files=[f.download_spec() for f in offered],
            message_files=offered,
            files_left_out=left_out,
        )

    def _complete(
        self, message: dict[str, Any], draft: Draft, context: ModalContext
    ) -> tuple[Draft, ModalContext]:
        """The permalink, and the names the cache did not know when the modal opened."""
        named = self._draft(message, lambda user: self.lookups.person(user).name)
        source = context.source
        assert source is not None  # set by `used`
        try:
            permalink = self.threads.permalink(source.channel, source.ts)
        except CardNotPosted:
            permalink = ""  # put in at creation (bot/desk/create.py)
        description = f"{named.description}\n\n{permalink}".strip()
        completed = draft.model_copy(update={"subject": named.subject, "description": description})
        source = source.model_copy(update={"permalink": permalink or None})
        return completed, context.model_copy(update={"source": source})

    def _files(self, message: dict[str, Any]) -> tuple[list[SharedFile], list[str]]:
        """The message's files the form may offer, and the others, each "name (why)"."""
        files = [SharedFile.model_validate(f) for f in message.get("files") or [] if f.get("id")]
        caps = self.gateway.capabilities
        if not caps.attachments:
            return [], [f"{f.name} (the helpdesk takes no files)" for f in files]
        limit = caps.max_attachment_bytes
        offered: list[SharedFile] = []
        left_out: list[str] = []
        for file in files:
            if not token_may_fetch(file_url(file.download_spec()), self.slack.base_url):
                left_out.append(f"{file.name} (not stored in Slack)")
            elif limit and file.size is not None and file.size > limit:
                left_out.append(f"{file.name} (over {size_label(limit)})")
            elif len(offered) == MAX_OFFERED_FILES:
                left_out.append(f"{file.name} (more than {MAX_OFFERED_FILES} files)")
            else:
                offered.append(file)
        return offered, left_out

    def _point_to(self, ticket_id: str, respond: Respond) -> None:
        text = Mrkdwn("That message's thread is ticket *#{}* already.").format(ticket_id)
        card = self.store.card_for_ticket(ticket_id)
        try:
            permalink = self.threads.permalink(card.channel, card.ts) if card else ""
        except CardNotPosted:
            permalink = ""
        if permalink:
            text += Mrkdwn(" ") + link(permalink, "See its card.")
        respond(**render("notice.json.j2", text=text, details=None), response_type="ephemeral")
