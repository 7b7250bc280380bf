"""A local helpdesk speaking the Epixel support API, for a first run without a helpdesk
account: `ticket-bot sandbox`, or embedded in the bot when TICKET_API_URL is unset."""

from __future__ import annotations

from bot.sandbox.server import API_KEY, PASSWORD, USERNAME, Sandbox, default_db

__all__ = ["API_KEY", "PASSWORD", "USERNAME", "Sandbox", "default_db"]
