"""The provider-neutral shapes every API and provider speaks.

The OpenAI and Ollama routers translate their wire formats into `ChatRequest` and
back; providers translate `ChatRequest` into their backend's format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def next_id() -> str:
    """A random response id (cheaper than building a UUID object on the hot path)."""
    return os.urandom(12).hex()


Role = Literal["system", "user", "assistant", "tool", "developer"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error", "cancelled"]


class FunctionCall(BaseModel):
    name: str
    arguments: str = ""  # JSON text, as OpenAI sends it


class ToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Role
    content: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    images: list[str] | None = None  # base64, Ollama style


class ToolSpec(BaseModel):
    """A tool the model may call; `function` is passed through as the client sent it."""

    model_config = ConfigDict(extra="allow")

    type: Literal["function"] = "function"
    function: dict[str, Any] = Field(default_factory=dict)


@dataclass(slots=True)
class ChatRequest:
    """One chat call, already resolved to a backend's own model name (`target`)."""

    target: str
    messages: list[ChatMessage]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    json_mode: bool = False
    tools: list[ToolSpec] | None = None
    tool_choice: str | dict[str, Any] | None = None


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class Timings:
    """Nanosecond durations as Ollama reports them (zero when the backend doesn't say)."""

    load_ns: int = 0
    prompt_eval_ns: int = 0
    eval_ns: int = 0


@dataclass(slots=True)
class ChatResult:
    content: str
    finish_reason: FinishReason
    usage: Usage
    tool_calls: list[ToolCall] | None = None
    timings: Timings = field(default_factory=Timings)


@dataclass(slots=True)
class ChatDelta:
    """One streamed piece. The last delta of a stream has `finish_reason` and `usage`."""

    content: str = ""
    tool_calls: list[ToolCall] | None = None
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    timings: Timings | None = None


@dataclass(slots=True)
class EmbeddingResult:
    """Rows of float32 vectors (a NumPy matrix) and the tokens the inputs took."""

    vectors: Any
    prompt_tokens: int


@dataclass(slots=True)
class ModelInfo:
    """What a backend says about one of its models."""

    name: str
    size: int = 0
    family: str = ""
    parameter_size: str = ""
    quantization: str = ""
    context_size: int = 0
    digest: str = ""
    modified_at: str = ""
