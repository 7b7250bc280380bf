"""Run a bench's fakes (tests/support/fakes) in a child process, driven over a pipe.

A fake served in the bench's own process shares that process's GIL with whatever the
bench measures there (sender threads timing acks, a poller timing its cycle): every
request the fake answers then delays the measurement. In a child process it only
competes for the machine's CPUs (a real Slack or helpdesk would not even do that).

The child is a "spawn" process (a fresh interpreter, nothing inherited from the bench's
threads). Its target is a module-level function `target(conn, *args)` that starts the
fakes and calls `serve_commands(conn, hello, handlers)`; the parent constructs
`FakesProcess(target, *args)`, reads `hello` and calls `ask(command, arg)`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

START_TIMEOUT = 120.0
ASK_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def serve_commands(conn: Connection, hello: Any, handlers: dict[str, Callable[[Any], Any]]) -> None:
    """The child's loop: send `hello`, then answer `(command, arg)` until "stop" or EOF.

    Each answer is `(True, result)`, or `(False, "<exception>")` when the handler raised.
    """
    # Ctrl-C reaches the whole process group; the parent stops the child in order
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn.send(hello)
    while True:
        try:
            command, arg = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if command == "stop":
            conn.send((True, None))
            return
        try:
            answer = (True, handlers[command](arg))
        except Exception as exc:
            answer = (False, f"{command}: {type(exc).__name__}: {exc}")
        conn.send(answer)


class FakesProcess:
    """The parent's handle on the child: `hello`, `pid`, `ask()` and `stop()`."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._lock = threading.Lock()
        self.process = context.Process(target=target, args=(child, *args), daemon=True)
        self.process.start()
        child.close()
        try:
            if not self._conn.poll(START_TIMEOUT):
                raise RuntimeError(f"the fakes did not start within {START_TIMEOUT:.0f} s")
            self.hello: Any = self._conn.recv()
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def ask(self, command: str, arg: Any = None, timeout: float = ASK_TIMEOUT) -> Any:
        """Send one command and wait (bounded) for its answer; one at a time."""
        with self._lock:
            self._conn.send((command, arg))
            if not self._conn.poll(timeout):
                raise RuntimeError(f"the fakes did not answer {command!r} within {timeout:g} s")
            ok, result = self._conn.recv()
        if not ok:
            raise RuntimeError(f"the fakes failed: {result}")
        return result

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError, EOFError, RuntimeError):
                self.ask("stop", timeout=STOP_TIMEOUT)
            self.process.join(STOP_TIMEOUT)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(STOP_TIMEOUT)
        self._conn.close()

    def __enter__(self) -> FakesProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
