"""Ids that log lines carry where known: the Slack request's, the outbox job's, the ticket's.

A context variable, so every line a request, a job or a poll writes carries its ids,
whatever module writes it; the JSON log format (LOG_FORMAT=json) prints them. Work
handed to other threads keeps the ids of the request that handed it on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_ids: ContextVar[dict[str, str]] = ContextVar("log_ids", default={})  # noqa: B039 (never mutated)


def current() -> dict[str, str]:
    """The ids bound here, e.g. {"slack_request_id": "Ev123", "ticket_id": "42"}."""
    return _ids.get()


@contextmanager
def log_ids(**ids: str | None) -> Iterator[None]:
    """Bind `ids` (those not None) for the lines logged inside the block."""
    token = _ids.set({**_ids.get(), **{k: v for k, v in ids.items() if v}})
    try:
        yield
    finally:
        _ids.reset(token)
