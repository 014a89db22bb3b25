"""Done-when 5: identical concurrent deterministic requests (temperature 0 or a fixed seed)
share one backend call, streaming or not, and every client gets the whole answer; a
client that joins a stream late still gets it from the start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from tests.routing.conftest import StartUpstream, backend, chat, client, model
from tests.servers import LiveServer

Routed = Callable[..., LiveServer]
ANSWER = "Hello from the upstream"


async def test_twenty_identical_requests_reach_the_upstream_once(
    routed: Routed, upstream: StartUpstream
) -> None:
    up = upstream("openai")
    up.fake.behaviour.stall_seconds = 1.0  # the first call is still running when all arrive
    server = routed(backend("up", up) + model("m", backend="up", target="t"))
    body = chat("m", "What is the capital of France?", temperature=0)
    async with client(server) as http:
        answers = await asyncio.gather(
            *(http.post("/v1/chat/completions", json=body) for _ in range(20))
        )
    assert [a.status_code for a in answers] == [200] * 20
    assert {a.json()["choices"][0]["message"]["content"] for a in answers} == {ANSWER}
    assert len(up.chats()) == 1
    routes = [a.headers["X-UAIT-Route"] for a in answers]
    assert routes.count("m (requested)") == 1 and routes.count("m (requested; coalesced)") == 19


async def test_a_fixed_seed_coalesces_in_the_ollama_format_too(
    routed: Routed, upstream: StartUpstream
) -> None:
    up = upstream("ollama")
    up.fake.behaviour.stall_seconds = 1.0
    server = routed(backend("up", up) + model("m", backend="up", target="t"))
    body = chat("m", "Pick a number", stream=False, options={"temperature": 0.9, "seed": 7})
    async with client(server) as http:
        answers = await asyncio.gather(*(http.post("/api/chat", json=body) for _ in range(8)))
    assert {a.json()["message"]["content"] for a in answers} == {ANSWER}
    assert len(up.chats()) == 1


async def test_sampled_requests_are_not_coalesced(routed: Routed, upstream: StartUpstream) -> None:
    up = upstream("openai")
    up.fake.behaviour.stall_seconds = 0.5
    server = routed(backend("up", up) + model("m", backend="up", target="t"))
    body = chat("m", "Tell me a story", temperature=0.8)
    async with client(server) as http:
        answers = await asyncio.gather(
            *(http.post("/v1/chat/completions", json=body) for _ in range(3))
        )
    assert [a.status_code for a in answers] == [200] * 3
    assert len(up.chats()) == 3


async def _read_stream(http: httpx.AsyncClient, body: dict[str, Any], first: asyncio.Event) -> str:
    parts: list[str] = []
    async with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            event = orjson.loads(line[6:])
            for choice in event.get("choices") or ():
                if choice["delta"].get("content"):
                    parts.append(choice["delta"]["content"])
                    first.set()
    return "".join(parts)


async def test_streams_are_shared_and_late_joiners_get_the_whole_stream(
    routed: Routed, upstream: StartUpstream
) -> None:
    up = upstream("openai")
    words = [f"w{i} " for i in range(8)]
    up.fake.behaviour.words = words
    up.fake.behaviour.chunk_delay = 0.2
    server = routed(backend("up", up) + model("m", backend="up", target="t"))
    body = chat("m", "Count slowly", temperature=0, stream=True)
    first = asyncio.Event()
    async with client(server) as http:
        early = [asyncio.create_task(_read_stream(http, body, first)) for _ in range(10)]
        await asyncio.wait_for(first.wait(), 30)  # the shared stream has started
        late = [asyncio.create_task(_read_stream(http, body, asyncio.Event())) for _ in range(10)]
        texts = await asyncio.gather(*early, *late)
    assert texts == ["".join(words)] * 20
    assert len(up.chats()) == 1
