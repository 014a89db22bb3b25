"""Fake Ollama and OpenAI-compatible upstreams. Each records what it was asked and can be
told to fail: answer 500, stall, or cut a stream."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class UpstreamBehaviour:
    """What the fake does; tests change it between calls."""

    words: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " upstream"])
    fail_status: int | None = None
    stall_seconds: float = 0.0
    cut_after: int | None = None  # chunks sent before the connection is dropped


@dataclass
class RecordedCall:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


class FakeUpstream:
    def __init__(self) -> None:
        self.behaviour = UpstreamBehaviour()
        self.calls: list[RecordedCall] = []

    async def _record(self, request: web.Request) -> dict[str, Any]:
        body: dict[str, Any] = await request.json() if request.can_read_body else {}
        self.calls.append(RecordedCall(request.path, body, dict(request.headers)))
        if self.behaviour.stall_seconds:
            await asyncio.sleep(self.behaviour.stall_seconds)
        return body

    def _failure(self) -> web.Response | None:
        status = self.behaviour.fail_status
        if status is None:
            return None
        return web.json_response({"error": {"message": f"fake failure {status}"}}, status=status)

    async def _stream(self, request: web.Request, lines: list[bytes], content_type: str) -> Any:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        for index, line in enumerate(lines):
            if self.behaviour.cut_after is not None and index >= self.behaviour.cut_after:
                assert request.transport is not None
                request.transport.close()
                return response
            await response.write(line)
        await response.write_eof()
        return response


class FakeOpenAI(FakeUpstream):
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat)
        return app

    async def models(self, request: web.Request) -> web.Response:
        self.calls.append(RecordedCall(request.path, {}, dict(request.headers)))
        return self._failure() or web.json_response(
            {"object": "list", "data": [{"id": "gpt-fake", "object": "model"}]}
        )

    async def chat(self, request: web.Request) -> Any:
        body = await self._record(request)
        failure = self._failure()
        if failure is not None:
            return failure
        words = self.behaviour.words
        usage = {
            "prompt_tokens": 7,
            "completion_tokens": len(words),
            "total_tokens": 7 + len(words),
        }
        base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(words)}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return web.json_response(
                {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        chunk = {**base, "object": "chat.completion.chunk"}
        events = [{**chunk, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
        events += [
            {**chunk, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
            for w in words
        ]
        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        events.append({**chunk, "choices": [], "usage": usage})
        lines = [b"data: " + orjson.dumps(event) + b"\n\n" for event in events]
        return await self._stream(request, [*lines, b"data: [DONE]\n\n"], "text/event-stream")


class FakeOllama(FakeUpstream):
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/version", self.version)
        app.router.add_get("/api/tags", self.tags)
        app.router.add_post("/api/chat", self.chat)
        app.router.add_post("/api/show", self.show)
        return app

    async def version(self, request: web.Request) -> web.Response:
        return self._failure() or web.json_response({"version": "0.9.0"})

    async def tags(self, request: web.Request) -> web.Response:
        model = {"name": "llama3:8b", "model": "llama3:8b", "size": 123, "details": {}}
        return web.json_response({"models": [model]})

    async def show(self, request: web.Request) -> web.Response:
        await self._record(request)
        details = {"family": "llama", "parameter_size": "8B", "quantization_level": "Q4_0"}
        info = {"general.architecture": "llama", "llama.context_length": 8192}
        return web.json_response({"details": details, "model_info": info})

    async def chat(self, request: web.Request) -> Any:
        body = await self._record(request)
        failure = self._failure()
        if failure is not None:
            return failure
        words = self.behaviour.words
        final = {
            "model": body["model"],
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 9,
            "eval_count": len(words),
            "total_duration": 1000,
            "eval_duration": 500,
        }
        if not body.get("stream", True):
            message = {"role": "assistant", "content": "".join(words)}
            return web.json_response({**final, "message": message})
        lines = [
            orjson.dumps(
                {
                    "model": body["model"],
                    "message": {"role": "assistant", "content": w},
                    "done": False,
                }
            )
            + b"\n"
            for w in words
        ]
        empty = {"role": "assistant", "content": ""}
        lines.append(orjson.dumps({**final, "message": empty}) + b"\n")
        return await self._stream(request, lines, "application/x-ndjson")
