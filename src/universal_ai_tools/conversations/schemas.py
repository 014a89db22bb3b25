from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TURN_CHARS = 100_000


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="", max_length=200)
    model: str | None = Field(default=None, max_length=256)
    agent_id: str | None = Field(default=None, max_length=32)
    memory: bool = True


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    archived: bool | None = None


class ConversationOut(BaseModel):
    id: str
    title: str
    model: str | None
    agent_id: str | None
    memory: bool
    archived: bool
    created_at: datetime
    updated_at: datetime


class MessageOut(BaseModel):
    id: str
    conversation_id: str
    role: str
    content: str
    model: str | None = None
    agent_id: str | None = None
    backend: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int | None = None
    created_at: datetime


class PromptOut(BaseModel):
    """Exactly what was sent to the model for one assistant message."""

    message_id: str
    model: str
    backend: str
    target: str
    messages: list[dict[str, Any]]


class TurnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=MAX_TURN_CHARS)
    stream: bool = False
    model: str | None = Field(default=None, max_length=256)
    system: str | None = Field(default=None, max_length=20_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)


class AgentTurnRequest(TurnRequest):
    conversation_id: str | None = Field(default=None, max_length=32)


class TurnOut(BaseModel):
    conversation_id: str
    user_message: MessageOut
    message: MessageOut


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(max_length=32)
    thumb: Literal["up", "down"] | None = None
    rating: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = Field(default=None, max_length=5000)


class FeedbackOut(BaseModel):
    id: str
    message_id: str
    thumb: str | None
    rating: int | None
    comment: str | None
    model: str | None
    agent_id: str | None
    created_at: datetime


class SummaryOut(BaseModel):
    model: str | None
    agent_id: str | None
    up: int
    down: int
    ratings: int
    average_rating: float | None
