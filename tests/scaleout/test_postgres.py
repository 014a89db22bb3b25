"""PostgreSQL itself: concurrent migrations, the Unix-socket URL, the pool settings,
readiness, pgvector behind memories and the semantic cache, and values that PostgreSQL
refuses. These run in the PostgreSQL pass (`UAIT_TEST_BACKENDS=postgres`)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from itertools import count
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.backends import Backends
from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD, SettingsFactory, login
from tests.core.test_cli import UAIT, cli_env
from tests.postgres_server import PostgresServer
from tests.scaleout.test_cache_store import entry
from tests.servers import free_port

from universal_ai_tools.app import create_app
from universal_ai_tools.cache.entries import Vector
from universal_ai_tools.cache.pgvector_index import PgvectorIndex
from universal_ai_tools.db import migrate
from universal_ai_tools.db.engine import create_engine, session_factory
from universal_ai_tools.scaleout.link import RedisLink
from universal_ai_tools.scaleout.redis_cache import RedisCacheStore
from universal_ai_tools.settings import Settings

SCOPE = ("org-1", "smollm2", "context-a")
pytestmark = pytest.mark.usefixtures("postgres")  # skipped in the SQLite pass


@pytest.fixture
def postgres(test_backends: Backends | None) -> PostgresServer:
    if test_backends is None:
        pytest.skip("PostgreSQL pass only (UAIT_TEST_BACKENDS=postgres, see tests/backends.py)")
    return test_backends.postgres


@pytest.fixture
def fresh(postgres: PostgresServer) -> Iterator[str]:
    """An empty database (no migrations), dropped afterwards."""
    name = f"fresh_{next(_numbers)}"
    postgres.psql(f"CREATE DATABASE {name}")
    yield name
    postgres.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_numbers = count(1)


@asynccontextmanager
async def engine_on(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            http.headers["Authorization"] = (
                f"Bearer {await login(http, OWNER_EMAIL, OWNER_PASSWORD)}"
            )
            http.app = app  # type: ignore[attr-defined]
            yield http


async def scalar(engine: AsyncEngine, sql: str, **params: object) -> object:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar()


def unit(*values: float, size: int = 384) -> Vector:
    vector = np.zeros(size, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


# --- migrations, URLs, pool, readiness --------------------------------------------------


async def test_two_concurrent_upgrades_on_a_fresh_database(
    postgres: PostgresServer, fresh: str
) -> None:
    url = postgres.url(fresh)
    async with engine_on(url) as first, engine_on(url) as second:
        await asyncio.gather(migrate.upgrade(first), migrate.upgrade(second))
        heads = await scalar(first, "SELECT string_agg(version_num, ',') FROM alembic_version")
        assert "0006_pgvector" in str(heads)
        assert await scalar(first, "SELECT extversion FROM pg_extension WHERE extname='vector'")
        await migrate.upgrade(first)  # and again: nothing to do


async def test_two_servers_starting_together_make_one_owner(
    postgres: PostgresServer, fresh: str, make_settings: SettingsFactory
) -> None:
    settings = make_settings(database_url=postgres.url(fresh))
    async with running(settings) as one, running(settings) as two:
        assert (await one.get("/auth/me")).status_code == 200
        assert (await two.get("/auth/me")).status_code == 200
    async with engine_on(postgres.url(fresh)) as engine:
        assert await scalar(engine, "SELECT count(*) FROM users") == 1


def test_two_workers_on_a_fresh_database(
    postgres: PostgresServer, fresh: str, test_backends: Backends, tmp_path: Path
) -> None:
    """`uait serve --workers 2` on an empty database: both workers migrate and bootstrap
    at once (under the advisory locks), the server serves, one owner exists."""
    port = free_port()
    env = cli_env(tmp_path, UAIT_DATABASE_URL=postgres.url(fresh))
    env.update(UAIT_REDIS_URL=test_backends.redis.url, UAIT_REDIS_PREFIX=f"{fresh}:")
    command = [UAIT, "serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"{url}/ready", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, process.returncode
        credentials = {"email": "owner@example.com", "password": "pw-123456789"}
        for _ in range(4):  # whichever worker answers
            assert httpx.post(f"{url}/auth/login", json=credentials).status_code == 200
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "Traceback" not in output, output[-3000:]
    count = postgres.psql("SELECT count(*) FROM users", fresh).stdout.strip()
    assert count == "1"


async def test_unix_socket_url(postgres: PostgresServer, make_settings: SettingsFactory) -> None:
    settings = make_settings()
    database = settings.resolved_database_url.rsplit("/", 1)[1]
    over_socket = make_settings(database_url=postgres.socket_url(database))
    assert "?host=/" in over_socket.resolved_database_url
    async with running(over_socket) as http:
        ready = await http.get("/ready")
        assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
        assert (await http.post("/memories", json={"content": "I live in Oslo"})).status_code == 201
    async with engine_on(settings.resolved_database_url) as engine:  # the same database
        assert await scalar(engine, "SELECT count(*) FROM memories") == 1


async def test_pool_settings_take_effect(make_settings: SettingsFactory) -> None:
    settings = make_settings(database_pool_size=2, database_max_overflow=1, database_pool_timeout=1)
    async with running(settings) as http:
        engine: AsyncEngine = http.app.state.engine  # type: ignore[attr-defined]
        pool = engine.pool
        assert pool.size() == 2  # type: ignore[attr-defined]
        held = [await engine.connect() for _ in range(3)]  # two kept, one overflow
        try:
            with pytest.raises(exc.TimeoutError):
                await engine.connect()  # a fourth waits database_pool_timeout, then fails
        finally:
            for connection in held:
                await connection.close()
        assert (await http.get("/auth/me")).status_code == 200


async def test_ready_reports_a_lost_database(
    postgres: PostgresServer, fresh: str, make_settings: SettingsFactory
) -> None:
    async with running(make_settings(database_url=postgres.url(fresh))) as http:
        assert (await http.get("/ready")).json()["checks"]["database"] == "ok"
        postgres.psql(f"DROP DATABASE {fresh} WITH (FORCE)")
        response = await http.get("/ready")
        assert response.status_code == 503
        assert response.json()["checks"]["database"] == "unavailable"


# --- pgvector -------------------------------------------------------------------------


async def test_memories_are_searched_with_pgvector(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    async with running(settings) as http:
        for fact in ("I live in Oslo", "My dog is called Rex", "I work as a nurse"):
            assert (await http.post("/memories", json={"content": fact})).status_code == 201
        found = await http.get("/memories", params={"q": "what is my pet's name"})
        assert found.status_code == 200, found.text
        assert found.json()["data"][0]["content"] == "My dog is called Rex"
    async with engine_on(settings.resolved_database_url) as engine:
        dims = await scalar(
            engine, "SELECT min(vector_dims(embedding_vector)) FROM memories "
            "WHERE embedding_vector IS NOT NULL HAVING count(*) = 3"
        )
        assert dims == 384
        async with engine.connect() as connection:
            await connection.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(
                row[0]
                for row in await connection.execute(
                    text(
                        "EXPLAIN SELECT id FROM memories ORDER BY embedding_vector <=> "
                        "(SELECT embedding_vector FROM memories LIMIT 1) LIMIT 3"
                    )
                )
            )
        assert "ix_memories_embedding_hnsw" in plan


async def test_semantic_cache_hits_through_pgvector(
    make_settings: SettingsFactory, test_backends: Backends
) -> None:
    settings = make_settings()
    assert settings.redis_url

    def chat(content: str) -> dict[str, object]:
        turn = {"role": "user", "content": content}
        return {"model": "smollm2", "max_tokens": 8, "temperature": 0, "messages": [turn]}

    async with running(settings) as http:
        first = await http.post("/v1/chat/completions", json=chat("What is the capital of France?"))
        assert first.headers["x-uait-cache"] == "miss"
        second = await http.post("/v1/chat/completions", json=chat("what's the capital of France"))
        assert second.headers["x-uait-cache"] == "semantic-hit", second.text
    async with engine_on(settings.resolved_database_url) as engine:
        assert await scalar(engine, "SELECT count(*) FROM cache_vectors") == 1


async def test_evicted_nearer_entry_never_hides_a_live_one(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings()
    assert settings.redis_url
    engine = create_engine(settings.resolved_database_url)
    link = RedisLink(settings.redis_url, prefix=settings.redis_prefix)
    index = PgvectorIndex(session_factory(engine), ttl_seconds=3600)
    store = RedisCacheStore(link, 100, 3600, index=index)
    try:
        nearest_ids = [f"near-{i}" for i in range(10)]  # more than one batch of candidates
        for i, entry_id in enumerate(nearest_ids):
            await store.put(entry(entry_id, unit(1, 0.01 * i)))
        await store.put(entry("live", unit(1, 0.3)))
        await store.put(entry("other-scope", unit(1, 0), context="context-b"))
        for entry_id in nearest_ids:  # evicted behind the index's back
            await link.client.delete(link.key("cache", "e", entry_id))
        found = await store.nearest(SCOPE, unit(1, 0), 0.8)
        assert found is not None and found[0].id == "live"
        assert found[1] == pytest.approx(float(unit(1, 0.3) @ unit(1, 0)), abs=1e-5)
        ids = "SELECT string_agg(entry_id, ',' ORDER BY entry_id) FROM cache_vectors"
        left = await scalar(engine, ids)
        assert left == "live,other-scope"  # the stale rows were cleaned up
        assert await store.delete("org-1", "live")
        assert await store.nearest(SCOPE, unit(1, 0), 0.8) is None
        assert await scalar(engine, "SELECT count(*) FROM cache_vectors") == 1
        assert await store.flush("org-1", None) == 1
        assert await scalar(engine, "SELECT count(*) FROM cache_vectors") == 0
    finally:
        await link.close()
        await engine.dispose()


# --- values PostgreSQL refuses ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/memories", {"content": "a NUL \u0000 inside"}),
        ("POST", "/conversations", {"title": "nul \u0000 title"}),
        ("POST", "/api-keys", {"name": "k", "rpm": 2**40}),
        ("POST", "/agents", {"name": "a", "system_prompt": "s", "model": "m", "max_tokens": 2**40}),
        ("GET", "/memories?offset=1180591620717411303424", None),
    ],
)
async def test_refused_values_are_400(
    postgres: PostgresServer, make_settings: SettingsFactory, method: str, path: str, body: object
) -> None:
    async with running(make_settings()) as http:
        response = await http.request(method, path, json=body)
        assert response.status_code == 400, response.text
        assert set(response.json()["error"]) >= {"message", "type", "code"}
