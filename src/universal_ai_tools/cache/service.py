"""Looks requests up in the cache and remembers answers worth keeping.

Layers: an exact hit (same context, same normalized last user turn), then a semantic
hit (same context, the nearest earlier prompt above the similarity threshold, and the
lexical guard of `guard.py` agreeing: same numbers, negations and word order). Requests
that sample (temperature above 0, or the backend's default) are not cached unless the
settings say so, since their answers are meant to differ.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from universal_ai_tools.cache.entries import CacheEntry, CacheKey, Vector, cache_key
from universal_ai_tools.cache.guard import compatible
from universal_ai_tools.cache.store import CacheStore
from universal_ai_tools.llm.types import ChatDelta, ChatRequest, ChatResult, Usage
from universal_ai_tools.settings import CacheSettings

CacheStatus = Literal["hit", "semantic-hit", "miss", "bypass"]
_WORDS = re.compile(r"\s*\S+\s*|\s+")


class TextEmbedder(Protocol):
    async def embed_one(self, text: str) -> Vector: ...


@dataclass(slots=True)
class Lookup:
    status: CacheStatus
    key: CacheKey | None = None
    entry: CacheEntry | None = None
    vector: Vector | None = None
    similarity: float | None = None
    storable: bool = False


class ResponseCache:
    def __init__(
        self,
        store: CacheStore,
        embedder: TextEmbedder | None,
        settings: CacheSettings,
        on_lookup: Callable[[CacheStatus], None] | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.on_lookup = on_lookup  # counts results (metrics)

    def _cacheable(self, request: ChatRequest) -> bool:
        sampled = request.temperature is None or request.temperature > 0
        return self.settings.enabled and (not sampled or self.settings.cache_sampled_requests)

    async def lookup(
        self, org_id: str, model: str, request: ChatRequest, cache_control: str | None
    ) -> Lookup:
        found = await self._lookup(org_id, model, request, cache_control)
        if self.on_lookup is not None:
            self.on_lookup(found.status)
        return found

    async def _lookup(
        self, org_id: str, model: str, request: ChatRequest, cache_control: str | None
    ) -> Lookup:
        if not getattr(self.store, "healthy", True):  # a shared store that is unreachable
            return Lookup("bypass")
        directives = {d.strip().lower() for d in (cache_control or "").split(",")}
        key = cache_key(org_id, model, request) if self._cacheable(request) else None
        if key is None or "no-store" in directives:
            return Lookup("bypass")
        if "no-cache" in directives:
            return Lookup("bypass", key=key, storable=True)
        entry = await self.store.get(key.exact)
        if entry is not None:
            return Lookup("hit", key=key, entry=entry)
        vector = None
        if self.embedder is not None and self.settings.semantic:
            vector = await self.embedder.embed_one(key.prompt)
            found = await self.store.nearest(key.scope, vector, self.settings.similarity_threshold)
            if found is not None and compatible(found[0].prompt, key.prompt):
                entry, similarity = found
                return Lookup("semantic-hit", key, entry, vector, similarity)
        return Lookup("miss", key=key, vector=vector, storable=True)

    async def remember(self, lookup: Lookup, result: ChatResult) -> None:
        key = lookup.key
        if key is None or not lookup.storable or result.tool_calls:
            return
        if result.finish_reason not in ("stop", "length") or not result.content:
            return
        vector = lookup.vector
        if vector is None and self.embedder is not None and self.settings.semantic:
            vector = await self.embedder.embed_one(key.prompt)
        await self.store.put(
            CacheEntry(
                id=key.exact,
                org_id=key.org_id,
                model=key.model,
                context=key.context,
                prompt=key.prompt,
                answer=result.content,
                finish_reason=result.finish_reason,
                prompt_tokens=result.usage.prompt_tokens,
                completion_tokens=result.usage.completion_tokens,
                vector=vector,
            )
        )

    async def recording(
        self, lookup: Lookup, deltas: AsyncIterator[ChatDelta]
    ) -> AsyncIterator[ChatDelta]:
        """Pass a stream through; remember the whole answer once it finished well."""
        parts: list[str] = []
        async for delta in deltas:
            parts.append(delta.content)
            if delta.finish_reason is not None and delta.usage is not None:
                result = ChatResult(
                    content="".join(parts),
                    finish_reason=delta.finish_reason,
                    usage=delta.usage,
                    tool_calls=delta.tool_calls,
                )
                await self.remember(lookup, result)
            yield delta


def cached_result(entry: CacheEntry) -> ChatResult:
    return ChatResult(
        content=entry.answer,
        finish_reason="length" if entry.finish_reason == "length" else "stop",
        usage=Usage(entry.prompt_tokens, entry.completion_tokens),
    )


async def replay(entry: CacheEntry) -> AsyncIterator[ChatDelta]:
    """A cached answer as a well-formed stream, one word at a time."""
    result = cached_result(entry)
    for piece in _WORDS.findall(entry.answer):
        yield ChatDelta(content=piece)
    yield ChatDelta(finish_reason=result.finish_reason, usage=result.usage)
