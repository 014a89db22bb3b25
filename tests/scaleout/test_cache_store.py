"""The cache store: the same cases against `MemoryCacheStore` and `RedisCacheStore`; then
what only the Redis store does (sharing between processes, TTLs in Redis, outages)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.backends import Backends
from tests.conftest import SettingsFactory
from tests.scaleout.conftest import BACKENDS, Links
from tests.scaleout.redis_server import RedisServer

from universal_ai_tools.cache.entries import CacheEntry, Vector
from universal_ai_tools.cache.pgvector_index import PgvectorIndex
from universal_ai_tools.cache.store import CacheStats, CacheStore, MemoryCacheStore
from universal_ai_tools.db.engine import create_engine, session_factory
from universal_ai_tools.embeddings.pgvector import DIMENSIONS
from universal_ai_tools.scaleout.redis_cache import RedisCacheStore

SCOPE = ("org-1", "smollm2", "context-a")
StoreFactory = Callable[..., CacheStore]


def unit(*values: float) -> Vector:
    """A unit vector of the embedding model's size (pgvector's column), zero-padded."""
    vector = np.zeros(DIMENSIONS, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def entry(
    entry_id: str,
    vector: Vector | None = None,
    *,
    org: str = "org-1",
    model: str = "smollm2",
    context: str = "context-a",
    age: float = 0.0,
) -> CacheEntry:
    return CacheEntry(
        id=entry_id,
        org_id=org,
        model=model,
        context=context,
        prompt=f"prompt {entry_id}",
        answer=f"answer {entry_id}",
        finish_reason="stop",
        prompt_tokens=3,
        completion_tokens=5,
        vector=vector,
        created_at=time.time() - age,
    )


@pytest.fixture
async def pgvector_sessions(
    test_backends: Backends | None, make_settings: SettingsFactory
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on this test's PostgreSQL database (migrated: `cache_vectors` exists)."""
    if test_backends is None:
        pytest.skip("PostgreSQL pass only (UAIT_TEST_BACKENDS=postgres, see tests/backends.py)")
    engine = create_engine(make_settings().resolved_database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture(params=[*BACKENDS, "redis+pgvector"])
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    """`make_store(max_entries=100, ttl_seconds=3600)`; each Redis store is a new process.
    `redis+pgvector`: entries in Redis, the nearest-neighbour search in PostgreSQL."""
    if request.param == "memory":
        return lambda max_entries=100, ttl_seconds=3600.0: MemoryCacheStore(
            max_entries, ttl_seconds
        )
    links: Links = request.getfixturevalue("links")
    if request.param == "redis":
        return lambda max_entries=100, ttl_seconds=3600.0: RedisCacheStore(
            links.link(), max_entries, ttl_seconds
        )
    sessions = request.getfixturevalue("pgvector_sessions")
    return lambda max_entries=100, ttl_seconds=3600.0: RedisCacheStore(
        links.link(), max_entries, ttl_seconds, index=PgvectorIndex(sessions, ttl_seconds)
    )


async def test_get_counts_hits(make_store: StoreFactory) -> None:
    store = make_store()
    await store.put(entry("a"))
    assert await store.get("missing") is None
    first = await store.get("a")
    assert first is not None
    assert (first.answer, first.hits, first.prompt_tokens, first.completion_tokens) == (
        "answer a",
        1,
        3,
        5,
    )
    second = await store.get("a")
    assert second is not None and second.hits == 2
    assert second.last_hit_at is not None and second.last_hit_at >= second.created_at


async def test_nearest_finds_the_most_similar_above_the_threshold(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    await store.put(entry("north", unit(0, 1, 0)))
    await store.put(entry("east", unit(1, 0, 0)))
    await store.put(entry("north-east", unit(1, 1, 0)))
    await store.put(entry("plain"))  # no vector: exact hits only
    found = await store.nearest(SCOPE, unit(1, 0.1, 0), 0.5)
    assert found is not None
    hit, similarity = found
    assert hit.id == "east" and hit.hits == 1
    assert similarity == pytest.approx(float(unit(1, 0.1, 0) @ unit(1, 0, 0)), abs=1e-6)
    assert await store.nearest(SCOPE, unit(0, 0, 1), 0.5) is None
    assert await store.nearest(("org-2", "smollm2", "context-a"), unit(1, 0, 0), 0.5) is None
    assert await store.nearest(("org-1", "smollm2", "context-b"), unit(1, 0, 0), 0.5) is None


async def test_nearest_sees_new_and_removed_entries(make_store: StoreFactory) -> None:
    store = make_store()
    await store.put(entry("east", unit(1, 0, 0)))
    found = await store.nearest(SCOPE, unit(1, 1, 0), 0.5)
    assert found is not None and found[0].id == "east"
    await store.put(entry("north-east", unit(1, 1, 0)))
    found = await store.nearest(SCOPE, unit(1, 1, 0), 0.5)
    assert found is not None and found[0].id == "north-east"
    assert await store.delete("org-1", "north-east")
    found = await store.nearest(SCOPE, unit(1, 1, 0), 0.5)
    assert found is not None and found[0].id == "east"
    await store.flush("org-1", None)
    assert await store.nearest(SCOPE, unit(1, 1, 0), 0.5) is None


async def test_vectors_come_back_as_float32(make_store: StoreFactory) -> None:
    store = make_store()
    vector = np.random.default_rng(7).standard_normal(384).astype(np.float32)
    await store.put(entry("v", vector))
    found = await store.get("v")
    assert found is not None and found.vector is not None
    assert found.vector.dtype == np.float32
    assert np.array_equal(found.vector, vector)


async def test_expired_entries_are_never_returned(make_store: StoreFactory) -> None:
    store = make_store(ttl_seconds=60)
    await store.put(entry("old", unit(1, 0), age=61))
    await store.put(entry("new", unit(0, 1)))
    assert await store.get("old") is None
    assert await store.peek("org-1", "old") is None
    found = await store.nearest(SCOPE, unit(1, 0.2), 0.1)
    assert found is not None and found[0].id == "new"
    assert [e.id for e in await store.list("org-1", None, 10, 0)] == ["new"]
    assert await store.stats("org-1") == CacheStats(entries=1, hits=1)


async def test_least_recently_used_entries_go_beyond_max_entries(
    make_store: StoreFactory,
) -> None:
    store = make_store(max_entries=2)
    await store.put(entry("a", unit(1, 0)))
    await store.put(entry("b", unit(0, 1)))
    assert await store.get("a") is not None  # b is now the least recently used
    await store.put(entry("c"))
    assert await store.get("b") is None
    assert await store.nearest(SCOPE, unit(0, 1), 0.9) is None
    assert await store.get("a") is not None
    assert await store.get("c") is not None
    assert (await store.stats("org-1")).entries == 2


async def test_put_replaces_an_entry(make_store: StoreFactory) -> None:
    store = make_store()
    await store.put(entry("a", unit(1, 0)))
    await store.get("a")
    replacement = entry("a", unit(0, 1))
    replacement.answer = "new answer"
    await store.put(replacement)
    found = await store.get("a")
    assert found is not None and (found.answer, found.hits) == ("new answer", 1)
    assert await store.nearest(SCOPE, unit(1, 0), 0.9) is None
    assert (await store.stats("org-1")).entries == 1


async def test_list_pages_most_recently_used_first(make_store: StoreFactory) -> None:
    store = make_store()
    for name in ("a", "b", "c", "d"):
        await store.put(entry(name, model="m2" if name == "c" else "smollm2"))
    await store.put(entry("x", org="org-2"))
    await store.get("a")
    assert [e.id for e in await store.list("org-1", None, 10, 0)] == ["a", "d", "c", "b"]
    assert [e.id for e in await store.list("org-1", None, 2, 1)] == ["d", "c"]
    assert [e.id for e in await store.list("org-1", "smollm2", 10, 0)] == ["a", "d", "b"]
    assert [e.id for e in await store.list("org-1", "m2", 10, 0)] == ["c"]
    assert [e.id for e in await store.list("org-2", None, 10, 0)] == ["x"]
    assert await store.list("org-3", None, 10, 0) == []


async def test_peek_delete_flush_and_stats_stay_in_their_organization(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    await store.put(entry("a"))
    await store.put(entry("b", model="m2"))
    await store.put(entry("c", model="m2"))
    await store.put(entry("x", org="org-2"))
    peeked = await store.peek("org-1", "a")
    assert peeked is not None and peeked.hits == 0
    assert await store.peek("org-2", "a") is None
    await store.get("a")
    await store.get("a")
    assert await store.stats("org-1") == CacheStats(entries=3, hits=2)
    assert not await store.delete("org-2", "a")
    assert await store.delete("org-1", "a")
    assert not await store.delete("org-1", "a")
    assert await store.flush("org-2", "m2") == 0
    assert await store.flush("org-1", "m2") == 2
    assert await store.stats("org-1") == CacheStats(entries=0, hits=0)
    assert await store.flush("org-2", None) == 1
    assert await store.get("x") is None


# -- Redis only ----------------------------------------------------------------------------


async def test_processes_share_the_cache(links: Links) -> None:
    first = RedisCacheStore(links.link(), 100, 3600)
    second = RedisCacheStore(links.link(), 100, 3600)
    await first.put(entry("east", unit(1, 0, 0)))
    found = await second.nearest(SCOPE, unit(1, 0.1, 0), 0.5)
    assert found is not None and found[0].id == "east"
    await first.put(entry("north-east", unit(1, 1, 0)))  # second's matrix is now stale
    found = await second.nearest(SCOPE, unit(1, 1, 0), 0.5)
    assert found is not None and found[0].id == "north-east"
    hit = await first.get("north-east")
    assert hit is not None and hit.hits == 2
    assert await second.delete("org-1", "east")
    assert await first.get("east") is None


async def test_entries_expire_in_redis(links: Links) -> None:
    link = links.link()
    store = RedisCacheStore(link, 100, 60)
    await store.put(entry("a", unit(1, 0)))
    assert 59_000 <= int(await link.client.pttl("uait:cache:e:a")) <= 60_000
    scope_keys = await link.client.keys("uait:cache:[sv]:*")
    assert len(scope_keys) == 2
    for key in [*scope_keys, b"uait:cache:o:org-1"]:
        assert 59_000 <= int(await link.client.pttl(key)) <= 60_000


async def test_an_outage_misses_drops_writes_and_recovers(links: Links, redis: RedisServer) -> None:
    store = RedisCacheStore(links.link(), 100, 3600)
    await store.put(entry("a", unit(1, 0)))
    assert store.healthy
    with redis.outage():
        assert await store.get("a") is None
        assert not store.healthy
        assert await store.nearest(SCOPE, unit(1, 0), 0.5) is None
        await store.put(entry("b"))  # dropped, without raising
        assert await store.peek("org-1", "a") is None
        assert await store.list("org-1", None, 10, 0) == []
        assert await store.stats("org-1") == CacheStats(entries=0, hits=0)
        assert not await store.delete("org-1", "a")
        assert await store.flush("org-1", None) == 0
    await asyncio.sleep(0.15)  # the retry interval
    await store.put(entry("c", unit(0, 1)))  # Redis came back empty
    assert store.healthy
    found = await store.nearest(SCOPE, unit(0, 1), 0.5)
    assert found is not None and found[0].id == "c"
    assert await store.get("b") is None


async def test_foreign_data_in_redis_is_a_miss_not_an_error(links: Links) -> None:
    link = links.link()
    store = RedisCacheStore(link, 100, 3600)
    await link.client.hset("uait:cache:e:junk", mapping={"created": "not a number"})
    await link.client.hset("uait:cache:e:half", mapping={"created": repr(time.time())})
    assert await store.get("junk") is None
    assert await store.get("half") is None
    assert await store.peek("org-1", "half") is None
    assert store.healthy
