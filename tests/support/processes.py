"""`python -m bot …` as a real process for tests: its own group, its output in a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

EXIT_SECONDS = 10.0


class BotProcess:
    def __init__(
        self, args: list[str], env: dict[str, str], workdir: Path, name: str = "bot"
    ) -> None:
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.stopped_after: float | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: gunicorn's workers die with it
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def assert_running(self) -> None:
        code = self.proc.poll()
        assert code is None, f"the bot exited with {code}:\n{self.output()}"

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = EXIT_SECONDS) -> int:
        """Send `sig`; the exit code, or AssertionError when it does not exit in time."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running {timeout}s after {sig.name}:\n{self.output()}"
            ) from None
        self.stopped_after = time.monotonic() - started
        return code

    def terminate(self, timeout: float = 15.0) -> int:
        return self.stop(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL to the whole group, leader gone or not (gunicorn's workers too)."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=EXIT_SECONDS)
        self._log.close()
