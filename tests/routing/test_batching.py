"""Embedding requests to a remote backend that arrive within the batching window go to it
as one call, and each request gets its own rows back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.fakes import FakeUpstream
from tests.routing.conftest import StartUpstream, backend, client, model
from tests.servers import LiveServer

Routed = Callable[..., LiveServer]


def embed_calls(fake: FakeUpstream) -> list[list[str]]:
    return [c.body["input"] for c in fake.calls if c.path in ("/v1/embeddings", "/api/embed")]


@pytest.mark.parametrize("kind", ["openai", "ollama"])
async def test_concurrent_embeddings_become_one_backend_call(
    routed: Routed, upstream: StartUpstream, kind: str
) -> None:
    up = upstream(kind)
    server = routed(
        backend("up", up) + model("emb", backend="up", target="e", kind="embedding"),
        embed_batch_window=0.5,  # wide, so that every request of the burst is in time
    )
    inputs = [[f"text number {i}"] if i % 3 else [f"first {i}", f"second {i}"] for i in range(10)]
    async with client(server) as http:
        answers = await asyncio.gather(
            *(http.post("/v1/embeddings", json={"model": "emb", "input": i}) for i in inputs[:5]),
            *(http.post("/api/embed", json={"model": "emb", "input": i}) for i in inputs[5:]),
        )
    assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
    calls = embed_calls(up.fake)
    assert len(calls) == 1 and sorted(calls[0]) == sorted(t for i in inputs for t in i)
    for texts, answer in zip(inputs, answers, strict=True):
        body = answer.json()
        rows = [d["embedding"] for d in body["data"]] if "data" in body else body["embeddings"]
        assert rows == [FakeUpstream._vector(text) for text in texts]


async def test_without_a_window_each_request_is_its_own_call(
    routed: Routed, upstream: StartUpstream
) -> None:
    up = upstream("openai")
    server = routed(
        backend("up", up) + model("emb", backend="up", target="e", kind="embedding"),
        embed_batch_window=0,
    )
    async with client(server) as http:
        answers = await asyncio.gather(
            *(
                http.post("/v1/embeddings", json={"model": "emb", "input": f"t{i}"})
                for i in range(4)
            )
        )
    assert [a.status_code for a in answers] == [200] * 4
    assert len(embed_calls(up.fake)) == 4
