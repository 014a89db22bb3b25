"""Metrics and GenAI spans around every model call (OpenTelemetry GenAI conventions:
`gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.response.model`,
`gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`, ...). No prompt or answer text
is recorded."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from universal_ai_tools.errors import UAITError
from universal_ai_tools.llm.types import ChatDelta, ChatRequest, ChatResult, Usage
from universal_ai_tools.observability.metrics import Metrics

T = TypeVar("T")


class LlmObserver:
    def __init__(self, metrics: Metrics, tracer: trace.Tracer) -> None:
        self.metrics = metrics
        self.tracer = tracer

    def _start(self, model: str, request: ChatRequest) -> tuple[Span, Span]:
        route = self.tracer.start_span(f"route {model}", kind=SpanKind.INTERNAL)
        context = trace.set_span_in_context(route)
        span = self.tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, context=context)
        if span.is_recording():
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.request.model", model)
            for name, value in (
                ("gen_ai.request.max_tokens", request.max_tokens),
                ("gen_ai.request.temperature", request.temperature),
                ("gen_ai.request.top_p", request.top_p),
                ("gen_ai.request.seed", request.seed),
            ):
                if value is not None:
                    span.set_attribute(name, value)
        return route, span

    def _finish(
        self,
        model: str,
        provider: Any,
        route: Span,
        span: Span,
        *,
        usage: Usage | None,
        finish: str | None,
        error: UAITError | None,
    ) -> None:
        routed = getattr(provider, "trace", None)
        served = getattr(routed, "served", None) or model
        backend = getattr(routed, "backend", None) or getattr(provider, "name", "unknown")
        outcome = "error" if error is not None else "ok"
        self.metrics.llm_requests.labels(served, backend, outcome).inc()
        if usage is not None:
            self.metrics.llm_tokens.labels(served, backend, "input").inc(usage.prompt_tokens)
            self.metrics.llm_tokens.labels(served, backend, "output").inc(usage.completion_tokens)
        if span.is_recording():
            span.set_attribute("gen_ai.response.model", served)
            span.set_attribute("uait.backend", backend)
            if usage is not None:
                span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
                span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
            if finish is not None:
                span.set_attribute("gen_ai.response.finish_reasons", [finish])
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, error.code))
        if route.is_recording() and routed is not None and hasattr(routed, "header"):
            route.set_attribute("uait.route", routed.header())
            route.set_attribute("uait.route.backend", backend)
        span.end()
        route.end()

    async def _inside(
        self, model: str, provider: Any, request: ChatRequest, call: Callable[[], Awaitable[T]]
    ) -> tuple[Span, Span, float, T]:
        """Runs `call` inside the route and model spans; a failure ends them."""
        route, span = self._start(model, request)
        started = time.perf_counter()
        try:
            with trace.use_span(span, end_on_exit=False):
                return route, span, started, await call()
        except UAITError as exc:
            self._finish(model, provider, route, span, usage=None, finish=None, error=exc)
            raise
        except BaseException:
            span.end()
            route.end()
            raise

    async def chat(
        self,
        model: str,
        provider: Any,
        request: ChatRequest,
        call: Callable[[], Awaitable[ChatResult]],
    ) -> ChatResult:
        route, span, started, result = await self._inside(model, provider, request, call)
        served = getattr(getattr(provider, "trace", None), "served", None) or model
        backend = getattr(getattr(provider, "trace", None), "backend", None) or provider.name
        self.metrics.llm_first_token.labels(served, backend).observe(time.perf_counter() - started)
        self._finish(
            model,
            provider,
            route,
            span,
            usage=result.usage,
            finish=result.finish_reason,
            error=None,
        )
        return result

    async def open_stream(
        self,
        model: str,
        provider: Any,
        request: ChatRequest,
        call: Callable[[], Awaitable[AsyncIterator[ChatDelta]]],
    ) -> AsyncIterator[ChatDelta]:
        """Opens the stream (up to its first delta) inside the spans; returns the deltas."""
        route, span, started, deltas = await self._inside(model, provider, request, call)
        return self._watch(model, provider, route, span, deltas, started)

    async def _watch(
        self,
        model: str,
        provider: Any,
        route: Span,
        span: Span,
        deltas: AsyncIterator[ChatDelta],
        started: float,
    ) -> AsyncIterator[ChatDelta]:
        first: float | None = None
        last = started
        pieces = 0
        usage: Usage | None = None
        finish: str | None = None
        error: UAITError | None = None
        try:
            async for delta in deltas:
                now = time.perf_counter()
                if first is None:
                    first = now
                last = now
                pieces += 1
                if delta.finish_reason is not None:
                    finish, usage = delta.finish_reason, delta.usage
                yield delta
        except UAITError as exc:
            error = exc
            raise
        finally:
            routed = getattr(provider, "trace", None)
            served = getattr(routed, "served", None) or model
            backend = getattr(routed, "backend", None) or getattr(provider, "name", "unknown")
            if first is not None:
                self.metrics.llm_first_token.labels(served, backend).observe(first - started)
                if pieces > 1:
                    self.metrics.llm_inter_token.labels(served, backend).observe(
                        (last - first) / (pieces - 1)
                    )
            self._finish(model, provider, route, span, usage=usage, finish=finish, error=error)
