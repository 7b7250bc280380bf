"""`ticket-bot` and `python -m bot`: the subcommands of CONTRACT.md."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bot.runtime.settings import ConfigError, Unreachable, load_settings


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ticket-bot", description="A helpdesk in Slack.")
    sub = top.add_subparsers(dest="command")
    sub.add_parser("socket", help="Socket Mode (needs SLACK_APP_TOKEN)")
    serve = sub.add_parser(
        "serve", help="HTTP mode: POST /slack/events, GET /healthz, GET /metrics"
    )
    serve.add_argument("--port", type=int, default=None, help="default: $PORT or 3000")
    serve.add_argument("--no-worker", action="store_true", help="do not run the sync worker")
    worker = sub.add_parser("worker", help="only the sync worker")
    worker.add_argument(
        "--metrics-port", type=int, default=None, help="serve GET /metrics on this port"
    )
    sub.add_parser("check", help="check the configuration, Slack, Redis and the helpdesk")
    sandbox = sub.add_parser("sandbox", help="a local helpdesk speaking the Epixel API")
    sandbox.add_argument("--port", type=int, default=8025)
    sub.add_parser("console", help="the real app driven from a terminal")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"ticket-bot: {line}", file=sys.stderr)
        if not isinstance(exc, Unreachable):
            print(
                "ticket-bot: set these in the environment or in .env (see README.md)",
                file=sys.stderr,
            )
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def run(args: argparse.Namespace) -> int:
    command = args.command or _default_command()
    if command in ("socket", "worker"):
        from bot.runtime.metrics_dir import single_process

        single_process()  # before prometheus_client is imported
    if command == "socket":
        from bot.runtime.serving import run_socket

        return run_socket()
    if command == "serve":
        from bot.runtime.metrics_dir import fresh_multiprocess_dir

        with fresh_multiprocess_dir():  # before prometheus_client is imported
            from bot.runtime.serving import run_http

            return run_http(
                port=args.port if args.command else None,
                run_worker=not getattr(args, "no_worker", False),
            )
    if command == "worker":
        from bot.runtime.serving import run_worker

        return run_worker(metrics_port=args.metrics_port if args.command else None)
    if command == "check":
        from bot.runtime.check import run_check

        return run_check()
    if command == "sandbox":
        from bot.sandbox.run import run_sandbox

        return run_sandbox(port=args.port)
    if command == "console":
        from bot.runtime.console import run_console

        return run_console()
    print(f"ticket-bot: `{command}` is not available in this version yet", file=sys.stderr)
    return 2


def _default_command() -> str:
    if os.environ.get("SLACK_APP_TOKEN"):
        return "socket"
    try:
        return "socket" if load_settings().SLACK_APP_TOKEN else "serve"
    except ConfigError:
        return "serve"  # serve reports what is missing
