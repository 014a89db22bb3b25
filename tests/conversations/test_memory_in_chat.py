"""Long-term memory through chat: learned in one conversation, used in the next, forgotten
when deleted, and only for conversations and agents with memory on."""

from __future__ import annotations

import httpx


async def chat_in(client: httpx.AsyncClient, conversation: str, content: str) -> dict:
    response = await client.post(
        f"/conversations/{conversation}/chat",
        json={"content": content, "max_tokens": 6, "temperature": 0},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def system_prompt_of(client: httpx.AsyncClient, conversation: str, message_id: str) -> str:
    prompt = (
        await client.get(f"/conversations/{conversation}/messages/{message_id}/prompt")
    ).json()
    systems = [m["content"] for m in prompt["messages"] if m["role"] == "system"]
    return "\n".join(systems)


async def test_remembered_in_a_then_used_in_b_then_forgotten(client: httpx.AsyncClient) -> None:
    a = (await client.post("/conversations", json={})).json()["id"]
    await chat_in(client, a, "Remember that my favourite colour is teal.")
    memories = (await client.get("/memories")).json()["data"]
    assert [m["content"] for m in memories] == ["The user's favourite colour is teal"]

    b = (await client.post("/conversations", json={})).json()["id"]
    answer = await chat_in(client, b, "What is my favourite colour?")
    assert "teal" in await system_prompt_of(client, b, answer["message"]["id"])

    assert (await client.delete(f"/memories/{memories[0]['id']}")).status_code == 204
    c = (await client.post("/conversations", json={})).json()["id"]
    answer = await chat_in(client, c, "What is my favourite colour?")
    assert "teal" not in await system_prompt_of(client, c, answer["message"]["id"])


async def test_memory_off_and_agents(client: httpx.AsyncClient) -> None:
    await client.post("/memories", json={"content": "The user lives in Lisbon"})
    off = (await client.post("/conversations", json={"memory": False})).json()["id"]
    answer = await chat_in(client, off, "Where do I live?")
    assert "Lisbon" not in await system_prompt_of(client, off, answer["message"]["id"])

    for memory, expected in ((True, True), (False, False)):
        agent = (
            await client.post(
                "/agents",
                json={
                    "name": f"guide-{memory}",
                    "system_prompt": "You are a guide.",
                    "model": "smollm2",
                    "memory": memory,
                    "max_tokens": 5,
                },
            )
        ).json()
        reply = (
            await client.post(f"/agents/{agent['id']}/chat", json={"content": "Where do I live?"})
        ).json()
        system = await system_prompt_of(client, reply["conversation_id"], reply["message"]["id"])
        assert system.startswith("You are a guide.")
        assert ("Lisbon" in system) is expected


async def test_another_users_memories_are_never_context(client: httpx.AsyncClient) -> None:
    await client.post("/memories", json={"content": "The user's password hint is blue whale"})
    await client.post("/users", json={"email": "peer@example.com", "password": "peer-pass-123"})
    login = await client.post(
        "/auth/login", json={"email": "peer@example.com", "password": "peer-pass-123"}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    conversation = (await client.post("/conversations", json={}, headers=headers)).json()["id"]
    reply = await client.post(
        f"/conversations/{conversation}/chat",
        json={"content": "What is my password hint?", "max_tokens": 5},
        headers=headers,
    )
    prompt = await client.get(
        f"/conversations/{conversation}/messages/{reply.json()['message']['id']}/prompt",
        headers=headers,
    )
    assert "blue whale" not in prompt.text
