"""Request bodies of the Ollama-compatible routes (wire format)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from universal_ai_tools.llm.types import ChatMessage, FunctionCall, Role, ToolCall, ToolSpec


class Options(BaseModel):
    """Ollama's runtime options; the ones we do not use are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    num_predict: int | None = Field(default=None, ge=-2)
    stop: list[str] | None = None
    seed: int | None = None

    @property
    def max_tokens(self) -> int | None:
        """-1 (infinite) and -2 (fill the context) both mean: no limit of our own."""
        if self.num_predict is None or self.num_predict < 0:
            return None
        return self.num_predict or None


class OllamaToolFunction(BaseModel):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class OllamaToolCall(BaseModel):
    function: OllamaToolFunction


class OllamaMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Role
    content: str = ""
    images: list[str] | None = None
    tool_calls: list[OllamaToolCall] | None = None

    def to_message(self) -> ChatMessage:
        calls = [
            ToolCall(
                id=f"call_{index}",
                function=FunctionCall(
                    name=call.function.name,
                    arguments=orjson.dumps(call.function.arguments).decode(),
                ),
            )
            for index, call in enumerate(self.tool_calls or ())
        ]
        return ChatMessage(
            role=self.role, content=self.content, images=self.images, tool_calls=calls or None
        )


class _ModelRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(default="", max_length=256)
    name: str | None = Field(default=None, max_length=256)  # older clients say `name`

    @model_validator(mode="after")
    def _model_given(self) -> _ModelRequest:
        if not self.model and self.name:
            self.model = self.name
        if not self.model:
            raise ValueError("model is required")
        return self


class _GenerationRequest(_ModelRequest):
    stream: bool = True
    format: str | dict[str, Any] | None = None
    options: Options = Field(default_factory=Options)
    keep_alive: str | int | float | None = None

    @property
    def json_mode(self) -> bool:
        return self.format is not None and self.format != ""


class OllamaChatRequest(_GenerationRequest):
    messages: list[OllamaMessage] = Field(default_factory=list, max_length=10_000)
    tools: list[ToolSpec] | None = None


class OllamaGenerateRequest(_GenerationRequest):
    prompt: str = ""
    system: str | None = None
    suffix: str | None = None
    raw: bool = False
    images: list[str] | None = None

    def to_messages(self) -> list[ChatMessage]:
        messages = [ChatMessage(role="system", content=self.system)] if self.system else []
        messages.append(ChatMessage(role="user", content=self.prompt, images=self.images))
        return messages


class OllamaShowRequest(_ModelRequest):
    verbose: bool = False
