"""The processes: settings, wiring, serving, the sync worker's process, check, console.

Only this package wires the layers together (bot/runtime/wiring.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.runtime.metrics_web import WsgiApp


def create_app(run_worker: bool = True) -> WsgiApp:
    """The WSGI entry point for gunicorn (`bot.runtime:create_app()`, see the Procfile)."""
    from bot.runtime.wiring import create_app as wired

    return wired(run_worker)
