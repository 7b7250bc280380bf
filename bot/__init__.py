"""ticket-bot: a Slack app that puts a helpdesk into the channels where people talk."""

__version__ = "0.1.0"
