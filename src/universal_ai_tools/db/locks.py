"""Transaction-scoped locks that serialize work across processes on PostgreSQL.

`pg_advisory_xact_lock` waits until no other transaction holds the same key and is
released when the transaction ends. On SQLite this is a no-op: one file, and a writer
already excludes the others.
"""

from __future__ import annotations

import zlib

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

_SQL = text("SELECT pg_advisory_xact_lock(:key)")


def lock_key(name: str) -> int:
    """A stable 64-bit key for a lock name (the same in every process and version)."""
    return 0x5541_4954_0000_0000 | zlib.crc32(name.encode())  # "UAIT" in the high bits


def advisory_lock(connection: Connection, name: str) -> None:
    """Hold `name` until the connection's transaction ends (synchronous connections)."""
    if connection.dialect.name == "postgresql":
        connection.execute(_SQL, {"key": lock_key(name)})


async def advisory_lock_async(executor: AsyncConnection | AsyncSession, name: str) -> None:
    """`advisory_lock` for an async connection or session inside a transaction."""
    connection = await executor.connection() if isinstance(executor, AsyncSession) else executor
    if connection.dialect.name == "postgresql":
        await connection.execute(_SQL, {"key": lock_key(name)})
