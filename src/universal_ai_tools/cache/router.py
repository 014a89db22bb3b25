"""`/cache`: admins inspect, correct (delete) and flush their organization's cached answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel
from starlette.responses import Response

from universal_ai_tools.auth.deps import AdminDep
from universal_ai_tools.cache.entries import CacheEntry
from universal_ai_tools.db.types import INT32_MAX
from universal_ai_tools.errors import NotFound
from universal_ai_tools.llm.completion import CacheDep

router = APIRouter(prefix="/cache", tags=["cache"])


class EntryOut(BaseModel):
    id: str
    model: str
    prompt: str
    answer: str
    finish_reason: str
    hits: int
    created_at: datetime
    last_hit_at: datetime | None


class EntryPage(BaseModel):
    data: list[EntryOut]
    has_more: bool


class StatsOut(BaseModel):
    entries: int
    hits: int
    similarity_threshold: float
    ttl_seconds: float
    max_entries: int


class Flushed(BaseModel):
    deleted: int


def _time(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _out(entry: CacheEntry) -> EntryOut:
    return EntryOut(
        id=entry.id,
        model=entry.model,
        prompt=entry.prompt,
        answer=entry.answer,
        finish_reason=entry.finish_reason,
        hits=entry.hits,
        created_at=datetime.fromtimestamp(entry.created_at, UTC),
        last_hit_at=_time(entry.last_hit_at),
    )


@router.get("/stats", response_model=StatsOut)
async def stats(principal: AdminDep, cache: CacheDep) -> StatsOut:
    counts = await cache.store.stats(principal.org_id)
    return StatsOut(
        entries=counts.entries,
        hits=counts.hits,
        similarity_threshold=cache.settings.similarity_threshold,
        ttl_seconds=cache.settings.ttl_seconds,
        max_entries=cache.settings.max_entries,
    )


@router.get("/entries", response_model=EntryPage)
async def list_entries(
    principal: AdminDep,
    cache: CacheDep,
    model: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> EntryPage:
    """Newest first."""
    entries = await cache.store.list(principal.org_id, model, limit + 1, offset)
    return EntryPage(data=[_out(e) for e in entries[:limit]], has_more=len(entries) > limit)


@router.get("/entries/{entry_id}", response_model=EntryOut)
async def get_entry(entry_id: str, principal: AdminDep, cache: CacheDep) -> EntryOut:
    entry = await cache.store.peek(principal.org_id, entry_id)
    if entry is None:
        raise NotFound("cache entry not found")
    return _out(entry)


@router.delete("/entries/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_entry(entry_id: str, principal: AdminDep, cache: CacheDep) -> Response:
    """Delete one answer (for instance a wrong one); the next request asks the model."""
    if not await cache.store.delete(principal.org_id, entry_id):
        raise NotFound("cache entry not found")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/entries", response_model=Flushed)
async def flush(principal: AdminDep, cache: CacheDep, model: str | None = None) -> Flushed:
    """Flush the organization's entries (of one model with `?model=`)."""
    return Flushed(deleted=await cache.store.flush(principal.org_id, model))
