"""Where entries live: the protocol, and the in-process store (exact, NumPy search)."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from universal_ai_tools.cache.entries import CacheEntry, Vector
from universal_ai_tools.cache.vectors import NumpyVectorIndex, Scope

__all__ = ["CacheStats", "CacheStore", "MemoryCacheStore", "Scope"]


@dataclass(frozen=True, slots=True)
class CacheStats:
    entries: int
    hits: int


class CacheStore(Protocol):
    async def get(self, entry_id: str) -> CacheEntry | None: ...

    async def nearest(
        self, scope: Scope, vector: Vector, threshold: float
    ) -> tuple[CacheEntry, float] | None: ...

    async def put(self, entry: CacheEntry) -> None: ...

    async def peek(self, org_id: str, entry_id: str) -> CacheEntry | None: ...

    async def list(
        self, org_id: str, model: str | None, limit: int, offset: int
    ) -> list[CacheEntry]: ...

    async def delete(self, org_id: str, entry_id: str) -> bool: ...

    async def flush(self, org_id: str, model: str | None) -> int: ...

    async def stats(self, org_id: str) -> CacheStats: ...


class MemoryCacheStore:
    """Least-recently-used entries are evicted beyond `max_entries`; entries older than
    `ttl_seconds` are never returned and are dropped when met."""

    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._index = NumpyVectorIndex()

    def _alive(self, entry: CacheEntry) -> bool:
        if time.time() - entry.created_at <= self.ttl_seconds:
            return True
        self._remove(entry.id)
        return False

    def _remove(self, entry_id: str) -> CacheEntry | None:
        entry = self._entries.pop(entry_id, None)
        self._index.discard(entry_id)
        return entry

    def _touch(self, entry: CacheEntry) -> CacheEntry:
        self._entries.move_to_end(entry.id)
        entry.hits += 1
        entry.last_hit_at = time.time()
        return entry

    async def get(self, entry_id: str) -> CacheEntry | None:
        entry = self._entries.get(entry_id)
        if entry is None or not self._alive(entry):
            return None
        return self._touch(entry)

    async def nearest(
        self, scope: Scope, vector: Vector, threshold: float
    ) -> tuple[CacheEntry, float] | None:
        found = await self._index.nearest(scope, vector, threshold, len(self._entries))
        for entry_id, similarity in found:
            entry = self._entries.get(entry_id)
            if entry is not None and self._alive(entry):
                return self._touch(entry), similarity
        return None

    async def put(self, entry: CacheEntry) -> None:
        self._remove(entry.id)
        self._entries[entry.id] = entry
        if entry.vector is not None:
            scope = (entry.org_id, entry.model, entry.context)
            await self._index.add(scope, entry.id, entry.vector, entry.created_at)
        while len(self._entries) > self.max_entries:
            self._remove(next(iter(self._entries)))

    async def list(
        self, org_id: str, model: str | None, limit: int, offset: int
    ) -> list[CacheEntry]:
        matching = [
            e
            for e in reversed(self._entries.values())
            if e.org_id == org_id and (model is None or e.model == model) and self._fresh(e)
        ]
        return matching[offset : offset + limit]

    def _fresh(self, entry: CacheEntry) -> bool:
        return time.time() - entry.created_at <= self.ttl_seconds

    async def peek(self, org_id: str, entry_id: str) -> CacheEntry | None:
        """An entry of this organization, without counting a hit."""
        entry = self._entries.get(entry_id)
        if entry is None or entry.org_id != org_id or not self._fresh(entry):
            return None
        return entry

    async def delete(self, org_id: str, entry_id: str) -> bool:
        entry = self._entries.get(entry_id)
        if entry is None or entry.org_id != org_id:
            return False
        self._remove(entry_id)
        return True

    async def flush(self, org_id: str, model: str | None) -> int:
        doomed = [
            e.id
            for e in self._entries.values()
            if e.org_id == org_id and (model is None or e.model == model)
        ]
        for entry_id in doomed:
            self._remove(entry_id)
        return len(doomed)

    async def stats(self, org_id: str) -> CacheStats:
        mine = [e for e in self._entries.values() if e.org_id == org_id and self._fresh(e)]
        return CacheStats(entries=len(mine), hits=sum(e.hits for e in mine))
