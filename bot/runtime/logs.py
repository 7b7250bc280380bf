"""Logging set-up with a filter that masks every secret before a line is written."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from bot import log_context

MASK = "***"
# Token shapes masked even when the value is not known to us (e.g. a pasted one).
TOKEN_PATTERN = re.compile(r"(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|Bearer\s+[^\s'\",}]+)")


class SecretMask(logging.Filter):
    """Replaces known secret values and token-shaped strings in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return TOKEN_PATTERN.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.mask(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonLines(logging.Formatter):
    """LOG_FORMAT=json: one JSON object a line, with the ids bound where it was logged
    (bot/log_context.py). Runs after the mask, so no field carries a secret."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "log_ids", {}),
        }
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


class _BindIds(logging.Filter):
    """Copies the ids bound in the logging thread onto the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.log_ids = log_context.current()
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


#: slack_sdk formats its debug lines (a request's whole body, its response) whenever the
#: logger's own level is unset, whatever the root's: ~0.3 ms of CPU per views.open of the
#: new-ticket form, on the way to the modal a person waits for (docs/performance.md)
SLACK_SDK_LOGGERS = ("slack_sdk.web.base_client", "slack_sdk.webhook.client")


def configure(
    level: str, secrets: Iterable[str], fmt: str = "text", stream: TextIO | None = None
) -> SecretMask:
    """Log to stderr (or `stream`) at `level` as text or JSON lines, every record masked."""
    mask = SecretMask(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(_BindIds())
    handler.addFilter(mask)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(max(logging.getLevelName(level), logging.WARNING))
    for name in SLACK_SDK_LOGGERS:
        logging.getLogger(name).setLevel(level)
    return mask
