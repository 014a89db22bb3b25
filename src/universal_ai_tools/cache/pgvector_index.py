"""`PgvectorIndex`: the semantic cache's nearest-neighbour index in PostgreSQL.

Rows of `cache_vectors` (migration 0006, PostgreSQL only) carry the entry id, its scope
(organization, model, context) and its vector, HNSW-indexed for cosine distance. The
entries themselves live elsewhere (Redis): a row may outlive its entry (evicted, expired,
deleted by another process); the store skips such rows and removes them, and rows older
than the cache's TTL, whose entries are gone for sure, are pruned every `prune_every`
additions.

A failing database makes a lookup miss and an addition go unindexed (logged): the cache
never fails a request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    DateTime,
    Delete,
    Float,
    MetaData,
    String,
    Table,
    delete,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.cache.entries import Vector
from universal_ai_tools.cache.vectors import Scope
from universal_ai_tools.embeddings.pgvector import PgVector, indexable

logger = logging.getLogger(__name__)

# Not in the ORM metadata: the table exists on PostgreSQL only.
cache_vectors = Table(
    "cache_vectors",
    MetaData(),
    Column("entry_id", String(64), primary_key=True),
    Column("org_id", String(32), nullable=False),
    Column("model", String(256), nullable=False),
    Column("context", String(64), nullable=False),
    Column("embedding", PgVector(), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
_FAILURES = (SQLAlchemyError, OSError)


def _time(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


class PgvectorIndex:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        ttl_seconds: float,
        *,
        prune_every: int = 200,
    ) -> None:
        self.sessions = sessions
        self.ttl_seconds = ttl_seconds
        self.prune_every = prune_every
        self._added = 0

    async def add(self, scope: Scope, entry_id: str, vector: Vector, created_at: float) -> None:
        if not indexable(vector):
            return  # another model's size than the column's: exact hits only
        org_id, model, context = scope
        values: dict[str, object] = {"org_id": org_id, "model": model, "context": context}
        values.update(embedding=vector, created_at=_time(created_at))
        statement = insert(cache_vectors).values(entry_id=entry_id, **values)
        statement = statement.on_conflict_do_update(index_elements=["entry_id"], set_=values)
        self._added += 1
        try:
            async with self.sessions.begin() as session:
                await session.execute(statement)
                if self._added % self.prune_every == 0:
                    await self._prune(session)
        except _FAILURES:
            logger.exception("could not index a cache entry in PostgreSQL")

    async def _prune(self, session: AsyncSession) -> None:
        expired = _time(time.time() - self.ttl_seconds)
        await session.execute(delete(cache_vectors).where(cache_vectors.c.created_at < expired))

    async def nearest(
        self, scope: Scope, vector: Vector, threshold: float, limit: int
    ) -> list[tuple[str, float]]:
        if not indexable(vector):
            return []
        org_id, model, context = scope
        distance = cache_vectors.c.embedding.op("<=>", return_type=Float())(vector)
        statement = (
            select(cache_vectors.c.entry_id, 1 - distance)
            .where(
                cache_vectors.c.org_id == org_id,
                cache_vectors.c.model == model,
                cache_vectors.c.context == context,
                distance <= 1 - threshold,
            )
            .order_by(distance, cache_vectors.c.entry_id)
            .limit(limit)
        )
        try:
            async with self.sessions.begin() as session:
                await session.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))
                rows = (await session.execute(statement)).all()
        except _FAILURES:
            logger.exception("the cache's vector search in PostgreSQL failed; a miss")
            return []
        return [(entry_id, float(similarity)) for entry_id, similarity in rows]

    async def remove(self, entry_ids: Sequence[str]) -> None:
        if not entry_ids:
            return
        doomed = delete(cache_vectors).where(cache_vectors.c.entry_id.in_(list(entry_ids)))
        await self._write(doomed)

    async def flush(self, org_id: str, model: str | None) -> None:
        doomed = delete(cache_vectors).where(cache_vectors.c.org_id == org_id)
        if model is not None:
            doomed = doomed.where(cache_vectors.c.model == model)
        await self._write(doomed)

    async def _write(self, statement: Delete) -> None:
        try:
            async with self.sessions.begin() as session:
                await session.execute(statement)
        except _FAILURES:
            logger.exception("could not remove cache vectors from PostgreSQL")
