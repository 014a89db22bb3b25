"""Any OpenAI-compatible server: vLLM, llama.cpp server, LM Studio, OpenAI itself."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from universal_ai_tools.errors import BackendError
from universal_ai_tools.llm.hookspecs import hookimpl
from universal_ai_tools.llm.providers.base import Provider, RegisterProvider
from universal_ai_tools.llm.providers.http import HttpBackend, parse_json_line
from universal_ai_tools.llm.types import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    FinishReason,
    ModelInfo,
    ToolCall,
    Usage,
)
from universal_ai_tools.settings import BackendConfig, Settings

_FINISH_REASONS: set[str] = {"stop", "length", "tool_calls", "content_filter"}


class OpenAIProvider(HttpBackend):
    kind = "openai"

    def __init__(self, config: BackendConfig) -> None:
        headers: dict[str, str] = {}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env, "")
            if key:
                headers["Authorization"] = f"Bearer {key}"
        super().__init__(config, headers)

    async def chat(self, request: ChatRequest) -> ChatResult:
        body = await self.post_json("/chat/completions", _request_body(request, stream=False))
        try:
            choice = body["choices"][0]
            message = choice["message"]
            usage = body.get("usage") or {}
            return ChatResult(
                content=message.get("content") or "",
                tool_calls=_tool_calls(message.get("tool_calls")),
                finish_reason=_finish_reason(choice.get("finish_reason")),
                usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
            )
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise BackendError(f"backend {self.name!r} sent an unexpected answer") from exc

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        body = _request_body(request, stream=True)
        usage = Usage()
        finish: FinishReason | None = None
        tool_parts: dict[int, dict[str, Any]] = {}
        async with self.request("POST", "/chat/completions", body) as response:
            async for raw_line in response.content:
                line = raw_line.strip()
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    break
                chunk = parse_json_line(payload)
                if "error" in chunk:
                    raise BackendError(f"backend {self.name!r} failed mid-stream")
                if chunk.get("usage"):
                    usage = Usage(
                        chunk["usage"].get("prompt_tokens", 0),
                        chunk["usage"].get("completion_tokens", 0),
                    )
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    for part in delta.get("tool_calls") or ():
                        _merge_tool_call(tool_parts, part)
                    if choice.get("finish_reason"):
                        finish = _finish_reason(choice["finish_reason"])
                    if delta.get("content"):
                        yield ChatDelta(content=delta["content"])
        if finish is None:
            raise BackendError(f"backend {self.name!r} ended the stream without finishing")
        calls = [_tool_call_from_parts(p) for _, p in sorted(tool_parts.items())] or None
        yield ChatDelta(tool_calls=calls, finish_reason=finish, usage=usage)

    async def embed(self, target: str, inputs: list[str]) -> EmbeddingResult:
        body = await self.post_json("/embeddings", {"model": target, "input": inputs})
        try:
            rows = sorted(body["data"], key=lambda item: item["index"])
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
            tokens = int((body.get("usage") or {}).get("prompt_tokens", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise BackendError(f"backend {self.name!r} sent unexpected embeddings") from exc
        return EmbeddingResult(vectors=vectors, prompt_tokens=tokens)

    async def list_models(self) -> list[ModelInfo]:
        body = await self.get_json("/models")
        return [ModelInfo(name=str(item["id"])) for item in body.get("data", [])]

    async def model_info(self, target: str) -> ModelInfo:
        return ModelInfo(name=target)

    async def health(self) -> bool:
        try:
            await self.list_models()
        except Exception:  # any failure means unhealthy; the reason is not needed here
            return False
        return True


def _request_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.target,
        "messages": [m.model_dump(exclude_none=True, exclude={"images"}) for m in request.messages],
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    optional = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "seed": request.seed,
        "tool_choice": request.tool_choice,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    if request.stop:
        body["stop"] = request.stop
    if request.json_mode:
        body["response_format"] = {"type": "json_object"}
    if request.tools:
        body["tools"] = [tool.model_dump() for tool in request.tools]
    return body


def _finish_reason(value: object) -> FinishReason:
    if isinstance(value, str) and value in _FINISH_REASONS:
        return value  # type: ignore[return-value]
    return "stop"


def _tool_calls(raw: object) -> list[ToolCall] | None:
    if not isinstance(raw, list) or not raw:
        return None
    return [ToolCall.model_validate(item) for item in raw]


def _merge_tool_call(parts: dict[int, dict[str, Any]], delta: dict[str, Any]) -> None:
    """Streamed tool calls arrive in pieces keyed by `index`; glue them together."""
    part = parts.setdefault(int(delta.get("index", 0)), {"id": "", "name": "", "arguments": ""})
    part["id"] = delta.get("id") or part["id"]
    function = delta.get("function") or {}
    part["name"] += function.get("name") or ""
    part["arguments"] += function.get("arguments") or ""


def _tool_call_from_parts(part: dict[str, Any]) -> ToolCall:
    return ToolCall.model_validate(
        {"id": part["id"], "function": {"name": part["name"], "arguments": part["arguments"]}}
    )


def _create(config: BackendConfig, settings: Settings) -> Provider:
    return OpenAIProvider(config)


@hookimpl
def register_providers(register: RegisterProvider) -> None:
    register("openai", _create)
