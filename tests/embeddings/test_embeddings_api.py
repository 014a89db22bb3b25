"""`/v1/embeddings` and `/api/embed` on the embedded all-MiniLM-L6-v2, through the official
clients, against sentence-transformers' reference vectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import numpy as np
import ollama
import openai
import pytest

from tests.servers import LiveServer

REFERENCE = json.loads(
    (Path(__file__).parent.parent / "fixtures/minilm_reference.json").read_text()
)


def test_openai_client_matches_reference(live_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=live_server.key)
    cases = REFERENCE["cases"]
    response = client.embeddings.create(model="all-minilm", input=[c["text"] for c in cases])
    assert response.model == "all-minilm"
    assert [item.index for item in response.data] == list(range(len(cases)))
    for item, case in zip(response.data, cases, strict=True):
        difference = np.abs(np.asarray(item.embedding) - np.asarray(case["vector"])).max()
        assert difference < 1e-4, case["text"]
    assert response.usage.prompt_tokens == sum(c["tokens"] for c in cases)
    alias = client.embeddings.create(model="all-MiniLM-L6-v2", input=cases[0]["text"])
    assert np.allclose(alias.data[0].embedding, response.data[0].embedding, atol=1e-6)


def test_base64_and_dimensions(live_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=live_server.key)
    floats = client.embeddings.create(model="all-minilm", input="hello there")
    raw = httpx.post(
        f"{live_server.url}/v1/embeddings",
        json={"model": "all-minilm", "input": "hello there", "encoding_format": "base64"},
        headers=live_server.headers,
    ).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, floats.data[0].embedding, atol=1e-7)
    short = client.embeddings.create(model="all-minilm", input="hello there", dimensions=128)
    vector = np.asarray(short.data[0].embedding)
    assert vector.shape == (128,) and abs(np.linalg.norm(vector) - 1) < 1e-5


def test_ollama_client_embed(live_server: LiveServer) -> None:
    client = ollama.Client(host=live_server.url, headers=live_server.headers)
    cases = REFERENCE["cases"][:3]
    response = client.embed(model="all-minilm", input=[c["text"] for c in cases])
    assert len(response.embeddings) == 3
    for vector, case in zip(response.embeddings, cases, strict=True):
        assert np.abs(np.asarray(vector) - np.asarray(case["vector"])).max() < 1e-4
    assert response.prompt_eval_count == sum(c["tokens"] for c in cases)
    single = client.embed(model="all-minilm", input=cases[0]["text"])
    assert np.allclose(single.embeddings[0], response.embeddings[0], atol=1e-5)
    legacy = client.embeddings(model="all-minilm", prompt=cases[0]["text"])
    assert np.allclose(legacy.embedding, response.embeddings[0], atol=1e-5)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"input": ""}, "input[0] is empty"),
        ({"input": []}, "must not be empty"),
        ({"input": ["a"] * 10_000}, "at most 2048 inputs"),
        ({"input": "x" * 1_000_000}, "the limit is 100000"),
        ({"input": ["fine", 7]}, "input"),
        ({"input": [[1, 2, 3]]}, "token arrays are not supported"),
        ({"input": "hi", "dimensions": 1000}, "dimensions must be at most 384"),
        ({"input": "hi", "encoding_format": "hex"}, "encoding_format"),
        ({"input": "hi", "model": "smollm2"}, "is a chat model"),
    ],
)
async def test_bad_embedding_input_is_400(
    client: httpx.AsyncClient, payload: dict[str, object], expected: str
) -> None:
    response = await client.post("/v1/embeddings", json={"model": "all-minilm", **payload})
    assert response.status_code == 400, response.text
    assert expected in response.json()["error"]["message"]


async def test_kinds_are_not_mixed(client: httpx.AsyncClient) -> None:
    chat = {"model": "all-minilm", "messages": [{"role": "user", "content": "hi"}]}
    response = await client.post("/v1/chat/completions", json=chat)
    assert response.status_code == 400
    assert "embedding model" in response.json()["error"]["message"]
    response = await client.post("/api/embed", json={"model": "nope", "input": "x"})
    assert response.status_code == 404 and "nope" in response.json()["error"]
    response = await client.post("/api/embed", json={"model": "all-minilm", "input": [""]})
    assert response.status_code == 400 and "empty" in response.json()["error"]
