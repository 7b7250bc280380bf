"""A token that threads share: obtained once, renewed once for many refused calls."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import httpx

from bot.gateway.common import json_body
from bot.gateway.errors import Unauthorized
from bot.gateway.http import HttpTransport

log = logging.getLogger(__name__)

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


class LoginOrToken:
    """A bearer token that is given, or obtained by logging in with a username and a
    password (a JSON POST of both), shared by threads. With both, the token is used first
    and a refused one leads to one new login."""

    def __init__(
        self,
        http: HttpTransport,
        path: str,
        token_in: Callable[[Any], Any],
        *,
        token: str | None,
        username: str | None,
        password: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not token and not (username and password):
            raise ValueError("LoginOrToken needs a token, or a username and a password")
        self._http = http
        self._path = path
        self._token_in = token_in
        self._credentials = {"username": username, "password": password}
        self._headers = dict(headers or {})
        self.token: SharedToken[str] = SharedToken(
            lambda _old: self._login(), lambda access: access, initial=token or None
        )

    def send(
        self, send: Callable[[str], httpx.Response], refused: Callable[[httpx.Response], bool]
    ) -> httpx.Response:
        """`send_renewing`, logging in again only when a username and password are set."""
        return send_renewing(
            self.token, send, lambda response: self._can_login() and refused(response)
        )

    def _can_login(self) -> bool:
        return bool(self._credentials["username"] and self._credentials["password"])

    def _login(self) -> str:
        response = self._http.request(
            "POST", self._path, idempotent=True, headers=self._headers, json=self._credentials
        )
        token = self._token_in(json_body(response))
        if response.status_code != 200 or not isinstance(token, str) or not token:
            raise Unauthorized(
                f"POST {self._path}: the helpdesk refused the login (HTTP {response.status_code})"
            )
        log.debug("logged in to the helpdesk")
        return token
