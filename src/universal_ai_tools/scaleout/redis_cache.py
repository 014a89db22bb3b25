"""`RedisCacheStore`: the `CacheStore` shared by every process, in Redis (layout: `cache_codec`).

Same behaviour as `MemoryCacheStore`: an entry older than `ttl_seconds` is never returned,
least recently used entries go beyond `max_entries`, a hit (exact or semantic) counts and
makes the entry the most recently used. `nearest` reads the scope's vectors (a set per
scope) and scores them with NumPy; each process keeps a scope's matrix until the scope's
token says the set changed. Given a `VectorIndex` (pgvector when the database is
PostgreSQL), the search goes there instead: it answers a few nearest ids, the first whose
entry is still in Redis wins, and the ids of entries gone from Redis are removed from it.

When Redis is unreachable, lookups miss and writes are dropped (`healthy` is False), so
the server answers from its backends; it goes back to Redis by itself.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar, cast

import numpy as np
from redis.asyncio import Redis
from redis.typing import EncodableT

from universal_ai_tools.cache.entries import CacheEntry, Vector
from universal_ai_tools.cache.store import CacheStats, Scope
from universal_ai_tools.cache.vectors import VectorIndex
from universal_ai_tools.scaleout import cache_codec as codec
from universal_ai_tools.scaleout.link import RedisLink, RedisUnavailable

logger = logging.getLogger(__name__)
T = TypeVar("T")
CHUNK = 500  # ids per round trip when walking an index
Matrix = tuple[bytes, int, list[str], Vector]  # token, dimension, ids, vectors
CANDIDATES = 8  # ids asked of a `VectorIndex` at a time


class RedisCacheStore:
    def __init__(
        self,
        link: RedisLink,
        max_entries: int,
        ttl_seconds: float,
        *,
        cached_scopes: int = 256,
        index: VectorIndex | None = None,
    ) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._link = link
        self._prefix = link.key("cache", "")
        client = link.client
        self._put = client.register_script(codec.PUT)
        self._touch = client.register_script(codec.TOUCH)
        self._delete = client.register_script(codec.DELETE)
        self._flush = client.register_script(codec.FLUSH)
        self._matrices: OrderedDict[str, Matrix] = OrderedDict()
        self._cached_scopes = cached_scopes
        self._index = index

    @property
    def healthy(self) -> bool:
        """False while Redis is unreachable: lookups miss and writes are dropped."""
        return self._link.healthy

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    def _args(self) -> list[str]:
        return [self._prefix, uuid.uuid4().hex]

    def _fresh(self, raw: codec.Raw) -> bool:
        return time.time() - float(raw[b"created"]) <= self.ttl_seconds

    async def _run(self, operation: Callable[[Redis], Awaitable[T]], default: T) -> T:
        try:
            return await self._link.run(operation)
        except RedisUnavailable:
            return default
        except (KeyError, ValueError, UnicodeDecodeError):  # an entry not written by us
            logger.exception("unreadable cache entry in Redis; treated as a miss")
            return default

    # -- lookups ---------------------------------------------------------------------------

    async def _touched(self, client: Redis, entry_id: str) -> CacheEntry | None:
        args = [*self._args(), entry_id, repr(time.time()), repr(float(self.ttl_seconds))]
        flat = await self._touch(args=args, client=client)
        return codec.decode(entry_id, codec.pairs(flat)) if flat else None

    async def get(self, entry_id: str) -> CacheEntry | None:
        return await self._run(lambda client: self._touched(client, entry_id), None)

    async def nearest(
        self, scope: Scope, vector: Vector, threshold: float
    ) -> tuple[CacheEntry, float] | None:
        if self._index is not None:
            return await self._nearest_indexed(self._index, scope, vector, threshold)

        async def run(client: Redis) -> tuple[CacheEntry, float] | None:
            matrix = await self._matrix(client, codec.scope_id(scope), vector.shape[0])
            if matrix is None:
                return None
            _, _, ids, vectors = matrix
            similarities = vectors @ vector
            for index in np.argsort(-similarities):
                similarity = float(similarities[index])
                if similarity < threshold:
                    return None
                entry = await self._touched(client, ids[int(index)])
                if entry is not None:
                    return entry, similarity
            return None

        return await self._run(run, None)

    async def _nearest_indexed(
        self, index: VectorIndex, scope: Scope, vector: Vector, threshold: float
    ) -> tuple[CacheEntry, float] | None:
        """The first of the index's nearest ids whose entry is alive; the dead are removed
        from the index, and the next few asked for, until one lives or none is left."""
        while True:
            found = await index.nearest(scope, vector, threshold, CANDIDATES)
            gone: list[str] = []
            try:
                for entry_id, similarity in found:
                    entry = await self._link.run(partial(self._touched, entry_id=entry_id))
                    if entry is not None:
                        return entry, similarity
                    gone.append(entry_id)
            except RedisUnavailable:
                return None  # a miss; whether those entries live is unknown
            except (KeyError, ValueError, UnicodeDecodeError):
                logger.exception("unreadable cache entry in Redis; treated as a miss")
                return None
            finally:
                await index.remove(gone)
            if len(found) < CANDIDATES:
                return None

    async def _matrix(self, client: Redis, scope: str, dimension: int) -> Matrix | None:
        token = await client.get(self._key("v", scope))
        if token is None:
            self._matrices.pop(scope, None)
            return None
        cached = self._matrices.get(scope)
        if cached is not None and cached[0] == token and cached[1] == dimension:
            self._matrices.move_to_end(scope)
            return cached
        async with client.pipeline(transaction=True) as pipe:
            pipe.get(self._key("v", scope))
            pipe.smembers(self._key("s", scope))
            token, members = await pipe.execute()
        if token is None or not members:
            return None
        ids = sorted(member.decode() for member in members)
        async with client.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.hget(self._key("e", entry_id), "vec")
            blobs: list[bytes | None] = await pipe.execute()
        kept = [(i, codec.vector_of(b)) for i, b in zip(ids, blobs, strict=True) if b is not None]
        gone = [i for i, b in zip(ids, blobs, strict=True) if b is None]
        if gone:
            await client.srem(self._key("s", scope), *gone)
        kept = [(i, v) for i, v in kept if v.shape[0] == dimension]
        if not kept:
            return None
        matrix: Matrix = (token, dimension, [i for i, _ in kept], np.stack([v for _, v in kept]))
        self._matrices[scope] = matrix
        self._matrices.move_to_end(scope)
        while len(self._matrices) > self._cached_scopes:
            self._matrices.popitem(last=False)
        return matrix

    async def peek(self, org_id: str, entry_id: str) -> CacheEntry | None:
        """An entry of this organization, without counting a hit."""

        async def run(client: Redis) -> CacheEntry | None:
            raw = cast(codec.Raw, await client.hgetall(self._key("e", entry_id)))
            if not raw or raw[b"org"].decode() != org_id or not self._fresh(raw):
                return None
            return codec.decode(entry_id, raw)

        return await self._run(run, None)

    # -- writes ----------------------------------------------------------------------------

    async def put(self, entry: CacheEntry) -> None:
        ttl_ms = int((entry.created_at + self.ttl_seconds - time.time()) * 1000)
        scope = ""
        if entry.vector is not None and self._index is None:
            scope = codec.scope_id((entry.org_id, entry.model, entry.context))
        head = [entry.id, str(ttl_ms), str(self.max_entries), entry.org_id, scope]
        args = [*self._args(), *head, *codec.encode(entry)]

        async def run(client: Redis) -> bool:
            await self._put(args=args, client=client)
            return True

        stored = await self._run(run, False)
        if stored and entry.vector is not None and self._index is not None:
            scope_key = (entry.org_id, entry.model, entry.context)
            await self._index.add(scope_key, entry.id, entry.vector, entry.created_at)

    async def delete(self, org_id: str, entry_id: str) -> bool:
        async def run(client: Redis) -> bool:
            return bool(await self._delete(args=[*self._args(), entry_id, org_id], client=client))

        deleted = await self._run(run, False)
        if deleted and self._index is not None:
            await self._index.remove([entry_id])
        return deleted

    async def flush(self, org_id: str, model: str | None) -> int:
        async def run(client: Redis) -> int:
            ids = cast(list[bytes], await client.zrange(self._key("o", org_id), 0, -1))
            removed = 0
            head: list[EncodableT] = [org_id, "0" if model is None else "1", model or ""]
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                args = [*self._args(), *head, *chunk]
                removed += int(await self._flush(args=args, client=client))
            return removed

        removed = await self._run(run, 0)
        if self._index is not None:
            await self._index.flush(org_id, model)
        return removed

    # -- listings ------------------------------------------------------------------------

    async def _walk(self, client: Redis, org_id: str, field: str) -> list[tuple[str, bytes]]:
        """(id, `field`) of the organization's live entries, most recently used first;
        index members whose entry is gone are dropped on the way."""
        org_key = self._key("o", org_id)
        ids = cast(list[bytes], await client.zrevrange(org_key, 0, -1))
        rows: list[tuple[str, bytes]] = []
        now = time.time()
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            async with client.pipeline(transaction=False) as pipe:
                for entry_id in chunk:
                    pipe.hmget(self._key("e", entry_id.decode()), ["created", field])
                values: list[list[bytes | None]] = await pipe.execute()
            gone = [i for i, (created, _) in zip(chunk, values, strict=True) if created is None]
            if gone:
                await client.zrem(org_key, *gone)
            for entry_id, (created, value) in zip(chunk, values, strict=True):
                if created is not None and now - float(created) <= self.ttl_seconds:
                    rows.append((entry_id.decode(), value or b""))
        return rows

    async def list(
        self, org_id: str, model: str | None, limit: int, offset: int
    ) -> list[CacheEntry]:
        async def run(client: Redis) -> list[CacheEntry]:
            rows = await self._walk(client, org_id, "model")
            wanted = [i for i, value in rows if model is None or value == model.encode()]
            page = wanted[offset : offset + limit]
            async with client.pipeline(transaction=False) as pipe:
                for entry_id in page:
                    pipe.hgetall(self._key("e", entry_id))
                raws: list[codec.Raw] = await pipe.execute()
            return [codec.decode(i, raw) for i, raw in zip(page, raws, strict=True) if raw]

        return await self._run(run, [])

    async def stats(self, org_id: str) -> CacheStats:
        async def run(client: Redis) -> CacheStats:
            rows = await self._walk(client, org_id, "hits")
            return CacheStats(entries=len(rows), hits=sum(int(value or 0) for _, value in rows))

        return await self._run(run, CacheStats(entries=0, hits=0))
