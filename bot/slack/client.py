"""The Slack Web API client, on connections kept open between calls
(bot/slack/transport.py): retries 429s after Retry-After, 5xx answers and connection
errors with slack_sdk's own retry handlers; what still fails after them is the caller's
(a card's post, for one, is retried by the outbox). And file downloads with the bot
token: only from Slack's file host, streamed, bounded."""

from __future__ import annotations

from functools import cache

import httpx
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.gateway.http import MAX_BODY_BYTES, read_bounded
from bot.gateway.models import FileUpload
from bot.slack.transport import KeptAliveWebClient

WEB_API_TIMEOUT = 10

#: every bot scope the code needs, and why; app-manifest.yml must ask for exactly these
SCOPES_USED = {
    "commands": 'the /ticket slash command and the message shortcut "Create ticket"',
    "chat:write": "ticket cards, their updates and thread notes",
    "users:read": "the requester's name (users.info)",
    "users:read.email": "the requester's email for the helpdesk",
    "files:read": "files attached in the new-ticket modal and to thread replies",
    "channels:history": "replies in ticket threads of public channels (message.channels); "
    "the message a reaction makes a ticket of (conversations.history); the replies already "
    "in a thread a ticket takes over (conversations.replies)",
    "groups:history": "replies in ticket threads of private channels (message.groups)",
    "reactions:read": "a reaction with TICKET_REACTION makes a ticket of the message "
    "(reaction_added)",
    "reactions:write": "a reaction on each reply once it reached the helpdesk, or failed to",
    "files:write": "helpdesk attachments uploaded into the ticket's thread",
    "usergroups:read": "members of user groups named in TICKET_AGENTS (usergroups.users.list)",
    "channels:read": "who may see a ticket whose card is in a public channel "
    "(conversations.members)",
    "groups:read": "who may see a ticket whose card is in a private channel "
    "(conversations.members)",
}


def build_client(
    token: str, api_url: str, client_class: type[KeptAliveWebClient] = KeptAliveWebClient
) -> KeptAliveWebClient:
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


class FileRefused(Exception):
    """A file whose URL is not on Slack's file host: the bot token is not sent there."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not stored in Slack, so the bot did not fetch it")
        self.name = name


#: a file host may send the bot elsewhere (a CDN): a few hops, never with the token
MAX_REDIRECTS = 3
DEFAULT_API_HOST = "slack.com"

Origin = tuple[str, str, int]


@cache
def _downloads() -> httpx.Client:
    """Made on the first download: a client loads the CA bundle into its TLS context
    (a few MiB in every serving process, most of which never downloads a file)."""
    return httpx.Client(timeout=httpx.Timeout(30, connect=5), follow_redirects=False)


def _origin(url: httpx.URL) -> Origin:
    default_port = 443 if url.scheme == "https" else 80
    return (url.scheme, url.host, url.port or default_port)


def file_origins(api_url: str) -> frozenset[Origin]:
    """Where the token may fetch files: files.slack.com; for another SLACK_API_URL
    (GovSlack, a proxy, tests) that URL's own origin and https://files.<its host>."""
    api = httpx.URL(api_url)
    files_host = ("https", f"files.{api.host}", 443)
    if _origin(api) == ("https", DEFAULT_API_HOST, 443):
        return frozenset({files_host})
    return frozenset({_origin(api), files_host})


def file_url(file: dict[str, object]) -> str:
    return str(file.get("url_private_download") or file.get("url_private") or "")


def token_may_fetch(url: str, api_url: str) -> bool:
    """Whether the bot token may be sent to `url`, a file's url_private."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return not parsed.userinfo and _origin(parsed) in file_origins(api_url)


def download_file(slack: WebClient, file: dict[str, object], limit: int | None) -> FileUpload:
    """A file shared in Slack, fetched with the bot token (url_private needs it), from
    Slack's file host only, streamed and stopped once it passes `limit` bytes."""
    name = str(file.get("name") or "file")
    bound = limit if limit is not None else MAX_BODY_BYTES  # the helpdesk names none
    size = file.get("size")
    if isinstance(size, int) and size > bound:
        raise FileTooLarge(name, bound)
    url = file_url(file)
    if not token_may_fetch(url, slack.base_url):
        raise FileRefused(name)
    content = _fetch(httpx.URL(url), slack.token or "", file_origins(slack.base_url), name, bound)
    mimetype = str(file.get("mimetype") or "application/octet-stream")
    return FileUpload(filename=name, content=content, content_type=mimetype)


def _fetch(url: httpx.URL, token: str, origins: frozenset[Origin], name: str, limit: int) -> bytes:
    """Follow redirects by hand: the token goes only to `origins`, whatever httpx would do."""
    for _ in range(MAX_REDIRECTS + 1):
        headers = {"Accept-Encoding": "identity"}  # what arrives is what is counted
        if _origin(url) in origins and not url.userinfo:
            headers["Authorization"] = f"Bearer {token}"
        with _downloads().stream("GET", url, headers=headers) as response:
            if response.is_redirect and "location" in response.headers:
                url = url.join(response.headers["location"])
                continue
            response.raise_for_status()
            return read_bounded(response, limit, lambda: FileTooLarge(name, limit))
    raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects", request=None)
