"""Long-term memories of each user: stored, merged, searched and recalled for chat turns.

Every query is scoped to the calling user *and* organization: another user's memory is
"not found", whoever asks. Members and above write; viewers read their own.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.auth.users import require
from universal_ai_tools.db.locks import advisory_lock_async
from universal_ai_tools.db.types import utcnow
from universal_ai_tools.embeddings.service import EmbeddingService
from universal_ai_tools.errors import BadRequest, NotFound
from universal_ai_tools.memory.extract import FactExtractor, RuleBasedExtractor, explicit_requests
from universal_ai_tools.memory.models import Memory
from universal_ai_tools.memory.ranking import MemoryRanking, memory_ranking
from universal_ai_tools.memory.scoring import Probe, estimate_tokens, to_bytes

MAX_CONTENT_CHARS = 2000
MAX_QUERY_CHARS = 2000
MERGE_SIMILARITY = 0.9  # a new memory this similar to an old one replaces its wording


@dataclass(frozen=True, slots=True)
class ScoredMemory:
    memory: Memory
    score: float


def clean_content(content: str) -> str:
    """The content trimmed, or BadRequest when it is empty or too long."""
    text = content.strip()
    if not text:
        raise BadRequest("content must not be empty: a memory is a short fact")
    if len(text) > MAX_CONTENT_CHARS:
        raise BadRequest(
            f"content is too long ({len(text)} characters): a memory holds at most "
            f"{MAX_CONTENT_CHARS} characters"
        )
    return text


def as_system_context(memories: list[Memory]) -> str:
    """The text added to the system prompt; empty when there is nothing to add."""
    if not memories:
        return ""
    lines = (" ".join(m.content.split()) for m in memories)
    return "Known facts about the user:\n" + "\n".join(f"- {line}" for line in lines)


class MemoryService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        embedder: EmbeddingService | None,
        extractor: FactExtractor | None = None,
    ) -> None:
        self.sessions = sessions
        self.embedder = embedder
        self.extractor: FactExtractor = extractor or RuleBasedExtractor()
        bind = sessions.kw["bind"]
        self.ranking: MemoryRanking = memory_ranking(bind.dialect.name)

    async def _probe(self, text: str) -> Probe:
        vector = await self.embedder.embed_one(text) if self.embedder is not None else None
        return Probe(text, vector)

    async def _has_any(self, principal: Principal) -> bool:
        """Whether the user has a memory (no query embedding is computed for nothing)."""
        statement = select(Memory.id).where(
            Memory.org_id == principal.org_id, Memory.user_id == principal.user_id
        )
        async with self.sessions() as session:
            return await session.scalar(statement.limit(1)) is not None

    async def _owned(self, session: AsyncSession, principal: Principal, memory_id: str) -> Memory:
        memory = await session.scalar(
            select(Memory).where(
                Memory.id == memory_id,
                Memory.org_id == principal.org_id,
                Memory.user_id == principal.user_id,
            )
        )
        if memory is None:
            raise NotFound("memory not found")
        return memory

    async def add(
        self, principal: Principal, content: str, source_message_id: str | None = None
    ) -> Memory:
        """Stores a fact, or rewords the user's memory that says the same thing already
        (cosine similarity ≥ MERGE_SIMILARITY): the newer wording wins."""
        require(principal, "member")
        text = clean_content(content)
        probe = await self._probe(text)
        now = utcnow()
        async with self.sessions.begin() as session:
            # One writer per user at a time: two similar facts at once still merge.
            await advisory_lock_async(session, f"memory:{principal.user_id}")
            best = await self.ranking.ranked(session, principal, probe, 1, 0)
            if best and best[0][1] >= MERGE_SIMILARITY:
                memory = best[0][0]
                memory.content = text
                memory.embedding = to_bytes(probe.vector)
                memory.updated_at = now
                if source_message_id is not None:
                    memory.source_message_id = source_message_id
                await session.flush()
                await self.ranking.stored(session, memory, probe)
                return memory
            memory = Memory(
                org_id=principal.org_id,
                user_id=principal.user_id,
                content=text,
                embedding=to_bytes(probe.vector),
                source_message_id=source_message_id,
                created_at=now,
                updated_at=now,
            )
            session.add(memory)
            await session.flush()
            await self.ranking.stored(session, memory, probe)
        return memory

    async def get(self, principal: Principal, memory_id: str) -> Memory:
        async with self.sessions() as session:
            return await self._owned(session, principal, memory_id)

    async def update(self, principal: Principal, memory_id: str, content: str) -> Memory:
        """New wording for a memory (embedded again)."""
        require(principal, "member")
        text = clean_content(content)
        async with self.sessions() as session:
            await self._owned(session, principal, memory_id)  # 404 before embedding
        probe = await self._probe(text)
        async with self.sessions.begin() as session:
            memory = await self._owned(session, principal, memory_id)
            memory.content = text
            memory.embedding = to_bytes(probe.vector)
            memory.updated_at = utcnow()
            await session.flush()
            await self.ranking.stored(session, memory, probe)
        return memory

    async def delete(self, principal: Principal, memory_id: str) -> None:
        """Deletes for good: the memory is never used again."""
        require(principal, "member")
        async with self.sessions.begin() as session:
            memory = await self._owned(session, principal, memory_id)
            await session.execute(delete(Memory).where(Memory.id == memory.id))

    async def search(
        self, principal: Principal, query: str, limit: int = 10, offset: int = 0
    ) -> list[ScoredMemory]:
        """The user's memories by similarity to `query`, most similar first."""
        text = query.strip()
        if len(text) > MAX_QUERY_CHARS:
            raise BadRequest(f"the query is too long: at most {MAX_QUERY_CHARS} characters")
        if not text or not await self._has_any(principal):
            return []
        probe = await self._probe(text)
        async with self.sessions.begin() as session:
            ranked = await self.ranking.ranked(session, principal, probe, limit, offset)
        return [ScoredMemory(m, round(s, 4)) for m, s in ranked]

    async def relevant(
        self, principal: Principal, query_text: str, *, limit: int = 5, token_budget: int = 200
    ) -> list[Memory]:
        """The memories to add as context to a chat turn about `query_text`.

        score = cosine(query, memory) + RECENCY_WEIGHT * 0.5 ** (age_days / 30), where
        age_days counts from the memory's last change and RECENCY_WEIGHT is 0.05: among
        similar facts the fresher wins, and an unrelated fact never gets in, since only
        memories with cosine ≥ MIN_RELEVANCE (0.2) are considered. The best-scored are
        taken in order until `limit` or until the next one would overrun `token_budget`
        (tokens estimated as len(content) / 4 + 1).
        """
        text = query_text.strip()[:MAX_QUERY_CHARS]
        if not text or limit <= 0 or token_budget <= 0 or not await self._has_any(principal):
            return []
        probe = await self._probe(text)
        async with self.sessions.begin() as session:
            candidates = await self.ranking.relevant(session, principal, probe, utcnow(), limit)
        chosen: list[Memory] = []
        used = 0
        for memory, _ in candidates:
            cost = estimate_tokens(memory.content)
            if used + cost > token_budget:
                break
            chosen.append(memory)
            used += cost
        return chosen

    async def remember_from_turn(
        self, principal: Principal, user_text: str, message_id: str | None
    ) -> list[Memory]:
        """Stores what the user asked to be remembered and the facts the extractor finds
        in their message; returns the memories made or reworded (none for viewers)."""
        if not principal.at_least("member"):
            return []
        found = self.extractor.extract(user_text)
        extracted = await found if inspect.isawaitable(found) else found
        facts: dict[str, str] = {}
        for fact in [*explicit_requests(user_text), *extracted]:
            facts.setdefault(fact.casefold(), fact)
        stored: dict[str, Memory] = {}
        for fact in facts.values():
            try:
                memory = await self.add(principal, fact, message_id)
            except BadRequest:
                continue
            stored[memory.id] = memory
        return list(stored.values())

    async def context_for(self, principal: Principal, text: str) -> str:
        """The system-prompt text of the memories relevant to a chat turn ("" if none)."""
        return as_system_context(await self.relevant(principal, text))

    async def after_turn(self, principal: Principal, text: str, message_id: str) -> None:
        """Learn from a user turn once it has been answered."""
        await self.remember_from_turn(principal, text, message_id)

    async def list(self, principal: Principal, limit: int = 50, offset: int = 0) -> list[Memory]:
        """Newest (most recently changed) first."""
        statement = (
            select(Memory)
            .where(Memory.org_id == principal.org_id, Memory.user_id == principal.user_id)
            .order_by(Memory.updated_at.desc(), Memory.created_at.desc(), Memory.id)
            .limit(limit)
            .offset(offset)
        )
        async with self.sessions() as session:
            return list((await session.scalars(statement)).all())
