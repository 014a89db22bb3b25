"""The response cache in front of the chat routes: what hits, what must miss, streaming
replays, bypass headers, and the admin API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import ollama
import openai
import orjson
import pytest

from tests.conftest import OWNER_EMAIL, SettingsFactory, login
from tests.fakes import FakeOpenAI
from tests.servers import LiveServer
from universal_ai_tools.app import create_app

QUESTION = "What is the capital of France?"


def chat(content: str = QUESTION, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 12,
        "temperature": 0,
    }
    return {**body, **extra}


async def ask(
    client: httpx.AsyncClient, body: dict[str, object], **headers: str
) -> tuple[str, str]:
    response = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["x-uait-cache"], response.json()["choices"][0]["message"]["content"]


@pytest.fixture
async def cached(
    make_settings: SettingsFactory, fake_openai: tuple[FakeOpenAI, str]
) -> AsyncIterator[httpx.AsyncClient]:
    toml = f"""
[[backends]]
name = "remote"
kind = "openai"
url = "{fake_openai[1]}/v1"

[[models]]
name = "other"
backend = "remote"
target = "gpt-fake"
"""
    app = create_app(make_settings(toml=toml))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            token = await login(client, OWNER_EMAIL, "owner-password-123")
            client.headers["Authorization"] = f"Bearer {token}"
            yield client


async def test_identical_then_paraphrase(cached: httpx.AsyncClient) -> None:
    status, first = await ask(cached, chat())
    assert status == "miss"
    assert await ask(cached, chat()) == ("hit", first)
    assert await ask(cached, chat("  What is the capital   of France? ")) == ("hit", first)
    assert await ask(cached, chat("What is the capital city of France?")) == ("semantic-hit", first)
    status, _ = await ask(cached, chat("What is the capital of Germany?"))
    assert status == "miss"


async def test_what_must_miss(cached: httpx.AsyncClient) -> None:
    await ask(cached, chat())
    system = [{"role": "system", "content": "Answer in French."}]
    history = [
        {"role": "user", "content": "Let's talk about Italy."},
        {"role": "assistant", "content": "Sure."},
    ]
    variants = {
        "another model": chat(model="other"),
        "another system prompt": chat(messages=[*system, {"role": "user", "content": QUESTION}]),
        "another max_tokens": chat(max_tokens=13),
        "another conversation": chat(messages=[*history, {"role": "user", "content": QUESTION}]),
        "another stop": chat(stop=["."]),
    }
    for name, body in variants.items():
        status, _ = await ask(cached, body)
        assert status == "miss", name

    # the same question from another organization
    created = await cached.post(
        "/orgs",
        json={"name": "Acme", "owner": {"email": "boss@acme.test", "password": "acme-password-1"}},
    )
    assert created.status_code == 201, created.text
    other = await login(cached, "boss@acme.test", "acme-password-1")
    status, _ = await ask(cached, chat(), Authorization=f"Bearer {other}")
    assert status == "miss"
    status, _ = await ask(cached, chat(), Authorization=f"Bearer {other}")
    assert status == "hit"


async def test_bypass_rules(cached: httpx.AsyncClient) -> None:
    assert (await ask(cached, chat(temperature=0.7)))[0] == "bypass"
    body = chat()
    del body["temperature"]  # the backend's default temperature samples
    assert (await ask(cached, body))[0] == "bypass"
    assert (await ask(cached, chat(), **{"Cache-Control": "no-store"}))[0] == "bypass"
    assert (await ask(cached, chat()))[0] == "miss"  # no-store kept nothing
    assert (await ask(cached, chat(), **{"Cache-Control": "no-cache"}))[0] == "bypass"
    assert (await ask(cached, chat()))[0] == "hit"


async def test_ollama_routes_share_the_cache(cached: httpx.AsyncClient) -> None:
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": QUESTION}],
        "options": {"temperature": 0, "num_predict": 12},
        "stream": False,
    }
    first = await cached.post("/api/chat", json=body)
    assert first.headers["x-uait-cache"] == "miss"
    second = await cached.post("/api/chat", json=body)
    assert second.headers["x-uait-cache"] == "hit"
    assert second.json()["message"]["content"] == first.json()["message"]["content"]
    status, content = await ask(cached, chat())
    assert (status, content) == ("hit", first.json()["message"]["content"])


async def test_admin_api_inspect_delete_flush(cached: httpx.AsyncClient) -> None:
    _, answer = await ask(cached, chat())
    await ask(cached, chat("Name a colour."))
    listed = (await cached.get("/cache/entries")).json()
    assert [e["prompt"] for e in listed["data"]] == ["Name a colour.", QUESTION]
    entry = listed["data"][1]
    inspected = (await cached.get(f"/cache/entries/{entry['id']}")).json()
    assert inspected["answer"] == answer and inspected["model"] == "smollm2"
    stats = (await cached.get("/cache/stats")).json()
    assert stats["entries"] == 2
    assert (await cached.delete(f"/cache/entries/{entry['id']}")).status_code == 204
    assert (await cached.get(f"/cache/entries/{entry['id']}")).status_code == 404
    assert (await ask(cached, chat()))[0] == "miss"
    flushed = (await cached.delete("/cache/entries", params={"model": "smollm2"})).json()
    assert flushed == {"deleted": 2}
    assert (await cached.get("/cache/entries")).json()["data"] == []


async def test_members_cannot_manage_the_cache(cached: httpx.AsyncClient) -> None:
    created = await cached.post(
        "/users", json={"email": "mem@example.com", "password": "member-pass-1", "role": "member"}
    )
    assert created.status_code == 201
    member = await login(cached, "mem@example.com", "member-pass-1")
    response = await cached.get("/cache/entries", headers={"Authorization": f"Bearer {member}"})
    assert response.status_code == 403


def test_stream_hits_are_valid_streams_for_both_clients(live_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=live_server.key)
    messages = [{"role": "user", "content": "Tell me about the moon."}]

    def stream_once() -> tuple[str, list[object]]:
        chunks = list(
            client.chat.completions.create(
                model="smollm2",
                messages=messages,  # type: ignore[arg-type]
                max_tokens=16,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return text, chunks

    first, _ = stream_once()
    replayed, chunks = stream_once()
    assert replayed == first
    assert chunks[-1].usage is not None and chunks[-1].choices == []  # type: ignore[attr-defined]
    raw = httpx.post(
        f"{live_server.url}/v1/chat/completions",
        json={
            "model": "smollm2",
            "messages": messages,
            "max_tokens": 16,
            "temperature": 0,
            "stream": True,
        },
        headers=live_server.headers,
    )
    assert raw.headers["x-uait-cache"] == "hit"
    assert raw.text.endswith("data: [DONE]\n\n")
    finishes = [
        orjson.loads(line[6:])["choices"][0]["finish_reason"]
        for line in raw.text.splitlines()
        if line.startswith("data: {")
    ]
    assert finishes[-1] in ("stop", "length") and finishes.count(None) == len(finishes) - 1

    ollama_client = ollama.Client(host=live_server.url, headers=live_server.headers)
    ask_ollama = {
        "model": "smollm2",
        "messages": messages,
        "options": {"temperature": 0, "num_predict": 16},
    }
    whole = ollama_client.chat(**ask_ollama)  # type: ignore[arg-type]
    parts = list(ollama_client.chat(**ask_ollama, stream=True))  # type: ignore[arg-type]
    assert "".join(p.message.content or "" for p in parts) == whole.message.content
    assert parts[-1].done and parts[-1].eval_count == whole.eval_count
