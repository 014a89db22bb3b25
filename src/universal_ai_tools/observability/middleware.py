"""The observability edge: a request id, a server span and HTTP metrics for every request."""

from __future__ import annotations

import re
import time
from contextvars import ContextVar
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from universal_ai_tools.db.types import new_id
from universal_ai_tools.observability.metrics import Metrics

REQUEST_ID: ContextVar[str] = ContextVar("uait_request_id", default="-")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


_TRACE_HEADERS = (b"traceparent", b"tracestate", b"x-request-id")


def _headers(scope: Scope) -> dict[str, str]:
    """Only the headers this middleware reads (decoding all of them costs on every request)."""
    return {
        k.decode("latin-1"): v.decode("latin-1")
        for k, v in scope.get("headers", [])
        if k in _TRACE_HEADERS
    }


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, tracer: trace.Tracer) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = tracer
        self._counters: dict[tuple[str, str, str], Any] = {}  # label lookups are not free
        self._latencies: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _SAFE_ID.match(incoming) else new_id()
        token = REQUEST_ID.set(request_id)
        method = scope["method"]
        started = time.perf_counter()
        status = 500
        context = propagate.extract(headers) if "traceparent" in headers else None
        with self.tracer.start_as_current_span(
            f"{method} {scope['path']}", context=context, kind=SpanKind.SERVER
        ) as span:
            trace_id = format(span.get_span_context().trace_id, "032x")

            async def send_with_ids(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message.setdefault("headers", [])
                    message["headers"] = [
                        *message["headers"],
                        (b"x-request-id", request_id.encode()),
                        (b"x-trace-id", trace_id.encode()),
                    ]
                await send(message)

            try:
                await self.app(scope, receive, send_with_ids)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                if span.is_recording():
                    span.update_name(f"{method} {template}")
                    span.set_attribute("http.request.method", method)
                    span.set_attribute("http.route", template)
                    span.set_attribute("http.response.status_code", status)
                    span.set_attribute("uait.request_id", request_id)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                self._count(template, method, status, time.perf_counter() - started)
                REQUEST_ID.reset(token)

    def _count(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, str(status))
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.metrics.http_requests.labels(*key)
        counter.inc()
        latency = self._latencies.get(key[:2])
        if latency is None:
            latency = self._latencies[key[:2]] = self.metrics.http_latency.labels(route, method)
        latency.observe(seconds)
        self.metrics.sample()
