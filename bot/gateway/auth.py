"""A token that threads share: obtained once, renewed once for many refused calls."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import httpx

T = TypeVar("T")


class SharedToken(Generic[T]):
    """Holds a credential `T` (a bearer string, or a token with its expiry).

    `obtain(old)` logs in or refreshes; `access(token)` is the string to send;
    `fresh(token)` says whether it may still be used without asking (an expiry).
    Under one lock, so concurrent callers cause one login, and calls refused
    with the same token cause one renewal: later threads find the new token."""

    def __init__(
        self,
        obtain: Callable[[T | None], T],
        access: Callable[[T], str],
        *,
        fresh: Callable[[T], bool] = lambda token: True,
        initial: T | None = None,
    ) -> None:
        self._obtain = obtain
        self._access = access
        self._fresh = fresh
        self._token = initial
        self._lock = threading.Lock()

    def current(self) -> str:
        with self._lock:
            if self._token is None or not self._fresh(self._token):
                self._token = self._obtain(self._token)
            return self._access(self._token)

    def renew(self, rejected: str) -> str:
        with self._lock:
            if self._token is None or self._access(self._token) == rejected:
                self._token = self._obtain(self._token)
            return self._access(self._token)

    def replace(self, token: T) -> None:
        with self._lock:
            self._token = token


def send_renewing(
    token: SharedToken[T],
    send: Callable[[str], httpx.Response],
    refused: Callable[[httpx.Response], bool],
) -> httpx.Response:
    """`send` with the current token; when the answer says it was `refused`, once more
    with a renewed one. Only for refusals made before the request did anything (an
    auth check), so resending cannot duplicate a write."""
    sent_with = token.current()
    response = send(sent_with)
    if refused(response):
        response = send(token.renew(sent_with))
    return response
