"""Conversations: context rebuilt from storage, the prompt inspector, trimming, abandoned
streams, agents, feedback and isolation."""

from __future__ import annotations

import time

import httpx
import openai
import orjson
import pytest

from tests.conftest import login
from tests.servers import LiveServer


async def new_conversation(client: httpx.AsyncClient, **body: object) -> str:
    response = await client.post("/conversations", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def turn(client: httpx.AsyncClient, conversation: str, content: str, **extra: object) -> dict:
    body = {"content": content, "max_tokens": 8, "temperature": 0, **extra}
    response = await client.post(f"/conversations/{conversation}/chat", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_context_is_rebuilt_from_storage(client: httpx.AsyncClient) -> None:
    conversation = await new_conversation(client)
    first = await turn(client, conversation, "My cat is called Whiskers.")
    second = await turn(client, conversation, "What is my cat called?")
    prompt = (
        await client.get(f"/conversations/{conversation}/messages/{second['message']['id']}/prompt")
    ).json()
    assert prompt["backend"] == "embedded" and prompt["model"] == "smollm2"
    assert [(m["role"], m["content"]) for m in prompt["messages"]] == [
        ("user", "My cat is called Whiskers."),
        ("assistant", first["message"]["content"]),
        ("user", "What is my cat called?"),
    ]
    stored = (await client.get(f"/conversations/{conversation}/messages")).json()["data"]
    assert [m["role"] for m in stored] == ["user", "assistant", "user", "assistant"]
    answer = stored[1]
    assert answer["finish_reason"] in ("stop", "length") and answer["model"] == "smollm2"
    assert answer["completion_tokens"] > 0 and answer["latency_ms"] >= 0
    listed = (await client.get("/conversations")).json()["data"]
    assert listed[0]["id"] == conversation
    assert listed[0]["title"] == "My cat is called Whiskers."
    user_prompt = await client.get(
        f"/conversations/{conversation}/messages/{stored[0]['id']}/prompt"
    )
    assert user_prompt.status_code == 404


def test_abandoned_stream_is_stored_once_as_cancelled(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, headers=live_server.headers, timeout=60) as http:
        conversation = http.post("/conversations", json={}).json()["id"]
        body = {
            "content": "Write a very long story about a dragon.",
            "max_tokens": 1500,
            "temperature": 0,
            "stream": True,
        }
        with http.stream("POST", f"/conversations/{conversation}/chat", json=body) as response:
            assert response.status_code == 200
            received = 0
            for line in response.iter_lines():
                if line.startswith("data: ") and '"delta"' in line:
                    received += 1
                if received >= 5:
                    break
        # the client hung up after five tokens
        provider = live_server.app.state.registry.providers["embedded"]
        for _ in range(600):
            stored = http.get(f"/conversations/{conversation}/messages").json()["data"]
            if len(stored) == 2 and provider.queue_depth == 0:
                break
            time.sleep(0.05)
        assert [m["role"] for m in stored] == ["user", "assistant"]
        answer = stored[1]
        assert answer["finish_reason"] == "cancelled"
        assert answer["content"]  # what was generated before the client left


async def test_stream_on_our_route_ends_with_the_stored_message(client: httpx.AsyncClient) -> None:
    conversation = await new_conversation(client)
    response = await client.post(
        f"/conversations/{conversation}/chat",
        json={"content": "Say hello.", "max_tokens": 6, "temperature": 0, "stream": True},
    )
    events = [
        orjson.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]
    assert events[0]["type"] == "start" and events[-1]["type"] == "done"
    streamed = "".join(e["content"] for e in events if e["type"] == "delta")
    assert events[-1]["message"]["content"] == streamed
    assert events[-1]["message"]["id"] == response.headers["x-uait-message-id"]


async def test_rename_archive_search_export_delete(client: httpx.AsyncClient) -> None:
    conversation = await new_conversation(client, title="Trip planning")
    await turn(client, conversation, "Pack sunscreen for Lisbon.")
    other = await new_conversation(client, title="Recipes")
    found = (await client.get("/conversations", params={"q": "lisbon"})).json()["data"]
    assert [c["id"] for c in found] == [conversation]
    found = (await client.get("/conversations", params={"q": "recipe"})).json()["data"]
    assert [c["id"] for c in found] == [other]
    renamed = await client.patch(f"/conversations/{conversation}", json={"title": "Lisbon"})
    assert renamed.json()["title"] == "Lisbon"
    await client.patch(f"/conversations/{other}", json={"archived": True})
    assert [c["id"] for c in (await client.get("/conversations")).json()["data"]] == [conversation]
    archived = (await client.get("/conversations", params={"archived": True})).json()["data"]
    assert [c["id"] for c in archived] == [other]
    exported = await client.get(f"/conversations/{conversation}/export")
    assert exported.json()["messages"][0]["content"] == "Pack sunscreen for Lisbon."
    markdown = await client.get(
        f"/conversations/{conversation}/export", params={"format": "markdown"}
    )
    assert markdown.text.startswith("# Lisbon") and "## user" in markdown.text
    assert (await client.delete(f"/conversations/{conversation}")).status_code == 204
    assert (await client.get(f"/conversations/{conversation}")).status_code == 404


async def test_agents_crud_chat_and_model_name(client: httpx.AsyncClient) -> None:
    agent = (
        await client.post(
            "/agents",
            json={
                "name": "pirate",
                "system_prompt": "You are a pirate. Say arr.",
                "model": "smollm2",
                "max_tokens": 6,
                "temperature": 0,
            },
        )
    ).json()
    reply = await client.post(f"/agents/{agent['id']}/chat", json={"content": "Hello"})
    assert reply.status_code == 200
    conversation = reply.json()["conversation_id"]
    prompt = (
        await client.get(
            f"/conversations/{conversation}/messages/{reply.json()['message']['id']}/prompt"
        )
    ).json()
    assert prompt["messages"][0] == {"role": "system", "content": "You are a pirate. Say arr."}
    assert reply.json()["message"]["agent_id"] == agent["id"]
    as_model = await client.post(
        "/v1/chat/completions",
        json={"model": "agent:pirate", "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert as_model.status_code == 200 and as_model.json()["model"] == "agent:pirate"
    ollama_style = await client.post(
        "/api/chat",
        json={
            "model": "agent:pirate",
            "stream": False,
            "messages": [{"role": "user", "content": "Hi"}],
        },
    )
    assert ollama_style.status_code == 200 and ollama_style.json()["done"] is True
    updated = await client.patch(
        f"/agents/{agent['id']}", json={"description": "Talks like a pirate"}
    )
    assert updated.json()["description"] == "Talks like a pirate"
    assert [a["name"] for a in (await client.get("/agents")).json()["data"]] == ["pirate"]
    assert (await client.delete(f"/agents/{agent['id']}")).status_code == 204
    missing = await client.post(
        "/v1/chat/completions",
        json={"model": "agent:pirate", "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert missing.status_code == 404


def test_openai_client_with_the_conversation_header(live_server: LiveServer) -> None:
    http = httpx.Client(base_url=live_server.url, headers=live_server.headers, timeout=60)
    conversation = http.post("/conversations", json={}).json()["id"]
    client = openai.OpenAI(
        base_url=f"{live_server.url}/v1",
        api_key=live_server.key,
        default_headers={"X-UAIT-Conversation": conversation},
    )
    first = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "I like green tea."}],
        max_tokens=6,
        temperature=0,
    )
    streamed = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "What do I like?"}],
            max_tokens=6,
            temperature=0,
            stream=True,
        )
        if chunk.choices
    )
    stored = http.get(f"/conversations/{conversation}/messages").json()["data"]
    assert [m["content"] for m in stored] == [
        "I like green tea.",
        first.choices[0].message.content,
        "What do I like?",
        streamed,
    ]
    prompt = http.get(f"/conversations/{conversation}/messages/{stored[3]['id']}/prompt").json()
    assert [m["content"] for m in prompt["messages"]][:2] == [
        "I like green tea.",
        stored[1]["content"],
    ]


async def test_feedback_and_summary(client: httpx.AsyncClient) -> None:
    conversation = await new_conversation(client)
    answers = [
        (await turn(client, conversation, f"Question {i}?"))["message"]["id"] for i in range(3)
    ]
    given = [("up", 5), ("up", 4), ("down", 1)]
    for message_id, (thumb, rating) in zip(answers, given, strict=True):
        response = await client.post(
            "/feedback", json={"message_id": message_id, "thumb": thumb, "rating": rating}
        )
        assert response.status_code == 201
    comment = await client.post("/feedback", json={"message_id": answers[0], "comment": "nice"})
    assert comment.status_code == 201
    summary = (await client.get("/feedback/summary", params={"model": "smollm2"})).json()["data"]
    assert summary == [
        {
            "model": "smollm2",
            "agent_id": None,
            "up": 2,
            "down": 1,
            "ratings": 3,
            "average_rating": pytest.approx(10 / 3, abs=1e-3),
        }
    ]
    stored = (await client.get(f"/conversations/{conversation}/messages")).json()["data"]
    on_user = await client.post("/feedback", json={"message_id": stored[0]["id"], "thumb": "up"})
    assert on_user.status_code == 400
    bad = await client.post("/feedback", json={"message_id": answers[0], "rating": 9})
    assert bad.status_code == 400


async def test_isolation_between_users_and_organizations(client: httpx.AsyncClient) -> None:
    conversation = await new_conversation(client)
    answer = (await turn(client, conversation, "Secret plans."))["message"]["id"]
    await client.post("/users", json={"email": "peer@example.com", "password": "peer-pass-123"})
    await client.post(
        "/orgs",
        json={"name": "Other", "owner": {"email": "o@other.test", "password": "other-pass-1"}},
    )
    for email, password in (
        ("peer@example.com", "peer-pass-123"),
        ("o@other.test", "other-pass-1"),
    ):
        token = await login(client, email, password)
        headers = {"Authorization": f"Bearer {token}"}
        for method, path, body in [
            ("GET", f"/conversations/{conversation}", None),
            ("PATCH", f"/conversations/{conversation}", {"title": "mine"}),
            ("DELETE", f"/conversations/{conversation}", None),
            ("GET", f"/conversations/{conversation}/messages", None),
            ("GET", f"/conversations/{conversation}/export", None),
            ("GET", f"/conversations/{conversation}/messages/{answer}/prompt", None),
            ("POST", f"/conversations/{conversation}/chat", {"content": "hi"}),
            ("POST", "/feedback", {"message_id": answer, "thumb": "down"}),
        ]:
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 404, (email, method, path, response.text)
        via_header = await client.post(
            "/v1/chat/completions",
            json={"model": "smollm2", "messages": [{"role": "user", "content": "hi"}]},
            headers={**headers, "X-UAIT-Conversation": conversation},
        )
        assert via_header.status_code == 404
        assert (await client.get("/conversations", headers=headers)).json()["data"] == []
        searched = await client.get("/conversations", params={"q": "Secret"}, headers=headers)
        assert searched.json()["data"] == []
    owner_view = (await client.get(f"/conversations/{conversation}/messages")).json()["data"]
    assert len(owner_view) == 2  # nothing was added or removed by the others


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/conversations/nope/chat", {"content": "hi"}, 404),
        ("POST", "/conversations", {"model": "no-such-model"}, 400),
        ("POST", "/conversations", {"agent_id": "nope"}, 404),
        ("POST", "/agents", {"name": "x", "system_prompt": "s", "model": "no-such-model"}, 400),
        ("POST", "/agents", {"name": "x", "system_prompt": "s", "model": "all-minilm"}, 400),
        ("POST", "/agents", {"name": "bad name!", "system_prompt": "s", "model": "smollm2"}, 400),
        ("POST", "/feedback", {"message_id": "nope", "thumb": "up"}, 404),
    ],
)
async def test_bad_input(
    client: httpx.AsyncClient, method: str, path: str, body: object, status: int
) -> None:
    response = await client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) - {"trace_id"} == {"message", "type", "code"}


async def test_empty_and_huge_turns_are_400(client: httpx.AsyncClient) -> None:
    conversation = await new_conversation(client)
    for content in ("", "x" * 1_000_001):
        response = await client.post(
            f"/conversations/{conversation}/chat", json={"content": content}
        )
        assert response.status_code in (400, 413), response.text


async def test_search_takes_percent_and_underscore_literally(client: httpx.AsyncClient) -> None:
    for title in ("100% sure", "1000 things", "snake_case", "snakes cases"):
        assert (await client.post("/conversations", json={"title": title})).status_code == 201

    async def titles(**params: str) -> list[str]:
        response = await client.get("/conversations", params=params)
        assert response.status_code == 200, response.text
        return sorted(c["title"] for c in response.json()["data"])

    assert await titles(q="100%") == ["100% sure"]
    assert await titles(q="snake_") == ["snake_case"]
    assert await titles(q="SURE") == ["100% sure"]
    assert len(await titles(before="2999-01-01T00:00:00")) == 4  # no zone: UTC
