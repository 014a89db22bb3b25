"""How a user's memories are ranked against a probe: in process (NumPy), or by pgvector.

Both rank the same way (`scoring.py`): the cosine of the embeddings, or the lexical
fallback for a memory without a comparable embedding; `relevant` adds the recency bonus
to the memories above MIN_RELEVANCE. `NumpyRanking` loads the user's memories and scores
them in process (SQLite, or a probe without an indexable vector); `PgvectorRanking` lets
PostgreSQL compute the distances (`<=>` on `memories.embedding_vector`, HNSW-indexed) and
return only the best rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, Float, bindparam, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.embeddings.pgvector import PgVector, indexable
from universal_ai_tools.memory.models import Memory
from universal_ai_tools.memory.scoring import (
    MIN_RELEVANCE,
    RECENCY_HALF_LIFE_DAYS,
    RECENCY_WEIGHT,
    Probe,
    recency_bonus,
    similarities,
)

Ranked = list[tuple[Memory, float]]  # (memory, cosine or lexical similarity)
EMBEDDING = literal_column("memories.embedding_vector", PgVector())


def _owned(principal: Principal) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return Memory.org_id == principal.org_id, Memory.user_id == principal.user_id


def _best(pairs: Ranked) -> Ranked:
    return sorted(pairs, key=lambda pair: -pair[1])


class MemoryRanking(Protocol):
    async def ranked(
        self, session: AsyncSession, principal: Principal, probe: Probe, limit: int, offset: int
    ) -> Ranked:
        """The memories most similar to `probe`, most similar first, paged."""

    async def relevant(
        self, session: AsyncSession, principal: Principal, probe: Probe, now: datetime, limit: int
    ) -> Ranked:
        """Up to `limit` memories with similarity ≥ MIN_RELEVANCE, by similarity plus
        recency bonus (the score), best first; pairs carry the score."""

    async def stored(self, session: AsyncSession, memory: Memory, probe: Probe) -> None:
        """`memory` (flushed) now has `probe`'s wording and vector."""


class NumpyRanking:
    async def _scored(
        self, session: AsyncSession, principal: Principal, probe: Probe, *where: ColumnElement[bool]
    ) -> Ranked:
        statement = select(Memory).where(*_owned(principal), *where)
        memories = list((await session.scalars(statement)).all())
        scores = similarities(probe, [(m.embedding, m.content) for m in memories])
        return list(zip(memories, scores, strict=True))

    async def ranked(
        self, session: AsyncSession, principal: Principal, probe: Probe, limit: int, offset: int
    ) -> Ranked:
        return _best(await self._scored(session, principal, probe))[offset : offset + limit]

    async def relevant(
        self, session: AsyncSession, principal: Principal, probe: Probe, now: datetime, limit: int
    ) -> Ranked:
        return self._recent(await self._scored(session, principal, probe), now)[:limit]

    @staticmethod
    def _recent(pairs: Ranked, now: datetime) -> Ranked:
        return _best(
            [(m, s + recency_bonus(m.updated_at, now)) for m, s in pairs if s >= MIN_RELEVANCE]
        )

    async def stored(self, session: AsyncSession, memory: Memory, probe: Probe) -> None:
        return None


class PgvectorRanking(NumpyRanking):
    """Memories without an indexable vector (none, or another model's size) are few and
    scored in process as before; everything else is ranked by PostgreSQL."""

    async def _distance(self, session: AsyncSession, probe: Probe) -> ColumnElement[float]:
        # Keep walking the HNSW index until enough rows pass the user's filter.
        await session.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))
        vector = bindparam("probe", probe.vector, type_=PgVector())
        return EMBEDDING.op("<=>", return_type=Float())(vector)

    async def ranked(
        self, session: AsyncSession, principal: Principal, probe: Probe, limit: int, offset: int
    ) -> Ranked:
        if not indexable(probe.vector):
            return await super().ranked(session, principal, probe, limit, offset)
        distance = await self._distance(session, probe)
        statement = (
            select(Memory, 1 - distance)
            .where(*_owned(principal), EMBEDDING.is_not(None))
            .order_by(distance, Memory.id)
            .limit(offset + limit)
        )
        nearest = [(m, float(s)) for m, s in (await session.execute(statement)).all()]
        others = await self._scored(session, principal, probe, EMBEDDING.is_(None))
        return _best(nearest + others)[offset : offset + limit]

    async def relevant(
        self, session: AsyncSession, principal: Principal, probe: Probe, now: datetime, limit: int
    ) -> Ranked:
        if not indexable(probe.vector):
            return await super().relevant(session, principal, probe, now, limit)
        distance = await self._distance(session, probe)
        age = func.greatest(func.extract("epoch", bindparam("now", now) - Memory.updated_at), 0)
        bonus = RECENCY_WEIGHT * func.power(0.5, age / 86_400 / RECENCY_HALF_LIFE_DAYS)
        statement = (
            select(Memory, 1 - distance)
            .where(*_owned(principal), EMBEDDING.is_not(None), distance <= 1 - MIN_RELEVANCE)
            .order_by((1 - distance + bonus).desc(), Memory.id)
            .limit(limit)
        )
        nearest = [(m, float(s)) for m, s in (await session.execute(statement)).all()]
        others = await self._scored(session, principal, probe, EMBEDDING.is_(None))
        return self._recent(nearest + others, now)[:limit]

    async def stored(self, session: AsyncSession, memory: Memory, probe: Probe) -> None:
        vector = probe.vector if indexable(probe.vector) else None
        await session.execute(
            text("UPDATE memories SET embedding_vector = :vector WHERE id = :id").bindparams(
                bindparam("vector", vector, type_=PgVector()), bindparam("id", memory.id)
            )
        )


def memory_ranking(dialect: str) -> MemoryRanking:
    return PgvectorRanking() if dialect == "postgresql" else NumpyRanking()
