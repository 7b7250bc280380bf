"""The `console` fixture: `ticket-bot console` in a pseudo-terminal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.terminal import Terminal, start_console


@pytest.fixture()
def console(tmp_path: Path) -> Iterator[Terminal]:
    terminal = start_console(tmp_path)
    try:
        yield terminal
    finally:
        terminal.kill()
