"""The helpdesk gateway and the Slack Web API client, timed and counted
(bot/runtime/metrics.py). Built by the runtime around what the other layers use, so
neither bot/gateway nor bot/slack knows about metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import SlackResponse

from bot.gateway import GatewayError, TicketGateway
from bot.runtime.metrics import (
    HELPDESK_CALLS,
    HELPDESK_SECONDS,
    SLACK_API_CALLS,
    SLACK_API_SECONDS,
    SLACK_RATE_LIMIT_WAITS,
    TRIGGERS,
    TriggerClock,
    label,
)
from bot.slack.transport import KeptAliveWebClient

#: the TicketGateway methods that call the helpdesk
OPERATIONS = frozenset(
    {
        "list_categories",
        "list_priorities",
        "list_tags",
        "create_ticket",
        "list_tickets",
        "get_ticket",
        "update_ticket",
        "add_conversation",
        "download_attachment",
        "set_status",
        "configuration_problems",
    }
)


class MeteredGateway:
    """A TicketGateway that times each helpdesk call and counts it by its error class.
    Everything else (name, capabilities, webhook_ticket_id, …) is the wrapped gateway's."""

    def __init__(self, inner: TicketGateway, backend: str) -> None:
        self._inner = inner
        self._backend = label(backend)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name in OPERATIONS:
            return self._timed(name, value)
        return value

    def _timed(self, operation: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            error = "none"
            try:
                return call(*args, **kwargs)
            except GatewayError as exc:
                error = type(exc).__name__
                raise
            except Exception:
                error = "unexpected"
                raise
            finally:
                HELPDESK_SECONDS.labels(self._backend, operation).observe(
                    time.perf_counter() - started
                )
                HELPDESK_CALLS.labels(self._backend, operation, error).inc()

        return timed


def metered_gateway(inner: TicketGateway, backend: str) -> TicketGateway:
    return cast(TicketGateway, MeteredGateway(inner, backend))


class MeteredRateLimit(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (waits Retry-After), with each wait observed."""

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        started = time.perf_counter()
        super().prepare_for_next_attempt(
            state=state, request=request, response=response, error=error
        )
        method = label(request.url.rstrip("/").rpartition("/")[2])
        SLACK_RATE_LIMIT_WAITS.labels(method).observe(time.perf_counter() - started)


class MeteredWebClient(KeptAliveWebClient):
    """Every Web API call timed and counted by method and error; views.open also tells
    the trigger clock, which observes how long after the command the modal went out."""

    def __init__(self, *args: Any, triggers: TriggerClock = TRIGGERS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.triggers = triggers
        self.retry_handlers = [
            MeteredRateLimit(max_retry_count=h.max_retry_count)
            if isinstance(h, RateLimitErrorRetryHandler)
            else h
            for h in self.retry_handlers
        ]

    def api_call(  # type: ignore[override]
        self, api_method: str, *, json: dict[str, Any] | None = None, **kwargs: Any
    ) -> SlackResponse:
        started = time.perf_counter()
        method = label(api_method)
        if method == "views.open" and json and json.get("trigger_id"):
            self.triggers.opened(str(json["trigger_id"]), time.monotonic())
        error = "none"
        try:
            return super().api_call(api_method, json=json, **kwargs)
        except SlackApiError as exc:
            error = label(exc.response.get("error", "unknown"))
            raise
        except Exception as exc:
            error = label(type(exc).__name__)
            raise
        finally:
            SLACK_API_SECONDS.labels(method).observe(time.perf_counter() - started)
            SLACK_API_CALLS.labels(method, error).inc()
