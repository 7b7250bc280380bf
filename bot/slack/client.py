"""The Slack Web API client: retries 429s after Retry-After, 5xx answers and connection
errors with slack_sdk's own retry handlers; what still fails after them is the caller's
(a card's post, for one, is retried by the outbox)."""

from __future__ import annotations

import httpx
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.gateway.models import FileUpload

WEB_API_TIMEOUT = 10

#: every bot scope the code needs, and why; app-manifest.yml must ask for exactly these
SCOPES_USED = {
    "commands": "the /ticket slash command",
    "chat:write": "ticket cards, their updates and thread notes",
    "users:read": "the requester's name (users.info)",
    "users:read.email": "the requester's email for the helpdesk",
    "files:read": "files attached in the new-ticket modal and to thread replies",
    "channels:history": "replies in ticket threads of public channels (message.channels)",
    "groups:history": "replies in ticket threads of private channels (message.groups)",
    "reactions:write": "a reaction on each reply once it reached the helpdesk, or failed to",
    "files:write": "helpdesk attachments uploaded into the ticket's thread",
    "usergroups:read": "members of user groups named in TICKET_AGENTS (usergroups.users.list)",
    "channels:read": "who may see a ticket whose card is in a public channel "
    "(conversations.members)",
    "groups:read": "who may see a ticket whose card is in a private channel "
    "(conversations.members)",
}


def build_client(token: str, api_url: str, client_class: type[WebClient] = WebClient) -> WebClient:
    """`client_class`: the runtime passes a WebClient subclass that counts the calls."""
    return client_class(
        token=token,
        base_url=api_url,
        timeout=WEB_API_TIMEOUT,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


class FileTooLarge(Exception):
    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"{name} is larger than {limit // 1024} KiB")
        self.name = name
        self.limit = limit


_downloads = httpx.Client(timeout=httpx.Timeout(30, connect=5), follow_redirects=True)


def download_file(file: dict[str, object], token: str, limit: int | None) -> FileUpload:
    """A file shared in Slack, fetched with the bot token (url_private needs it)."""
    name = str(file.get("name") or "file")
    size = file.get("size")
    if limit is not None and isinstance(size, int) and size > limit:
        raise FileTooLarge(name, limit)
    url = str(file.get("url_private_download") or file.get("url_private"))
    response = _downloads.get(url, headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    if limit is not None and len(response.content) > limit:
        raise FileTooLarge(name, limit)
    mimetype = str(file.get("mimetype") or "application/octet-stream")
    return FileUpload(filename=name, content=response.content, content_type=mimetype)
