"""Any Ollama server, through its native API (`/api/chat`, `/api/tags`, `/api/show`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import orjson

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
    Timings,
    ToolCall,
    Usage,
)
from universal_ai_tools.settings import BackendConfig, Settings


class OllamaProvider(HttpBackend):
    kind = "ollama"

    async def chat(self, request: ChatRequest) -> ChatResult:
        body = await self.post_json("/api/chat", _request_body(request, stream=False))
        if not isinstance(body, dict) or "message" not in body:
            raise BackendError(f"backend {self.name!r} sent an unexpected answer")
        message = body["message"]
        calls = _tool_calls(message.get("tool_calls"))
        return ChatResult(
            content=message.get("content") or "",
            tool_calls=calls,
            finish_reason=_finish_reason(body.get("done_reason"), calls),
            usage=_usage(body),
            timings=_timings(body),
        )

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        body = _request_body(request, stream=True)
        async with self.request("POST", "/api/chat", body) as response:
            async for raw_line in response.content:
                line = raw_line.strip()
                if not line:
                    continue
                chunk = parse_json_line(line)
                if "error" in chunk:
                    raise BackendError(f"backend {self.name!r} failed: {chunk['error']}")
                message = chunk.get("message") or {}
                calls = _tool_calls(message.get("tool_calls"))
                if chunk.get("done"):
                    if message.get("content"):
                        yield ChatDelta(content=message["content"])
                    yield ChatDelta(
                        tool_calls=calls,
                        finish_reason=_finish_reason(chunk.get("done_reason"), calls),
                        usage=_usage(chunk),
                        timings=_timings(chunk),
                    )
                    return
                if message.get("content") or calls:
                    yield ChatDelta(content=message.get("content") or "", tool_calls=calls)
        raise BackendError(f"backend {self.name!r} ended the stream without finishing")

    async def embed(self, target: str, inputs: list[str]) -> EmbeddingResult:
        body = await self.post_json("/api/embed", {"model": target, "input": inputs})
        try:
            vectors = np.asarray(body["embeddings"], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise BackendError(f"backend {self.name!r} sent unexpected embeddings") from exc
        return EmbeddingResult(
            vectors=vectors, prompt_tokens=int(body.get("prompt_eval_count") or 0)
        )

    async def list_models(self) -> list[ModelInfo]:
        body = await self.get_json("/api/tags")
        return [_model_info(item) for item in body.get("models", [])]

    async def model_info(self, target: str) -> ModelInfo:
        body = await self.post_json("/api/show", {"model": target})
        info = _model_info({"name": target, **body})
        model_info = body.get("model_info") or {}
        for key, value in model_info.items():
            if key.endswith(".context_length") and isinstance(value, int):
                info.context_size = value
        return info

    async def health(self) -> bool:
        try:
            await self.get_json("/api/version")
        except Exception:  # any failure means unhealthy; the reason is not needed here
            return False
        return True


def _request_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, value in (
        ("temperature", request.temperature),
        ("top_p", request.top_p),
        ("num_predict", request.max_tokens),
        ("seed", request.seed),
    ):
        if value is not None:
            options[key] = value
    if request.stop:
        options["stop"] = request.stop
    body: dict[str, Any] = {
        "model": request.target,
        "messages": [_message(m) for m in request.messages],
        "stream": stream,
        "options": options,
    }
    if request.json_mode:
        body["format"] = "json"
    if request.tools:
        body["tools"] = [tool.model_dump() for tool in request.tools]
    return body


def _message(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content or ""}
    if message.images:
        out["images"] = message.images
    if message.tool_calls:
        out["tool_calls"] = [
            {"function": {"name": c.function.name, "arguments": _arguments(c.function.arguments)}}
            for c in message.tool_calls
        ]
    return out


def _arguments(text: str) -> Any:
    try:
        return orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {}


def _tool_calls(raw: object) -> list[ToolCall] | None:
    """Ollama sends arguments as an object and no id; OpenAI clients expect both as text."""
    if not isinstance(raw, list) or not raw:
        return None
    calls = []
    for item in raw:
        function = item.get("function") or {}
        calls.append(
            ToolCall.model_validate(
                {
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "function": {
                        "name": function.get("name", ""),
                        "arguments": orjson.dumps(function.get("arguments") or {}).decode(),
                    },
                }
            )
        )
    return calls


def _finish_reason(done_reason: object, calls: list[ToolCall] | None) -> FinishReason:
    if calls:
        return "tool_calls"
    return "length" if done_reason == "length" else "stop"


def _usage(body: dict[str, Any]) -> Usage:
    return Usage(int(body.get("prompt_eval_count") or 0), int(body.get("eval_count") or 0))


def _timings(body: dict[str, Any]) -> Timings:
    return Timings(
        load_ns=int(body.get("load_duration") or 0),
        prompt_eval_ns=int(body.get("prompt_eval_duration") or 0),
        eval_ns=int(body.get("eval_duration") or 0),
    )


def _model_info(item: dict[str, Any]) -> ModelInfo:
    details = item.get("details") or {}
    return ModelInfo(
        name=str(item.get("name") or item.get("model") or ""),
        size=int(item.get("size") or 0),
        family=str(details.get("family") or ""),
        parameter_size=str(details.get("parameter_size") or ""),
        quantization=str(details.get("quantization_level") or ""),
        digest=str(item.get("digest") or ""),
        modified_at=str(item.get("modified_at") or ""),
    )


def _create(config: BackendConfig, settings: Settings) -> Provider:
    return OllamaProvider(config)


@hookimpl
def register_providers(register: RegisterProvider) -> None:
    register("ollama", _create)
