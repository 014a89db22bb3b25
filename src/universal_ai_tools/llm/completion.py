"""One chat answer for either API: from the cache when it can, else from the backend.

Both wire formats (OpenAI, Ollama) call these, so caching and disconnect handling
behave the same everywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from opentelemetry import trace
from starlette.requests import Request

from universal_ai_tools.cache.service import Lookup, ResponseCache, cached_result, replay
from universal_ai_tools.llm.providers.base import Provider
from universal_ai_tools.llm.resilience import current_tenant
from universal_ai_tools.llm.streaming import cancel_on_disconnect, start_stream
from universal_ai_tools.llm.types import ChatDelta, ChatRequest, ChatResult
from universal_ai_tools.observability.llm import LlmObserver

CACHE_HEADER = "X-UAIT-Cache"


async def get_cache(request: Request) -> ResponseCache:
    cache: ResponseCache = request.app.state.cache
    return cache


CacheDep = Annotated[ResponseCache, Depends(get_cache)]


async def look_up(
    request: Request, cache: ResponseCache, org_id: str, model: str, chat: ChatRequest
) -> Lookup:
    """The cache lookup every chat answer starts with; it also names the organization the
    backend call is made for (the routing layer's fair queue serves organizations in turn)."""
    current_tenant.set(org_id)
    tracer: trace.Tracer = request.app.state.tracer
    with tracer.start_as_current_span("cache.lookup") as span:
        found = await cache.lookup(org_id, model, chat, request.headers.get("cache-control"))
        if span.is_recording():
            span.set_attribute("uait.cache.result", found.status)
    return found


async def complete(
    request: Request, provider: Provider, chat: ChatRequest, lookup: Lookup, cache: ResponseCache
) -> ChatResult:
    if lookup.entry is not None:
        return cached_result(lookup.entry)
    observer: LlmObserver = request.app.state.llm_observer
    model = lookup.key.model if lookup.key is not None else chat.target
    result = await observer.chat(
        model, provider, chat, lambda: cancel_on_disconnect(request, provider.chat(chat))
    )
    await cache.remember(lookup, result)
    return result


async def complete_stream(
    request: Request, provider: Provider, chat: ChatRequest, lookup: Lookup, cache: ResponseCache
) -> AsyncIterator[ChatDelta]:
    """The answer's deltas; the backend is asked only on a cache miss."""
    if lookup.entry is not None:
        return replay(lookup.entry)
    observer: LlmObserver = request.app.state.llm_observer
    model = lookup.key.model if lookup.key is not None else chat.target
    deltas = await observer.open_stream(
        model,
        provider,
        chat,
        lambda: cancel_on_disconnect(request, start_stream(provider.stream_chat(chat))),
    )
    return cache.recording(lookup, deltas)
