"""The terminal: prompts on the main thread, and lines printed from other threads
(agent replies, card updates) without breaking the line being typed."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import TextIO

try:  # line editing and history where the platform has it
    import readline
except ImportError:  # pragma: no cover (Windows)
    readline = None  # type: ignore[assignment]


class Screen:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self._lock = threading.RLock()
        self._prompt: str | None = None

    def say(self, lines: Iterable[str]) -> None:
        """Print `lines` above the prompt, then show the prompt and what was typed again."""
        text = "\n".join(lines)
        with self._lock:
            if self._prompt is not None and self.tty:
                self.stream.write("\r\x1b[K")
            self.stream.write(text + "\n")
            if self._prompt is not None:
                typed = readline.get_line_buffer() if readline is not None else ""
                self.stream.write(self._prompt + typed)
            self.stream.flush()

    def ask(self, prompt: str) -> str:
        """One line typed at `prompt`; EOFError on Ctrl-D."""
        with self._lock:
            self._prompt = prompt
        try:
            return input(prompt)
        finally:
            with self._lock:
                self._prompt = None
