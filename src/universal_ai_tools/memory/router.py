"""`/memories`: each user's long-term memories. Another user's memory is always 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from starlette.responses import Response

from universal_ai_tools.auth.deps import MemberDep, PrincipalDep
from universal_ai_tools.body import json_body
from universal_ai_tools.db.types import INT32_MAX
from universal_ai_tools.memory.deps import MemoryDep
from universal_ai_tools.memory.models import Memory
from universal_ai_tools.memory.schemas import MemoryIn, MemoryOut, MemoryPage, ScoredMemoryOut
from universal_ai_tools.memory.service import MAX_QUERY_CHARS

router = APIRouter(prefix="/memories", tags=["memories"])

MemoryBody = Annotated[MemoryIn, Depends(json_body(MemoryIn))]
# The body is parsed by `json_body` (any Content-Type); document it all the same.
BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": MemoryIn.model_json_schema()}},
    }
}


def _out(memory: Memory) -> MemoryOut:
    return MemoryOut.model_validate(memory, from_attributes=True)


@router.post(
    "", response_model=MemoryOut, status_code=status.HTTP_201_CREATED, openapi_extra=BODY_DOC
)
async def create_memory(principal: MemberDep, body: MemoryBody, memory: MemoryDep) -> MemoryOut:
    """Remember a fact. One that says the same as an existing memory rewords it instead."""
    return _out(await memory.add(principal, body.content))


@router.get("", response_model=MemoryPage)
async def list_memories(
    principal: PrincipalDep,
    memory: MemoryDep,
    q: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> MemoryPage:
    """Your memories, newest first; with `q`, the most similar first, each with a `score`."""
    if q is not None and q.strip():
        found = await memory.search(principal, q, limit + 1, offset)
        scored: list[MemoryOut] = [
            ScoredMemoryOut(**_out(item.memory).model_dump(), score=item.score)
            for item in found[:limit]
        ]
        return MemoryPage(data=scored, has_more=len(found) > limit)
    memories = await memory.list(principal, limit + 1, offset)
    return MemoryPage(data=[_out(m) for m in memories[:limit]], has_more=len(memories) > limit)


@router.get("/{memory_id}", response_model=MemoryOut)
async def get_memory(memory_id: str, principal: PrincipalDep, memory: MemoryDep) -> MemoryOut:
    return _out(await memory.get(principal, memory_id))


@router.patch("/{memory_id}", response_model=MemoryOut, openapi_extra=BODY_DOC)
async def update_memory(
    memory_id: str, principal: MemberDep, body: MemoryBody, memory: MemoryDep
) -> MemoryOut:
    """Reword a memory."""
    return _out(await memory.update(principal, memory_id, body.content))


@router.delete("/{memory_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_memory(memory_id: str, principal: MemberDep, memory: MemoryDep) -> Response:
    """Forget a memory for good."""
    await memory.delete(principal, memory_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
