"""The async engine. SQLite gets WAL mode and a busy timeout on every connection;
PostgreSQL (asyncpg) a connection pool sized by the settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession
from sqlalchemy.pool import NullPool

from universal_ai_tools.settings import Settings


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """PostgreSQL's pool per process: kept connections, extra ones, seconds to wait."""

    size: int = 10
    max_overflow: int = 10
    timeout: float = 30.0


def is_postgresql(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def create_engine(url: str, pool: PoolSettings | None = None) -> AsyncEngine:
    """An engine for `url`: `sqlite+aiosqlite:///path` or `postgresql+asyncpg://…`
    (a Unix-socket directory as `?host=/path/to/dir`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    pool = pool or PoolSettings()
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def probe_engine(url: str) -> AsyncEngine:
    """An engine without a pool, for readiness checks."""
    return create_async_engine(url, poolclass=NullPool)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def engine_for(settings: Settings) -> AsyncEngine:
    """The engine of the configured database, with the configured pool."""
    pool = PoolSettings(
        settings.database_pool_size, settings.database_max_overflow, settings.database_pool_timeout
    )
    return create_engine(settings.resolved_database_url, pool)
