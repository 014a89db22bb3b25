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
    fail_times: int | None = None  # fail only the first N chat/embedding calls (None: all)
    fail_message: str | None = None  # the error message (default "fake failure <status>")
    retry_after: str | None = None  # a Retry-After header on failures
    stall_times: int | None = None  # stall only the first N chat/embedding calls
    chunk_delay: float = 0.0  # seconds between streamed chunks


@dataclass
class RecordedCall:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


class FakeUpstream:
    def __init__(self) -> None:
        self.behaviour = UpstreamBehaviour()
        self.calls: list[RecordedCall] = []
        self.failed = 0  # failures answered so far (counted against `fail_times`)
        self.stalled = 0  # stalls so far (counted against `stall_times`)

    def chat_calls(self) -> list[RecordedCall]:
        return [c for c in self.calls if c.path.endswith(("/chat/completions", "/api/chat"))]

    async def _record(self, request: web.Request) -> dict[str, Any]:
        body: dict[str, Any] = await request.json() if request.can_read_body else {}
        self.calls.append(RecordedCall(request.path, body, dict(request.headers)))
        behaviour = self.behaviour
        if behaviour.stall_seconds and (
            behaviour.stall_times is None or self.stalled < behaviour.stall_times
        ):
            self.stalled += 1
            await asyncio.sleep(behaviour.stall_seconds)
        return body

    def _failure(self, *, counted: bool = False) -> web.Response | None:
        status = self.behaviour.fail_status
        if status is None:
            return None
        if self.behaviour.fail_times is not None:
            if self.failed >= self.behaviour.fail_times:
                return None
            if counted:
                self.failed += 1
        message = self.behaviour.fail_message or f"fake failure {status}"
        headers = {"Retry-After": self.behaviour.retry_after} if self.behaviour.retry_after else {}
        return web.json_response({"error": {"message": message}}, status=status, headers=headers)

    async def _stream(self, request: web.Request, lines: list[bytes], content_type: str) -> Any:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        for index, line in enumerate(lines):
            if self.behaviour.cut_after is not None and index >= self.behaviour.cut_after:
                assert request.transport is not None
                request.transport.close()
                return response
            await response.write(line)
            if self.behaviour.chunk_delay:
                await asyncio.sleep(self.behaviour.chunk_delay)
        await response.write_eof()
        return response

    @staticmethod
    def _vector(text: str) -> list[float]:
        """A deterministic stand-in embedding: tells the tests which input a row is for."""
        return [float(len(text)), float(sum(map(ord, text)) % 997), 1.0]


class FakeOpenAI(FakeUpstream):
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/embeddings", self.embeddings)
        return app

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        failure = self._failure(counted=True)
        if failure is not None:
            return failure
        inputs = [body["input"]] if isinstance(body["input"], str) else body["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": self._vector(text)}
            for i, text in enumerate(inputs)
        ]
        tokens = sum(len(text.split()) for text in inputs)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return web.json_response({"object": "list", "data": data, "usage": usage})

    async def models(self, request: web.Request) -> web.Response:
        self.calls.append(RecordedCall(request.path, {}, dict(request.headers)))
        return self._failure() or web.json_response(
            {"object": "list", "data": [{"id": "gpt-fake", "object": "model"}]}
        )

    async def chat(self, request: web.Request) -> Any:
        body = await self._record(request)
        failure = self._failure(counted=True)
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
        app.router.add_post("/api/embed", self.embed)
        return app

    async def embed(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        failure = self._failure(counted=True)
        if failure is not None:
            return failure
        inputs = [body["input"]] if isinstance(body["input"], str) else body["input"]
        count = sum(len(text.split()) for text in inputs)
        return web.json_response(
            {
                "model": body["model"],
                "embeddings": [self._vector(text) for text in inputs],
                "prompt_eval_count": count,
            }
        )

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
        failure = self._failure(counted=True)
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
