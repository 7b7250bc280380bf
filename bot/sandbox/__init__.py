"""A local helpdesk speaking the Epixel support API, for a first run without a helpdesk
account: `ticket-bot sandbox`, or embedded in the bot when TICKET_API_URL is unset.

Deliberately written apart from the test fake (tests/support/fakes/epixel.py): both
implement the Epixel API document independently, so that the contract tests, run against
each, cross-check them. Code alike in the two is not to be shared."""

from __future__ import annotations

from bot.sandbox.server import API_KEY, PASSWORD, USERNAME, Sandbox, default_db

__all__ = ["API_KEY", "PASSWORD", "USERNAME", "Sandbox", "default_db"]
