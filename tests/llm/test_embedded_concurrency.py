"""The embedded model under concurrent and abandoned streams, over real sockets."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson

from tests.servers import LiveServer
from universal_ai_tools.llm.providers.embedded import EmbeddedProvider


def embedded_provider(server: LiveServer) -> EmbeddedProvider:
    provider = server.app.state.registry.providers["embedded"]
    assert isinstance(provider, EmbeddedProvider)
    return provider


def wait_until(condition: object, limit: float = 60.0) -> None:
    """Poll a condition (bounded); the assertion after it says what was expected."""
    deadline = time.monotonic() + limit
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)


def stream_body(content: str, max_tokens: int) -> dict[str, object]:
    return {
        "model": "smollm2",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
    }


def test_disconnect_mid_stream_stops_generation(live_server: LiveServer) -> None:
    provider = embedded_provider(live_server)
    long_story = stream_body("Write a very long story about the sea.", 1900)
    with (
        httpx.Client(base_url=live_server.url, timeout=30, headers=live_server.headers) as client,
        client.stream("POST", "/v1/chat/completions", json=long_story) as response,
    ):
        lines = response.iter_lines()
        received = [line for _, line in zip(range(8), lines, strict=False) if line]
        assert received[0].startswith("data: ")
        # the connection is closed here, a few tokens into a 1900-token answer
    wait_until(lambda: provider.generations_cancelled == 1 and provider.queue_depth == 0)
    assert provider.generations_cancelled == 1
    assert provider.queue_depth == 0
    with httpx.Client(base_url=live_server.url, timeout=60, headers=live_server.headers) as client:
        answer = client.post(
            "/v1/chat/completions", json={**stream_body("Say hi.", 8), "stream": False}
        )
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["finish_reason"] in ("stop", "length")


def test_disconnect_while_queued_never_runs(live_server: LiveServer) -> None:
    provider = embedded_provider(live_server)

    async def scenario() -> None:
        async with httpx.AsyncClient(
            base_url=live_server.url, timeout=60, headers=live_server.headers
        ) as client:
            first = asyncio.create_task(
                client.post(
                    "/v1/chat/completions",
                    json={**stream_body("Count to 30.", 120), "stream": False},
                )
            )
            await asyncio.sleep(0.3)
            queued = asyncio.create_task(
                client.post("/v1/chat/completions", json={**stream_body("Hi", 50), "stream": False})
            )
            await asyncio.sleep(0.3)
            queued.cancel()  # the client gives up while the first request holds the model
            response = await first
            assert response.status_code == 200

    asyncio.run(scenario())
    wait_until(lambda: provider.queue_depth == 0 and provider.generations_cancelled == 1)
    assert provider.generations_cancelled == 1


def test_ten_concurrent_streams_all_complete(live_server: LiveServer) -> None:
    prompts = [f"Give one word that rhymes with {w}." for w in ("cat", "sun", "tree", "car", "hat")]
    bodies = [stream_body(prompts[i % 5], 12) for i in range(10)]

    async def one(client: httpx.AsyncClient, body: dict[str, object]) -> tuple[str, str]:
        text, finish = [], None
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            lines = [line async for line in response.aiter_lines() if line]
        assert lines[-1] == "data: [DONE]"
        for line in lines[:-1]:
            chunk = orjson.loads(line.removeprefix("data: "))
            choice = chunk["choices"][0]
            text.append(choice["delta"].get("content") or "")
            finish = choice["finish_reason"] or finish
        assert finish in ("stop", "length")
        return str(body["messages"][0]["content"]), "".join(text)  # type: ignore[index]

    async def all_of_them() -> list[tuple[str, str]]:
        async with httpx.AsyncClient(
            base_url=live_server.url, timeout=120, headers=live_server.headers
        ) as client:
            return await asyncio.gather(*(one(client, body) for body in bodies))

    results = asyncio.run(all_of_them())
    assert len(results) == 10
    by_prompt: dict[str, set[str]] = {}
    for prompt, text in results:
        assert text.strip()
        by_prompt.setdefault(prompt, set()).add(text)
    # temperature 0: the same prompt must give the same answer, whatever ran beside it
    assert all(len(answers) == 1 for answers in by_prompt.values()), by_prompt
