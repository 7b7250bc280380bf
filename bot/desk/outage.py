"""Redis lost while a person waits on work done after the ack: they are told, in the
way their request allows (`respond`), and the log says it once per outage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bot.desk.explain import store_down
from bot.slack.render import render
from bot.store import Store, is_unreachable


@contextmanager
def telling_store_outage(store: Store, respond: Callable[..., Any], cannot: str) -> Iterator[None]:
    """Run the block; if it fails because Redis is out of reach, tell the person
    ephemerally that the bot `cannot` (“could not change the ticket”)."""
    try:
        yield
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        store.outage.failed(exc)
        respond(
            **render("notice.json.j2", text=store_down(cannot), details=None),
            response_type="ephemeral",
            replace_original=False,
        )
