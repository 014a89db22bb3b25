from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from universal_ai_tools.db.types import INT32_MAX

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="Used as `@name` and as the model `agent:name`.")
    description: str = Field(default="", max_length=2000)
    system_prompt: str = Field(max_length=20_000)
    model: str = Field(min_length=1, max_length=256)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=INT32_MAX)
    tools: list[str] = Field(default_factory=list, max_length=50)
    memory: bool = False


class AgentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=NAME)
    description: str | None = Field(default=None, max_length=2000)
    system_prompt: str | None = Field(default=None, max_length=20_000)
    model: str | None = Field(default=None, min_length=1, max_length=256)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=INT32_MAX)
    tools: list[str] | None = Field(default=None, max_length=50)
    memory: bool | None = None


class AgentOut(BaseModel):
    id: str
    name: str
    description: str
    system_prompt: str
    model: str
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    tools: list[str]
    memory: bool
    owner_id: str
    created_at: datetime
    updated_at: datetime
