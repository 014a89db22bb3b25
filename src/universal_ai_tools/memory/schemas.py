"""Request and response bodies of `/memories`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, SerializeAsAny, StrictStr


class MemoryIn(BaseModel):
    """A fact about yourself (1 to 2000 characters); unknown fields are ignored."""

    content: StrictStr = Field(description="the fact, 1 to 2000 characters after trimming")


class MemoryOut(BaseModel):
    id: str
    content: str
    source_message_id: str | None
    created_at: datetime
    updated_at: datetime


class ScoredMemoryOut(MemoryOut):
    score: float = Field(description="similarity to the query, higher is closer")


class MemoryPage(BaseModel):
    data: list[SerializeAsAny[MemoryOut]]
    has_more: bool
